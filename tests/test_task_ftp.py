"""The FTP Task against a real FTP server (pyftpdlib on loopback, a temp home): send,
receive, delete, make and remove folders, wildcards, ASCII mode, overwrite, paths from
variables, credentials from --conn, and the errors a user sees."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
from builders import VERSIONS, Exe, Var, connection_manager, el, guid, package
from taskrun import PackageRun

from ssisrun.dtsx import load_package_bytes
from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind, RunRequest

pytest.importorskip("pyftpdlib")
from pyftpdlib.authorizers import DummyAuthorizer  # noqa: E402
from pyftpdlib.handlers import FTPHandler  # noqa: E402
from pyftpdlib.servers import ThreadedFTPServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
USER, PASSWORD = "etl", "ftp-s3cret"


class FtpServer:
    def __init__(self, home: Path) -> None:
        self.home = home
        authorizer = DummyAuthorizer()
        authorizer.add_user(USER, PASSWORD, str(home), perm="elradfmwMT")
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer,
                                                 "permit_foreign_addresses": True,
                                                 "auth_failed_timeout": 0})
        self.server = ThreadedFTPServer(("127.0.0.1", 0), handler)
        self.port = int(self.server.address[1])
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"timeout": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.close_all()
        self.thread.join(5)


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[FtpServer]:
    home = tmp_path / "server"
    home.mkdir()
    server = FtpServer(home)
    yield server
    server.stop()


def ftp_task(operation: str, name: str = "FTP", **attrs: Any) -> Exe:
    values = {"ConnectionName": guid("cm", "FTP"), "TaskOperationType": operation, **attrs}
    body = " ".join(f"{k}={quoteattr(str(v))}" for k, v in values.items())
    return Exe(name, "Microsoft.FtpTask", object_data=f"<FtpData {body} />")


def ftp_cm(version: int = 8, host: str = "ftp.corp.local:21", passive: bool = True) -> str:
    """The shape SSIS writes: the server settings on a nested DTS:FtpConnection element,
    the password encrypted (so it must come from --conn)."""
    inner = (f'<DTS:FtpConnection DTS:ServerName="ftp.corp.local" DTS:ServerUserName="nobody" '
             f'DTS:UsePassiveMode="{passive}"><DTS:Property DTS:Name="ServerPassword" '
             'Sensitive="1" Encrypted="1">AQAAANCMnd8BFdERjHoAwE</DTS:Property>'
             "</DTS:FtpConnection>")
    return connection_manager(version, "FTP", "FTP", host, inner_children=inner)


def conn(server: FtpServer, **extra: str) -> RunRequest:
    query = "&".join(f"{k}={v}" for k, v in extra.items())
    url = f"ftp://{USER}:{PASSWORD}@127.0.0.1:{server.port}/" + (f"?{query}" if query else "")
    return RunRequest(connections={"FTP": url})


def run(server: FtpServer, task: Exe, *, version: int = 8, variables: list[Var] = (),
        connections: list[str] = (), request: RunRequest | None = None) -> PackageRun:
    return PackageRun(package(version, [task], connections=[ftp_cm(version), *connections],
                              variables=list(variables)), request or conn(server))


def ok(r: PackageRun) -> None:
    assert r.result.result == ExecResult.Success, r.descriptions(EventKind.OnError)


def local_dir(version: int, path: Path, name: str = "Local", usage: int = 2) -> str:
    return connection_manager(version, name, "FILE", str(path), inner={"FileUsageType": usage})


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("version", VERSIONS)
def test_send_and_receive_round_trip(ftp: FtpServer, tmp_path: Path, version: int) -> None:
    (ftp.home / "in").mkdir()
    out = tmp_path / "out.csv"
    out.write_bytes(b"id,name\r\n1,\xc3\xa9\r\n")
    send = ftp_task("Send", TaskLocalPath="Out", TaskRemotePath="/in")
    ok(run(ftp, send, version=version,
           connections=[local_dir(version, out, "Out", 0)]))
    assert (ftp.home / "in" / "out.csv").read_bytes() == out.read_bytes()
    back = tmp_path / "back"
    back.mkdir()
    receive = ftp_task("Receive", TaskLocalPath="Local", TaskRemotePath="/in/out.csv")
    ok(run(ftp, receive, version=version, connections=[local_dir(version, back)]))
    assert (back / "out.csv").read_bytes() == out.read_bytes()


def test_receive_with_wildcards_and_overwrite(ftp: FtpServer, tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt", "c.csv"):
        (ftp.home / name).write_text(name)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.txt").write_text("old")
    task = ftp_task("Receive", TaskLocalPath="User::Dir", TaskIsLocalPathVar=True,
                    TaskRemotePath="/*.txt")
    variables = [Var("Dir", value=str(dest))]
    r = run(ftp, task, variables=variables)
    assert r.result.result == ExecResult.Failure and "TaskOverwriteDest is False" in r.error
    assert (dest / "a.txt").read_text() == "old"
    task = ftp_task("Receive", TaskLocalPath="User::Dir", TaskIsLocalPathVar=True,
                    TaskRemotePath="/*.txt", TaskOverwriteDest=True)
    ok(run(ftp, task, variables=variables))
    assert sorted(p.name for p in dest.iterdir()) == ["a.txt", "b.txt"]
    assert (dest / "a.txt").read_text() == "a.txt"
    r = run(ftp, ftp_task("Receive", TaskLocalPath="User::Dir", TaskIsLocalPathVar=True,
                          TaskRemotePath="/*.xml"), variables=variables)
    assert 'No files found in "/*.xml"' in r.error


def test_send_many_files_from_a_variable_pattern(ftp: FtpServer, tmp_path: Path) -> None:
    for name in ("x1.TXT", "x2.txt", "skip.csv"):
        (tmp_path / name).write_text(name)
    (ftp.home / "drop").mkdir()
    (ftp.home / "drop" / "x1.TXT").write_text("remote")
    task = ftp_task("Send", TaskLocalPath="User::Files", TaskIsLocalPathVar=True,
                    TaskRemotePath="User::Remote", TaskIsRemotePathVar=True,
                    StopOnFailure=False)
    r = run(ftp, task, variables=[Var("Files", value=f"{tmp_path}/*.txt"),
                                  Var("Remote", value="/drop")])
    ok(r)
    assert "x1.TXT" in r.descriptions(EventKind.OnWarning)[0]
    assert (ftp.home / "drop" / "x1.TXT").read_text() == "remote"
    assert (ftp.home / "drop" / "x2.txt").read_text() == "x2.txt"
    assert not (ftp.home / "drop" / "skip.csv").exists()


def test_ascii_mode_converts_line_ends(ftp: FtpServer, tmp_path: Path) -> None:
    (ftp.home / "dos.txt").write_bytes(b"one\r\ntwo\r\n")
    task = ftp_task("Receive", TaskLocalPath="Local", TaskRemotePath="/dos.txt",
                    TaskTransferAscii=True)
    ok(run(ftp, task, connections=[local_dir(8, tmp_path)]))
    assert (tmp_path / "dos.txt").read_bytes() == b"one\ntwo\n"


def test_active_mode_works_too(ftp: FtpServer, tmp_path: Path) -> None:
    (ftp.home / "f.bin").write_bytes(bytes(range(256)) * 40)
    task = ftp_task("Receive", TaskLocalPath="Local", TaskRemotePath="/f.bin")
    ok(run(ftp, task, connections=[local_dir(8, tmp_path)],
           request=conn(ftp, UsePassiveMode="False", ChunkSize="4")))
    assert (tmp_path / "f.bin").read_bytes() == bytes(range(256)) * 40


# --------------------------------------------------------------------------- folders, deletes


def test_remote_folders_and_deletes(ftp: FtpServer) -> None:
    ok(run(ftp, ftp_task("MakeDirRemote", TaskRemotePath="/archive")))
    assert (ftp.home / "archive").is_dir()
    r = run(ftp, ftp_task("MakeDirRemote", TaskRemotePath="/archive"))
    assert r.result.result == ExecResult.Failure and "MakeDirRemote" in r.error
    for name in ("a.log", "b.log", "keep.txt"):
        (ftp.home / "archive" / name).write_text(name)
    ok(run(ftp, ftp_task("DeleteRemote", TaskRemotePath="/archive/*.log")))
    assert sorted(p.name for p in (ftp.home / "archive").iterdir()) == ["keep.txt"]
    r = run(ftp, ftp_task("RemoveDirRemote", TaskRemotePath="/archive"))
    assert r.result.result == ExecResult.Failure  # not empty
    ok(run(ftp, ftp_task("DeleteRemote", TaskRemotePath="/archive/keep.txt")))
    ok(run(ftp, ftp_task("RemoveDirRemote", TaskRemotePath="/archive")))
    assert not (ftp.home / "archive").exists()


def test_local_folders_and_deletes(ftp: FtpServer, tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    variables = [Var("Dir", value=str(folder)), Var("Pattern", value=f"{folder}/*.tmp")]
    ok(run(ftp, ftp_task("MakeDirLocal", TaskLocalPath="User::Dir", TaskIsLocalPathVar=True),
           variables=variables))
    assert folder.is_dir()
    r = run(ftp, ftp_task("MakeDirLocal", TaskLocalPath="User::Dir", TaskIsLocalPathVar=True),
            variables=variables)
    assert "already exists" in r.error
    (folder / "x.tmp").write_text("x")
    (folder / "y.dat").write_text("y")
    ok(run(ftp, ftp_task("DeleteLocal", TaskLocalPath="User::Pattern",
                         TaskIsLocalPathVar=True), variables=variables))
    assert [p.name for p in folder.iterdir()] == ["y.dat"]
    ok(run(ftp, ftp_task("RemoveDirLocal", TaskLocalPath="User::Dir",
                         TaskIsLocalPathVar=True), variables=variables))
    assert not folder.exists()


# --------------------------------------------------------------------------- errors


def test_errors_name_what_to_fix(ftp: FtpServer, tmp_path: Path) -> None:
    r = run(ftp, ftp_task("DeleteRemote", TaskRemotePath="relative/x.txt"))
    assert 'doesn\'t start with "/"' in r.error
    r = run(ftp, ftp_task("Send", TaskLocalPath="Out", TaskRemotePath="/"),
            connections=[local_dir(8, tmp_path / "missing.csv", "Out", 0)])
    assert "missing.csv" in r.error and "does not exist" in r.error
    bad = RunRequest(connections={"FTP": f"ftp://{USER}:wrong-pw@127.0.0.1:{ftp.port}/"})
    r = run(ftp, ftp_task("DeleteRemote", TaskRemotePath="/x"), request=bad)
    assert "Unable to connect to FTP server" in r.error and "wrong-pw" not in r.error
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    r = run(ftp, ftp_task("DeleteRemote", TaskRemotePath="/x"),
            request=RunRequest(connections={"FTP": f"ftp://127.0.0.1:{closed}/?Retries=1"}))
    assert f"127.0.0.1:{closed}" in r.error and "2 attempt(s)" in r.error


def test_keyword_conn_and_a_connection_manager_property_expression(ftp: FtpServer) -> None:
    (ftp.home / "gone.txt").write_text("x")
    xml = package(8, [ftp_task("DeleteRemote", TaskRemotePath="/gone.txt")],
                  connections=[connection_manager(
                      8, "FTP", "FTP", f"127.0.0.1:{ftp.port}",
                      expressions={"ServerPassword": "@[User::Pw]"},
                      inner_children='<DTS:FtpConnection DTS:UsePassiveMode="True"/>')],
                  variables=[Var("Pw", value=PASSWORD)])
    ok(PackageRun(xml, RunRequest(connections={"FTP": f"ServerName=127.0.0.1;ServerPort={ftp.port};"
                                                      f"ServerUserName={USER}"})))
    assert not (ftp.home / "gone.txt").exists()


def test_server_settings_of_the_nested_ftp_connection_element_are_read() -> None:
    pkg = load_package_bytes(package(8, [], connections=[ftp_cm()]).encode(), "t.dtsx")
    [cm] = pkg.connection_managers
    assert cm.properties.get("ServerUserName") == "nobody"
    assert cm.properties.get("ServerName") == "ftp.corp.local"
    assert cm.properties.get("UsePassiveMode") == "True"
    # the encrypted password is a secret ssisrun cannot use, never a property
    assert "ServerPassword" not in cm.properties
    assert cm.encrypted_secrets == ["ServerPassword"] and cm.password is None


def own_settings_cm(version: int, server: FtpServer, password: str) -> str:
    """An FTP connection manager with every setting in the package, the password in clear,
    and no connection string: the nested element alone says where to go."""
    secret = (f'<DTS:Property DTS:Name="ServerPassword" Sensitive="1">{password}'
              "</DTS:Property>")
    inner = el(version, "FtpConnection",
               {"ServerName": "127.0.0.1", "ServerPort": server.port, "ServerUserName": USER,
                "UsePassiveMode": True, "TimeOut": 10, "Retries": 0, "ChunkSize": 4},
               secret)
    return connection_manager(version, "FTP", "FTP", "", inner_children=inner)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_package_own_server_settings_and_clear_password_are_used(
        ftp: FtpServer, tmp_path: Path, version: int) -> None:
    (ftp.home / "readme.txt").write_text("hello")
    cm = own_settings_cm(version, ftp, PASSWORD)
    pkg = load_package_bytes(package(version, [], connections=[cm]).encode(), "t.dtsx")
    [read] = pkg.connection_managers
    assert read.password == PASSWORD and read.encrypted_secrets == []
    assert read.properties["ServerPort"] == str(ftp.port)
    assert PASSWORD not in repr(read) and PASSWORD not in str(read.properties)
    task = ftp_task("Receive", TaskLocalPath="Local", TaskRemotePath="/readme.txt")
    ok(PackageRun(package(version, [task], connections=[cm, local_dir(version, tmp_path)])))
    assert (tmp_path / "readme.txt").read_text() == "hello"
    # a wrong password in the package fails the login, and no message shows it
    wrong = own_settings_cm(version, ftp, "not-the-password")
    r = PackageRun(package(version, [task], connections=[wrong, local_dir(version, tmp_path)]))
    assert r.result.result == ExecResult.Failure
    assert "not-the-password" not in " ".join(r.descriptions(EventKind.OnError))


# --------------------------------------------------------------------------- CLI


def test_ssisrun_exec_receives_a_file(ftp: FtpServer, tmp_path: Path) -> None:
    (ftp.home / "readme.txt").write_text("hello")
    (tmp_path / "in").mkdir()
    xml = package(8, [ftp_task("Receive", TaskLocalPath="Local",
                               TaskRemotePath="/readme.txt", TaskOverwriteDest=True)],
                  connections=[ftp_cm(), local_dir(8, "C:\\ProSSIS\\in")])
    pkg = tmp_path / "ftp.dtsx"
    pkg.write_text(xml)
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", str(pkg), "--path-map",
         f"C:\\ProSSIS\\={tmp_path}/", "--conn",
         f"FTP=ftp://{USER}:{PASSWORD}@127.0.0.1:{ftp.port}/"],
        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "in" / "readme.txt").read_text() == "hello"
    assert PASSWORD not in proc.stdout + proc.stderr
