"""The File System Task: every operation on real files, overwrite on and off, paths from
FILE connection managers, variables and expressions, and the errors a user sees."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
from builders import VERSIONS, Exe, Var, connection_manager, guid, package
from taskrun import PackageRun

from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind, RunRequest

REPO = Path(__file__).resolve().parents[1]


def fs_task(operation: str, name: str = "FS", *, expressions: dict[str, str] | None = None,
            **attrs: Any) -> Exe:
    body = " ".join(f"{k}={quoteattr(str(v))}" for k, v in
                    {"TaskOperationType": operation, **attrs}.items())
    return Exe(name, "filesystem", expressions=dict(expressions or {}),
               object_data=f"<FileSystemData {body} />")


def file_cm(name: str, path: str | Path, usage: int = 0, version: int = 8) -> str:
    return connection_manager(version, name, "FILE", str(path), inner={"FileUsageType": usage})


def run(operation: str, *, src: str | Path | None = None, dst: str | Path | None = None,
        dst_usage: int = 0, overwrite: bool | None = None, version: int = 8,
        request: RunRequest | None = None, **attrs: Any) -> PackageRun:
    """One File System task with its source and destination as FILE connection managers."""
    cms = []
    if src is not None:
        cms.append(file_cm("Src", src, version=version))
        attrs["TaskSourcePath"] = guid("cm", "Src")
    if dst is not None:
        cms.append(file_cm("Dst", dst, dst_usage, version=version))
        attrs["TaskDestinationPath"] = "Dst"
    if overwrite is not None:
        attrs["TaskOverwriteDestFile"] = overwrite
    return PackageRun(package(version, [fs_task(operation, **attrs)], connections=cms), request)


def ok(r: PackageRun) -> None:
    assert r.result.result == ExecResult.Success, r.descriptions(EventKind.OnError)


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("version", VERSIONS)
def test_copy_file_into_a_folder_and_to_a_new_name(tmp_path: Path, version: int) -> None:
    src = tmp_path / "in.csv"
    src.write_text("a,b\n")
    out = tmp_path / "out"
    out.mkdir()
    ok(run("CopyFile", src=src, dst=out, dst_usage=2, version=version))
    assert (out / "in.csv").read_text() == "a,b\n"
    ok(run("CopyFile", src=src, dst=tmp_path / "copy.csv", version=version))
    assert (tmp_path / "copy.csv").read_text() == "a,b\n" and src.exists()


def test_an_existing_destination_fails_unless_overwrite_is_on(tmp_path: Path) -> None:
    src, dst = tmp_path / "new.txt", tmp_path / "old.txt"
    src.write_text("new")
    dst.write_text("old")
    r = run("CopyFile", src=src, dst=dst, overwrite=False)
    assert r.result.result == ExecResult.Failure
    assert f"The file '{dst}' already exists." in r.error
    assert dst.read_text() == "old"
    ok(run("CopyFile", src=src, dst=dst, overwrite=True))
    assert dst.read_text() == "new"


def test_move_file_into_an_archive_folder(tmp_path: Path) -> None:
    src = tmp_path / "feed.txt"
    src.write_text("x")
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "feed.txt").write_text("yesterday")
    r = run("MoveFile", src=src, dst=archive, dst_usage=2, overwrite=False)
    assert r.result.result == ExecResult.Failure and src.exists()
    ok(run("MoveFile", src=src, dst=archive, dst_usage=2, overwrite=True))
    assert not src.exists() and (archive / "feed.txt").read_text() == "x"


def test_move_into_a_folder_that_does_not_exist_names_it(tmp_path: Path) -> None:
    src = tmp_path / "feed.txt"
    src.write_text("x")
    r = run("MoveFile", src=src, dst=tmp_path / "nowhere", dst_usage=2)
    assert r.result.result == ExecResult.Failure
    assert str(tmp_path / "nowhere") in r.error and src.exists()


def test_rename_file(tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text("x")
    ok(run("RenameFile", src=src, dst=tmp_path / "b.txt"))
    assert not src.exists() and (tmp_path / "b.txt").read_text() == "x"


def test_delete_file_and_a_missing_source_names_the_path(tmp_path: Path) -> None:
    src = tmp_path / "gone.txt"
    src.write_text("x")
    ok(run("DeleteFile", src=src))
    assert not src.exists()
    r = run("DeleteFile", src=src)
    assert r.result.result == ExecResult.Failure
    assert str(src) in r.error and "does not exist" in r.error and "connection 'Src'" in r.error


def test_windows_paths_are_mapped(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("x")
    request = RunRequest(path_map=[("C:\\etl\\", f"{tmp_path}/")])
    ok(run("CopyFile", src="C:\\etl\\in.txt", dst="C:\\etl\\out.txt", request=request))
    assert (tmp_path / "out.txt").read_text() == "x"
    r = run("DeleteFile", src="C:\\etl\\missing.txt", request=request)
    assert f'"{tmp_path}/missing.txt" (mapped from C:\\etl\\missing.txt)' in r.error


def test_a_unc_path_needs_a_map(tmp_path: Path) -> None:
    r = run("DeleteFile", src="\\\\server\\share\\x.txt")
    assert r.result.result == ExecResult.Failure and "--path-map" in r.error


# --------------------------------------------------------------------------- variables


def test_source_and_destination_from_variables_and_parameters(tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    (tmp_path / "arc").mkdir()
    task = fs_task("MoveFile", TaskSourcePath="User::File", TaskIsSourceVariable=True,
                   TaskDestinationPath="User::Archive", TaskIsDestinationVariable=True,
                   TaskOverwriteDestFile=True)
    ok(PackageRun(package(8, [task], variables=[Var("File", value=str(src)),
                                                Var("Archive", value=str(tmp_path / "arc"))])))
    assert (tmp_path / "arc" / "f.txt").exists()


def test_variable_errors(tmp_path: Path) -> None:
    task = fs_task("DeleteFile", TaskSourcePath="User::Nope", TaskIsSourceVariable=True)
    r = PackageRun(package(8, [task]))
    assert r.result.result == ExecResult.Failure and 'Variable "User::Nope" does not exist' \
        in r.error
    task = fs_task("DeleteFile", TaskSourcePath="User::N", TaskIsSourceVariable=True)
    r = PackageRun(package(8, [task], variables=[Var("N", 3, "5")]))
    assert "is not a string" in r.error
    task = fs_task("DeleteFile", TaskSourcePath="User::E", TaskIsSourceVariable=True)
    r = PackageRun(package(8, [task], variables=[Var("E")]))
    assert "is empty" in r.error


def test_property_expressions_replace_the_settings(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    task = fs_task("DeleteFile", TaskSourcePath="User::Unused", TaskIsSourceVariable=True,
                   expressions={"Operation": '"CopyFile"',
                                "Source": "@[User::Dir] + \"/a.txt\"",
                                "IsSourcePathVariable": "false",
                                "Destination": '"User::Target"',
                                "IsDestinationPathVariable": "true"})
    ok(PackageRun(package(8, [task], variables=[Var("Dir", value=str(tmp_path)),
                                                Var("Target", value=str(tmp_path / "b.txt"))])))
    assert (tmp_path / "a.txt").exists() and (tmp_path / "b.txt").read_text() == "x"


def test_conn_overrides_a_file_connection(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("x")
    request = RunRequest(connections={"Src": str(tmp_path / "real.txt")})
    ok(run("DeleteFile", src="C:\\not\\there.txt", request=request))
    assert not (tmp_path / "real.txt").exists()


def test_settings_errors(tmp_path: Path) -> None:
    r = PackageRun(package(8, [fs_task("CopyFile", TaskSourcePath="Src")],
                           connections=[file_cm("Src", tmp_path)]))
    assert 'Destination property of operation "CopyFile" not set' in r.error
    r = PackageRun(package(8, [fs_task("Explode", TaskSourcePath="Src")],
                           connections=[file_cm("Src", tmp_path)]))
    assert "'Explode' is not a File System operation" in r.error
    r = PackageRun(package(8, [fs_task("DeleteFile", TaskSourcePath="Nope")]))
    assert "Nope" in r.error and "does not exist" in r.error
    r = PackageRun(package(8, [fs_task("DeleteFile", TaskSourcePath="Db")],
                           connections=[connection_manager(8, "Db", "OLEDB", "Data Source=x")]))
    assert "of type OLEDB, not FILE" in r.error


# --------------------------------------------------------------------------- folders


def test_create_directory_and_use_directory_if_exists(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    ok(run("CreateDirectory", src=target, overwrite=True))
    assert target.is_dir()
    ok(run("CreateDirectory", src=target, overwrite=True))
    r = run("CreateDirectory", src=target, overwrite=False)
    assert r.result.result == ExecResult.Failure and "Can not create directory" in r.error
    task = fs_task("CreateDirectory", TaskSourcePath="Src", TaskOverwriteDestFile=False,
                   expressions={"UseDirectoryIfExists": "true"})
    ok(PackageRun(package(8, [task], connections=[file_cm("Src", target, 3)])))


def _tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "one.txt").write_text("1")
    (root / "sub" / "two.txt").write_text("2")


def test_copy_directory(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src)
    ok(run("CopyDirectory", src=src, dst=dst))
    assert (dst / "sub" / "two.txt").read_text() == "2" and (src / "one.txt").exists()
    r = run("CopyDirectory", src=src, dst=dst, overwrite=False)
    assert r.result.result == ExecResult.Failure and "already exists" in r.error
    (src / "one.txt").write_text("changed")
    ok(run("CopyDirectory", src=src, dst=dst, overwrite=True))
    assert (dst / "one.txt").read_text() == "changed"


def test_move_directory(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src)
    ok(run("MoveDirectory", src=src, dst=dst))
    assert not src.exists() and (dst / "sub" / "two.txt").exists()
    _tree(src)
    r = run("MoveDirectory", src=src, dst=dst, overwrite=False)
    assert r.result.result == ExecResult.Failure and src.exists()
    (src / "only-new.txt").write_text("n")
    ok(run("MoveDirectory", src=src, dst=dst, overwrite=True))
    assert (dst / "only-new.txt").exists() and not src.exists()


def test_delete_directory_and_its_content(tmp_path: Path) -> None:
    root = tmp_path / "work"
    _tree(root)
    os.chmod(root / "one.txt", 0o444)
    ok(run("DeleteDirectoryContent", src=root))
    assert root.is_dir() and list(root.iterdir()) == []
    _tree(root)
    ok(run("DeleteDirectory", src=root))
    assert not root.exists()
    r = run("DeleteDirectory", src=root)
    assert r.result.result == ExecResult.Failure and str(root) in r.error


def test_the_root_folder_is_never_emptied() -> None:
    r = run("DeleteDirectoryContent", src="C:\\")
    assert r.result.result == ExecResult.Failure and "root folder" in r.error


# --------------------------------------------------------------------------- attributes


def test_set_attributes_read_only_and_hidden(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    r = run("SetAttributes", src=f, TaskFileAttributes="ReadOnly, Hidden")
    ok(r)
    assert not f.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    [warning] = r.descriptions(EventKind.OnWarning)
    assert "Hidden" in warning
    ok(run("SetAttributes", src=f, TaskFileAttributes="Normal"))
    assert f.stat().st_mode & stat.S_IWUSR


# --------------------------------------------------------------------------- CLI


def test_ssisrun_exec_runs_a_file_system_task(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text("x")
    task = fs_task("CopyFile", TaskSourcePath="Src", TaskDestinationPath="Out",
                   TaskOverwriteDestFile=True)
    xml = package(8, [task], connections=[file_cm("Src", "C:\\etl\\in\\data.csv"),
                                          file_cm("Out", "C:\\etl\\out", 3)])
    pkg = tmp_path / "copy.dtsx"
    pkg.write_text(xml)
    (tmp_path / "out").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", str(pkg), "--path-map",
         f"C:\\etl\\={tmp_path}/"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "out" / "data.csv").read_text() == "x"
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", str(pkg), "--conn",
         f"Src={tmp_path}/missing.csv"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 1
    assert f"{tmp_path}/missing.csv" in proc.stdout
