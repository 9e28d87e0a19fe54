"""Projects of the project deployment model: a folder with a .dtproj, a .dtproj file, an
.ispac; their parameters ($Project::) and connection managers (.conmgr) resolve in the
packages loaded with them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from builders import (
    Comp,
    Exe,
    conmgr,
    dtproj,
    guid,
    manifest,
    package,
    pipeline,
    project_params,
    sql_task_data,
)
from click.testing import CliRunner

from ssisrun.cli import cli
from ssisrun.errors import PackageNotFoundError, ProjectError
from ssisrun.model import VarType
from ssisrun.project import find_project_for, load_project, load_project_package
from ssisrun.validate import validate_package

SRC_ID = guid("project", "Src")
PARAMS = project_params(
    ("P", 18, "hello", True, False),
    ("N", 9, "5", False, False),
    ("Flag", 3, "1", False, False),
    ("Pwd", 18, "hunter2-param", False, True),
)


def load_xml() -> str:
    flow = pipeline(8, [Comp("Read", "Microsoft.OLEDBSource", outputs=["Out"],
                             connections=[(SRC_ID + ":external",
                                           "Project.ConnectionManagers[Src]")])])
    script = ('<ScriptProject Name="ST_1" Language="CSharp" ReadOnlyVariables="$Project::N" '
              'ReadWriteVariables=""/>')
    return package(8, [
        Exe("Run SQL", "sql", object_data=sql_task_data(SRC_ID, "SELECT ?",
                                                        params=("$Project::P",))),
        Exe("Script", "script", object_data=script),
        Exe("Copy rows", "pipeline", object_data=flow),
    ], name="Load")


FILES = {
    "Demo.dtproj": dtproj("Demo", ["Load.dtsx", "Other.dtsx"], ["Src.conmgr"]),
    "Project.params": PARAMS,
    "Src.conmgr": conmgr("Src", "OLEDB", "Data Source=db;Initial Catalog=Stage;", SRC_ID),
    "Other.dtsx": package(8, [Exe("Seq", "seq")], name="Other"),
}


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "Demo"
    folder.mkdir()
    for name, text in {**FILES, "Load.dtsx": load_xml()}.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def ispac(tmp_path: Path) -> Path:
    file = tmp_path / "Demo.ispac"
    content_types = ('<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.'
                     'openxmlformats.org/package/2006/content-types"><Default Extension="dtsx" '
                     'ContentType="text/xml"/></Types>')
    with zipfile.ZipFile(file, "w") as zf:
        zf.writestr("[Content_Types].xml", content_types)
        zf.writestr("@Project.manifest",
                    manifest("Demo", ["Load.dtsx", "Other.dtsx"], ["Src.conmgr"]))
        zf.writestr("Project.params", PARAMS)
        zf.writestr("Src.conmgr", FILES["Src.conmgr"])
        zf.writestr("Load.dtsx", load_xml())
        zf.writestr("Other.dtsx", FILES["Other.dtsx"])
    return file


# --------------------------------------------------------------------------- library


def _check_project(project) -> None:  # noqa: ANN001
    assert project.name == "Demo"
    assert project.package_names == ["Load.dtsx", "Other.dtsx"]
    got = {p.name: (p.qualified_name, p.data_type, p.value, p.required, p.sensitive)
           for p in project.parameters}
    assert got == {
        "P": ("$Project::P", VarType.String, "hello", True, False),
        "N": ("$Project::N", VarType.Int32, 5, False, False),
        "Flag": ("$Project::Flag", VarType.Boolean, True, False, False),
        "Pwd": ("$Project::Pwd", VarType.String, "hunter2-param", False, True),
    }
    [cm] = project.connection_managers
    assert (cm.name, cm.dtsid, cm.scope, cm.kind) == ("Src", SRC_ID, "Project", "OLEDB")
    assert cm.connection_string == "Data Source=db;Initial Catalog=Stage;"


def test_load_project_folder(project_dir: Path) -> None:
    project = load_project(project_dir)
    _check_project(project)
    assert project.directory == project_dir


def test_load_project_dtproj_file(project_dir: Path) -> None:
    _check_project(load_project(project_dir / "Demo.dtproj"))


def test_load_project_ispac(ispac: Path) -> None:
    project = load_project(ispac)
    _check_project(project)
    assert project.directory is None
    pkg = load_project_package(project, "Load")
    assert pkg.name == "Load"
    assert pkg.source == f"{ispac}!/Load.dtsx"
    assert pkg.project is project


@pytest.mark.parametrize("name", ["Load", "Load.dtsx", "load", "LOAD.DTSX"])
def test_load_project_package_by_any_name(project_dir: Path, name: str) -> None:
    project = load_project(project_dir)
    pkg = load_project_package(project, name)
    assert pkg.name == "Load"
    assert pkg.project is project
    assert pkg.find_connection_manager(SRC_ID + ":external") is project.connection_managers[0]
    assert pkg.find_connection_manager("Project.ConnectionManagers[Src]") is (
        project.connection_managers[0])
    assert [p.qualified_name for p in pkg.all_parameters()] == [
        "$Project::P", "$Project::N", "$Project::Flag", "$Project::Pwd"]


def test_package_not_in_project(project_dir: Path) -> None:
    with pytest.raises(PackageNotFoundError) as info:
        load_project_package(load_project(project_dir), "Missing")
    message = str(info.value)
    assert info.value.exit_code == 4
    assert "Missing.dtsx" in message and "Load.dtsx" in message and "Other.dtsx" in message


def test_corrupt_ispac(tmp_path: Path) -> None:
    bad = tmp_path / "Bad.ispac"
    bad.write_text("this is not a zip", encoding="utf-8")
    with pytest.raises(ProjectError) as info:
        load_project(bad)
    assert info.value.exit_code == 5 and str(bad) in str(info.value)


def test_manifest_naming_a_missing_conmgr(project_dir: Path) -> None:
    (project_dir / "Src.conmgr").unlink()
    with pytest.raises(ProjectError) as info:
        load_project(project_dir)
    assert info.value.exit_code == 5 and "Src.conmgr" in str(info.value)


def test_find_project_for(project_dir: Path, tmp_path: Path) -> None:
    assert find_project_for(project_dir / "Load.dtsx") == (project_dir / "Demo.dtproj").resolve()
    alone = tmp_path / "Alone.dtsx"
    alone.write_text(package(8), encoding="utf-8")
    assert find_project_for(alone) is None


def _unresolved(problems) -> list:  # noqa: ANN001
    """References to the project's connection manager and parameters that do not resolve
    (not what validate says about the connection manager itself, e.g. a missing driver)."""
    return [p for p in problems if ("Src" in p.message or SRC_ID in p.message
                                    or "$Project::" in p.message)
            and not p.path.endswith(".ConnectionManagers[Src]")]


def test_validate_without_and_with_project(project_dir: Path) -> None:
    from ssisrun.dtsx import load_package

    alone = validate_package(load_package(project_dir / "Load.dtsx"))
    found = {(p.severity, p.path) for p in _unresolved(alone.problems)}
    assert ("error", "\\Package\\Run SQL") in found
    assert ("error", "\\Package\\Copy rows") in found
    assert ("warning", "\\Package\\Run SQL") in found
    assert ("warning", "\\Package\\Script") in found
    for p in _unresolved(alone.problems):
        assert "--project" in p.message
    with_project = validate_package(load_project_package(load_project(project_dir), "Load"))
    assert _unresolved(with_project.problems) == []


# --------------------------------------------------------------------------- CLI


def _json(runner: CliRunner, *args: str) -> dict:
    result = runner.invoke(cli, ["validate", "--format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)


@pytest.mark.parametrize("name", ["Load", "Load.dtsx", "load.DTSX"])
def test_cli_project_folder_and_package(runner: CliRunner, project_dir: Path, name: str) -> None:
    data = _json(runner, "--project", str(project_dir), "--package", name)
    assert data["name"] == "Load"
    assert _unresolved(_problems(data)) == []


def test_cli_project_ispac_and_dtproj(runner: CliRunner, project_dir: Path, ispac: Path) -> None:
    for project in (ispac, project_dir / "Demo.dtproj"):
        data = _json(runner, "--project", str(project), "--package", "Load")
        assert data["name"] == "Load"
        assert _unresolved(_problems(data)) == []


class _P:
    def __init__(self, d: dict) -> None:
        self.severity, self.path, self.message = d["severity"], d["path"], d["message"]


def _problems(data: dict) -> list[_P]:
    return [_P(d) for d in data["problems"]]


def test_cli_auto_discovers_the_project(runner: CliRunner, project_dir: Path) -> None:
    data = _json(runner, str(project_dir / "Load.dtsx"))
    assert _unresolved(_problems(data)) == []
    data = _json(runner, "--no-project", str(project_dir / "Load.dtsx"))
    found = {(p.severity, p.path) for p in _unresolved(_problems(data))}
    assert ("error", "\\Package\\Run SQL") in found
    assert ("warning", "\\Package\\Script") in found


def test_cli_text_report_without_project(runner: CliRunner, project_dir: Path) -> None:
    result = runner.invoke(cli, ["validate", "--no-project", str(project_dir / "Load.dtsx")])
    assert result.exit_code == 1
    assert f"uses connection manager '{SRC_ID}', which does not exist" in result.output
    assert "--project" in result.output
    assert "$Project::P" in result.output


def test_cli_package_not_in_project(runner: CliRunner, project_dir: Path) -> None:
    result = runner.invoke(cli, ["show", "--project", str(project_dir), "--package", "Nope"])
    assert result.exit_code == 4
    assert "Load.dtsx" in result.output and "Other.dtsx" in result.output


def test_cli_corrupt_ispac_and_missing_conmgr(runner: CliRunner, tmp_path: Path,
                                              project_dir: Path) -> None:
    bad = tmp_path / "Bad.ispac"
    bad.write_bytes(b"PK\x03\x04 truncated")
    result = runner.invoke(cli, ["validate", "--project", str(bad), "--package", "Load"])
    assert result.exit_code == 5 and str(bad) in result.output
    (project_dir / "Src.conmgr").unlink()
    result = runner.invoke(cli, ["validate", "--project", str(project_dir), "--package", "Load"])
    assert result.exit_code == 5 and "Src.conmgr" in result.output


def test_cli_missing_project_is_exit_4(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["show", "--project", str(tmp_path / "No.ispac"),
                                 "--package", "Load"])
    assert result.exit_code == 4 and "No.ispac" in result.output


def test_show_masks_sensitive_project_parameter(runner: CliRunner, project_dir: Path) -> None:
    result = runner.invoke(cli, ["show", "--project", str(project_dir), "--package", "Load"])
    assert result.exit_code == 0, result.output
    assert "hunter2-param" not in result.output
    assert "********" in result.output
    assert "$Project::Pwd" in result.output and "$Project::P" in result.output
    assert "hello" in result.output
    assert "project Demo" in result.output


# --------------------------------------------------------------------------- corpus

CORPUS_ISPACS = [
    "BartekR+ssisUnitLearning/Assets/ispac/ssisUnitLearning.ispac",
    "EditionsENI+SQL-Server-Integration-Services/Chapitre 3/Chapitre3/bin/Development/"
    "Chapitre3.ispac",
    "lucmilot+SSIS_2014_Book/850879_c16_download/Ch16_ProSSIS/Code/ProSSIS_Ch16/bin/"
    "Development/ProSSIS_Ch16.ispac",
    "lucmilot+SSIS_2014_Book/850879_c11_download/Chapter11/bin/Development/Chapter11.ispac",
]


@pytest.mark.parametrize("rel", CORPUS_ISPACS, ids=lambda r: r.rsplit("/", 1)[-1])
def test_corpus_ispac_packages_all_load(corpus: Path, tmp_path: Path, rel: str) -> None:
    source = corpus / "other" / rel
    if not source.is_file():
        pytest.skip(f"{rel} is not in the corpus")
    link = tmp_path / source.name
    link.symlink_to(source)
    project = load_project(link)
    assert project.package_names
    for name in project.package_names:
        pkg = load_project_package(project, name)
        assert pkg.source == f"{link}!/{name}"
        assert pkg.project is project


def test_corpus_dtproj_project_resolves_its_connection_manager(
        corpus: Path, tmp_path: Path, runner: CliRunner) -> None:
    rel = "BartekR+ssisUnitLearning/ssisUnitLearning"
    other, dtsx = corpus / "other" / rel, corpus / "dtsx" / rel
    if not other.is_dir() or not dtsx.is_dir():
        pytest.skip(f"{rel} is not in the corpus")
    folder = tmp_path / "ssisUnitLearning"
    folder.mkdir()
    for source in [*other.iterdir(), *dtsx.glob("*.dtsx")]:
        (folder / source.name).symlink_to(source)
    project = load_project(folder)
    assert [cm.name for cm in project.connection_managers] == ["ssisUnitLearningDB"]
    assert len(project.package_names) == 9
    for name in project.package_names:
        data = _json(runner, "--project", str(folder), "--package", name)
        unresolved = [p["message"] for p in data["problems"]
                      if "connection manager" in p["message"] and "does not exist" in p["message"]]
        assert unresolved == [], name
