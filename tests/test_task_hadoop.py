"""The Hadoop File System, Hive and Pig tasks against a loopback Hadoop (tests/hadoop_server.py:
WebHDFS over a temp folder, with the namenode's 307 redirect to a datanode, and WebHCat jobs
run by a tiny interpreter): files and folders copied both ways and within HDFS with their
exact bytes, overwrite refused, permissions, Hive and Pig jobs polled, failed, timed out and
cancelled (the job killed), Kerberos refused, and the two corpus packages."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
from builders import Exe, Var, connection_manager, guid, package, prop_expr
from click.testing import CliRunner
from corpus_util import CORPUS_DIR
from hadoop_server import HadoopServer, wait_for
from taskrun import PackageRun

from ssisrun.cli import cli
from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind, RunRequest

CM = guid("cm", "Hadoop")
CHAPTER2 = ("EditionsENI+SQL-Server-Integration-Services/Chapitre 2/Chapitre 2/Chapitre2")


@pytest.fixture
def hadoop(tmp_path: Path) -> Iterator[HadoopServer]:
    server = HadoopServer(tmp_path / "hdfs")
    yield server
    server.stop()


def ok(r: PackageRun) -> None:
    assert r.result.result == ExecResult.Success, r.descriptions(EventKind.OnError)


def hadoop_cm(string: str = "WebHdfsHost=cluster.corp;WebHdfsPort=50070;"
              "WebHdfsUserName=nobody;EnableWebHdfs=True;EnableWebHCat=False;",
              name: str = "Hadoop", expressions: str = "") -> str:
    """The shape SSIS 2016+ writes: the settings in the connection string of a
    ``HadoopConnectionManager`` element (no DTS namespace)."""
    return (f'<DTS:ConnectionManager DTS:refId="Package.ConnectionManagers[{name}]" '
            f'DTS:CreationName="Hadoop" DTS:DTSID="{guid("cm", name)}" '
            f'DTS:ObjectName="{name}">{expressions}<DTS:ObjectData><HadoopConnectionManager '
            f"ConnectionString={quoteattr(string)} /></DTS:ObjectData></DTS:ConnectionManager>")


def local_cm(path: Path, name: str = "Local", usage: int = 0) -> str:
    return connection_manager(8, name, "FILE", str(path), inner={"FileUsageType": usage})


def task(kind: str, name: str = "", expressions: dict[str, str] | None = None,
         **attrs: Any) -> Exe:
    values = {"HadoopConnectionId": CM, **attrs}
    body = " ".join(f"{k}={quoteattr(str(v))}" for k, v in values.items())
    return Exe(name or kind, kind, object_data=f"<{kind} {body} />",
               expressions=dict(expressions or {}))


def fs_task(operation: str, **attrs: Any) -> Exe:
    if operation != "CopyWithinHDFS":
        attrs.setdefault("LocalFilePathId", guid("cm", "Local"))
    return task("HadoopFileSystemTask", Operation=operation, **attrs)


def run(server: HadoopServer, *tasks: Exe, connections: Sequence[str] = (),
        variables: Sequence[Var] = (), cancel: threading.Event | None = None,
        **conn: str) -> PackageRun:
    xml = package(8, list(tasks), connections=[hadoop_cm(), *connections],
                  variables=list(variables))
    return PackageRun(xml, RunRequest(connections={"Hadoop": server.connection_string(**conn)}),
                             cancel=cancel)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


# --------------------------------------------------------------------------- CopyToHDFS


def test_copy_to_hdfs_streams_the_file_through_the_datanode_redirect(
        hadoop: HadoopServer, tmp_path: Path) -> None:
    data = os.urandom(300_000) + b"\r\n\x00end"
    source = tmp_path / "hotspots.csv"
    source.write_bytes(data)
    r = run(hadoop, fs_task("CopyToHDFS", HadoopFilePath="/user/etl/in/hotspots.csv"),
            connections=[local_cm(source)])
    ok(r)
    assert (hadoop.root / "user/etl/in/hotspots.csv").read_bytes() == data
    creates = [q for q in hadoop.requests if q.op == "CREATE"]
    # step one on the namenode carries no data; the bytes go to the datanode it names
    assert [(q.path.startswith("/datanode"), q.body) for q in creates] == \
        [(False, 0), (True, len(data))]
    assert creates[0].query["user.name"] == "etl"
    assert creates[0].query["overwrite"] == "false"
    assert f"1 file(s), {len(data)} bytes" in r.text(EventKind.OnInformation)


def test_copy_to_hdfs_into_an_existing_folder_keeps_the_file_name(
        hadoop: HadoopServer, tmp_path: Path) -> None:
    (hadoop.root / "landing").mkdir()
    source = tmp_path / "a.txt"
    source.write_bytes(b"alpha")
    ok(run(hadoop, fs_task("CopyToHDFS", HadoopFilePath="/landing"),
           connections=[local_cm(source)]))
    assert (hadoop.root / "landing/a.txt").read_bytes() == b"alpha"


def test_relative_hdfs_path_is_in_the_users_home(hadoop: HadoopServer, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"alpha")
    ok(run(hadoop, fs_task("CopyToHDFS", HadoopFilePath="stage/a.txt"),
           connections=[local_cm(source)]))
    assert (hadoop.root / "user/etl/stage/a.txt").read_bytes() == b"alpha"


def make_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "top.csv").write_bytes(b"1,2\n")
    (root / "b.bin").write_bytes(os.urandom(70_000))
    (root / "sub" / "mid.txt").write_bytes(b"mid")
    (root / "sub" / "deeper" / "low.txt").write_bytes("é\n".encode())


def test_folders_copied_to_and_from_hdfs_with_and_without_recursion(
        hadoop: HadoopServer, tmp_path: Path) -> None:
    source = tmp_path / "out"
    make_tree(source)
    flat = fs_task("CopyToHDFS", HadoopFilePath="/flat", HadoopFileType="Directory")
    ok(run(hadoop, flat, connections=[local_cm(source, usage=2)]))
    assert tree(hadoop.root / "flat") == {"b.bin": (source / "b.bin").read_bytes(),
                                         "top.csv": b"1,2\n"}
    deep = fs_task("CopyToHDFS", HadoopFilePath="/deep", HadoopFileType="Directory",
                   IsRecursive="True")
    ok(run(hadoop, deep, connections=[local_cm(source, usage=2)]))
    assert tree(hadoop.root / "deep") == tree(source)

    back = tmp_path / "back"
    down = fs_task("CopyFromHDFS", HadoopFilePath="/deep", HadoopFileType="Directory",
                   IsRecursive="True")
    ok(run(hadoop, down, connections=[local_cm(back, usage=3)]))
    assert tree(back) == tree(source)
    top_only = tmp_path / "top"
    down = fs_task("CopyFromHDFS", HadoopFilePath="/deep", HadoopFileType="Directory")
    ok(run(hadoop, down, connections=[local_cm(top_only, usage=3)]))
    assert sorted(tree(top_only)) == ["b.bin", "top.csv"]


def test_an_existing_destination_is_refused_before_anything_is_copied(
        hadoop: HadoopServer, tmp_path: Path) -> None:
    source = tmp_path / "out"
    make_tree(source)
    hadoop.put("/deep/sub/mid.txt", b"old")
    copy = dict(HadoopFilePath="/deep", HadoopFileType="Directory", IsRecursive="True")
    r = run(hadoop, fs_task("CopyToHDFS", **copy), connections=[local_cm(source, usage=2)])
    assert r.result.result == ExecResult.Failure
    assert "/deep/sub/mid.txt already exists on HDFS" in r.error
    assert "OverwriteDestination is False; nothing was copied" in r.error
    assert tree(hadoop.root / "deep") == {"sub/mid.txt": b"old"}
    assert not [q for q in hadoop.requests if q.op == "CREATE"]

    ok(run(hadoop, fs_task("CopyToHDFS", OverwriteDestination="True", **copy),
           connections=[local_cm(source, usage=2)]))
    assert tree(hadoop.root / "deep") == tree(source)
    assert {q.query["overwrite"] for q in hadoop.requests if q.op == "CREATE"} == {"true"}


def test_copy_from_hdfs_file_exact_bytes_and_local_overwrite(
        hadoop: HadoopServer, tmp_path: Path) -> None:
    data = os.urandom(150_000)
    hadoop.put("/data/part-0000", data)
    target = tmp_path / "part.dat"
    ok(run(hadoop, fs_task("CopyFromHDFS", HadoopFilePath="/data/part-0000"),
           connections=[local_cm(target, usage=1)]))
    assert target.read_bytes() == data
    # OPEN went to the namenode, then to the datanode it redirected to
    assert [m for m in hadoop.ops() if m[1] == "OPEN"] == [("GET", "OPEN")] * 2
    assert hadoop.ops(datanode=True) == [("GET", "OPEN")]

    hadoop.put("/data/part-0000", b"new")
    r = run(hadoop, fs_task("CopyFromHDFS", HadoopFilePath="/data/part-0000"),
            connections=[local_cm(target, usage=1)])
    assert "already exists here" in r.error and target.read_bytes() == data
    ok(run(hadoop, fs_task("CopyFromHDFS", HadoopFilePath="/data/part-0000",
                           OverwriteDestination="True"),
           connections=[local_cm(target, usage=1)]))
    assert target.read_bytes() == b"new"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ssisrun-")]


def test_big_files_are_streamed_not_held_in_memory(hadoop: HadoopServer, tmp_path: Path) -> None:
    import tracemalloc

    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for _ in range(256):
            out.write(os.urandom(64 * 1024))  # 16 MB
    back = tmp_path / "back.bin"
    small = tmp_path / "small.bin"
    small.write_bytes(b"warm up: the first run imports and compiles what it needs")
    ok(run(hadoop, fs_task("CopyToHDFS", HadoopFilePath="/small.bin"),
           connections=[local_cm(small)]))
    tracemalloc.start()
    try:
        ok(run(hadoop, fs_task("CopyToHDFS", HadoopFilePath="/big.bin"),
               connections=[local_cm(big)]))
        ok(run(hadoop, fs_task("CopyFromHDFS", HadoopFilePath="/big.bin"),
               connections=[local_cm(back, usage=1)]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert back.read_bytes() == big.read_bytes()
    assert peak < 2 * 1024 * 1024, f"{peak} bytes at the peak for a 16 MB file"


def test_copy_from_hdfs_into_a_local_folder(hadoop: HadoopServer, tmp_path: Path) -> None:
    hadoop.put("/data/x.csv", b"x")
    ok(run(hadoop, fs_task("CopyFromHDFS", HadoopFilePath="/data/x.csv"),
           connections=[local_cm(tmp_path, usage=2)]))
    assert (tmp_path / "x.csv").read_bytes() == b"x"


def test_copy_within_hdfs_file_and_folder(hadoop: HadoopServer) -> None:
    data = os.urandom(100_000)
    hadoop.put("/raw/day1/a.bin", data)
    hadoop.put("/raw/day1/more/b.txt", b"b")
    ok(run(hadoop, fs_task("CopyWithinHDFS", HadoopSourceFilePath="/raw/day1/a.bin",
                           HadoopDestinationFilePath="/curated/a.bin")))
    assert (hadoop.root / "curated/a.bin").read_bytes() == data
    ok(run(hadoop, fs_task("CopyWithinHDFS", HadoopSourceFilePath="/raw/day1",
                           HadoopDestinationFilePath="/archive/day1",
                           HadoopFileType="Directory", IsRecursive="True")))
    assert tree(hadoop.root / "archive/day1") == tree(hadoop.root / "raw/day1")
    assert (hadoop.root / "raw/day1/a.bin").read_bytes() == data  # a copy, not a move
    r = run(hadoop, fs_task("CopyWithinHDFS", HadoopSourceFilePath="/raw/day1/a.bin",
                            HadoopDestinationFilePath="/curated/a.bin"))
    assert "/curated/a.bin already exists on HDFS" in r.error


def test_permission_denied_names_the_user_and_leaves_nothing(
        hadoop: HadoopServer, tmp_path: Path) -> None:
    hadoop.protected["/warehouse"] = "hive"
    source = tmp_path / "a.txt"
    source.write_bytes(b"alpha")
    r = run(hadoop, fs_task("CopyToHDFS", HadoopFilePath="/warehouse/t/a.txt"),
            connections=[local_cm(source)])
    assert r.result.result == ExecResult.Failure
    assert "AccessControlException: Permission denied: user=etl, access=WRITE" in r.error
    assert "Tâche" not in r.error and "\\Package\\HadoopFileSystemTask" in \
        [e.source_path for e in r.events if e.kind == EventKind.OnError][0]
    assert not (hadoop.root / "warehouse").exists()
    ok(run(hadoop, fs_task("CopyToHDFS", HadoopFilePath="/warehouse/t/a.txt"),
           connections=[local_cm(source)], WebHdfsUserName="hive"))
    assert (hadoop.root / "warehouse/t/a.txt").read_bytes() == b"alpha"


def test_errors_a_user_sees(hadoop: HadoopServer, tmp_path: Path) -> None:
    target = tmp_path / "x"
    r = run(hadoop, fs_task("CopyFromHDFS", HadoopFilePath="/missing.csv"),
            connections=[local_cm(target, usage=1)])
    assert "the HDFS path /missing.csv does not exist" in r.error
    hadoop.put("/dir/f", b"f")
    r = run(hadoop, fs_task("CopyFromHDFS", HadoopFilePath="/dir"),
            connections=[local_cm(target, usage=1)])
    assert "is a folder; set HadoopFileType to Directory" in r.error
    r = run(hadoop, fs_task("CopyToHDFS", HadoopFilePath="/x"),
            connections=[local_cm(tmp_path / "nope.csv")])
    assert "the local file" in r.error and "does not exist" in r.error
    r = run(hadoop, fs_task("MoveToHDFS", HadoopFilePath="/x"),
            connections=[local_cm(target)])
    assert "Operation 'MoveToHDFS' is not one of CopyToHDFS" in r.error
    r = run(hadoop, fs_task("CopyToHDFS", HadoopFilePath="/x"),
            connections=[local_cm(target)], EnableWebHdfs="False")
    assert "does not enable WebHDFS (EnableWebHdfs=False)" in r.error
    stopped = HadoopServer(tmp_path / "gone")
    stopped.stop()
    (tmp_path / "a").write_bytes(b"a")
    r = run(stopped, fs_task("CopyToHDFS", HadoopFilePath="/a"),
            connections=[local_cm(tmp_path / "a")])
    assert f"127.0.0.1:{stopped.port} failed" in r.error


def test_property_expression_on_the_hadoop_path(hadoop: HadoopServer, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"alpha")
    t = fs_task("CopyToHDFS", HadoopFilePath="/ignored",
                expressions={"HadoopFilePath": '"/in/" + @[User::Day] + ".txt"'})
    ok(run(hadoop, t, connections=[local_cm(source)],
           variables=[Var("Day", 8, "2024-05-01")]))
    assert (hadoop.root / "in/2024-05-01.txt").read_bytes() == b"alpha"
    assert not (hadoop.root / "ignored").exists()


def test_property_expressions_on_the_connection_manager(
        hadoop: HadoopServer, tmp_path: Path) -> None:
    """HdfsUserName and HdfsPort (the manager's property names) win over the string."""
    source = tmp_path / "a.txt"
    source.write_bytes(b"alpha")
    expressions = (prop_expr("HdfsUserName", '@[User::Owner]')
                   + prop_expr("HdfsPort", f'"{hadoop.port}"'))
    string = hadoop.connection_string(WebHdfsPort="1", WebHdfsUserName="nobody")
    xml = package(8, [fs_task("CopyToHDFS", HadoopFilePath="/warehouse/a.txt")],
                  connections=[hadoop_cm(string, expressions=expressions), local_cm(source)],
                  variables=[Var("Owner", 8, "hive")])
    hadoop.protected["/warehouse"] = "hive"
    ok(PackageRun(xml))
    assert (hadoop.root / "warehouse/a.txt").read_bytes() == b"alpha"
    assert {q.query["user.name"] for q in hadoop.requests} == {"hive"}


# --------------------------------------------------------------------------- Kerberos


def test_kerberos_is_refused_at_validate_and_at_run_time(
        hadoop: HadoopServer, tmp_path: Path) -> None:
    kerberos = ("WebHdfsHost=nn.corp;WebHdfsPort=50070;WebHdfsUserName=etl;"
                "WebHdfsAuthType=Kerberos;WebHdfsDomain=CORP;EnableWebHdfs=True;")
    source = tmp_path / "a.txt"
    source.write_bytes(b"a")
    pkg = tmp_path / "k.dtsx"
    pkg.write_text(package(8, [fs_task("CopyToHDFS", HadoopFilePath="/a")],
                           connections=[hadoop_cm(kerberos), local_cm(source)]))
    result = CliRunner().invoke(cli, ["validate", str(pkg)])
    assert result.exit_code == 1
    assert "uses Kerberos authentication for WebHDFS (WebHdfsAuthType=Kerberos), which " \
           "ssisrun does not support yet" in result.output
    result = CliRunner().invoke(cli, ["exec", str(pkg)])
    assert result.exit_code == 1 and "does not support yet (SPNEGO)" in result.output
    # --conn with Basic authentication makes it valid and runnable
    conn = f"Hadoop={hadoop.connection_string()}"
    result = CliRunner().invoke(cli, ["validate", str(pkg), "--conn", conn])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["exec", str(pkg), "--conn", conn])
    assert result.exit_code == 0, result.output
    assert (hadoop.root / "a").read_bytes() == b"a"
    hive = tmp_path / "h.dtsx"
    hive.write_text(package(8, [task("HadoopHiveTask", InlineScript="echo 1")], connections=[
        hadoop_cm(hadoop.connection_string(WebHCatAuthType="Kerberos"))]))
    result = CliRunner().invoke(cli, ["validate", str(hive)])
    assert "Kerberos authentication for WebHCat (WebHCatAuthType=Kerberos)" in result.output
    assert not hadoop.templeton()


# --------------------------------------------------------------------------- Hive and Pig


def hive(script: str, timeout: str = "5", **attrs: Any) -> Exe:
    attrs.setdefault("SourceType", "DirectInput")
    return task("HadoopHiveTask", InlineScript=script, TimeoutInMinutes=timeout, **attrs)


def test_hive_job_is_submitted_polled_and_its_stdout_reported(hadoop: HadoopServer) -> None:
    hadoop.job_startup = 0.2
    r = run(hadoop, hive("echo id\tname\necho 1\tAda\nwarn 2 rows fetched\nSELECT 42;"))
    ok(r)
    (job,) = hadoop.jobs.values()
    assert (job.language, job.user, job.script) == \
        ("hive", "etl", "echo id\tname\necho 1\tAda\nwarn 2 rows fetched\nSELECT 42;")
    assert job.statusdir.startswith("/tmp/ssisrun/")
    assert job.polls >= 2  # still in PREP at the first poll
    calls = hadoop.templeton()
    assert calls[0] == ("POST", "hive")
    assert set(calls[1:]) == {("GET", f"jobs/{job.id}")}
    assert f"Hive job {job.id} stdout:\nid\tname\n1\tAda\n42" in r.text(EventKind.OnInformation)
    assert "stderr (end):\n2 rows fetched" in r.text(EventKind.OnInformation)
    assert f"Hive job {job.id} succeeded (exit code 0)" in r.text(EventKind.OnInformation)
    assert not (hadoop.root / job.statusdir.lstrip("/")).exists()  # cleaned up


def test_pig_script_file_on_hdfs(hadoop: HadoopServer) -> None:
    hadoop.put("/user/etl/scripts/load.pig", b"-- a Pig script\ncat /data/in.txt\n")
    hadoop.put("/data/in.txt", b"peppa\ngeorge\n")
    t = task("HadoopPigTask", SourceType="ScriptFile", ScriptFilePath="scripts/load.pig",
             TimeoutInMinutes="5")
    r = run(hadoop, t)
    ok(r)
    (job,) = hadoop.jobs.values()
    assert job.language == "pig"
    assert "stdout:\npeppa\ngeorge" in r.text(EventKind.OnInformation)
    assert hadoop.templeton()[0] == ("POST", "pig")


def test_a_failed_job_fails_the_task_with_its_stderr(hadoop: HadoopServer) -> None:
    r = run(hadoop, hive("echo partial\nwarn loading t1\nfail 3\necho never"))
    assert r.result.result == ExecResult.Failure
    (job,) = hadoop.jobs.values()
    assert f"the Hive job {job.id} failed (state SUCCEEDED, exit code 3)" in r.error
    assert r.error.endswith("the end of its stderr:\nloading t1\nFAILED: script exited with 3")
    assert f"its output stays in {job.statusdir}" in r.error
    assert "stdout:\npartial" in r.text(EventKind.OnInformation)
    r = run(hadoop, hive("SELEKT 1;"))
    assert "ParseException line 1:0 cannot recognize input near 'SELEKT'" in r.error


def test_the_timeout_kills_the_job(hadoop: HadoopServer) -> None:
    r = run(hadoop, hive("echo started\nsleep 30\necho done", timeout="0.01"))
    assert r.result.result == ExecResult.Failure
    (job,) = hadoop.jobs.values()
    assert f"the Hive job {job.id} did not finish within TimeoutInMinutes (0.01); it was " \
           "killed" in r.error
    assert ("DELETE", f"jobs/{job.id}") in hadoop.templeton()
    assert job.killed.is_set() and job.state == "KILLED"
    assert r.elapsed < 5


def test_cancelling_the_run_kills_the_job(hadoop: HadoopServer) -> None:
    cancel = threading.Event()

    def cancel_when_running() -> None:
        wait_for(lambda: any(j.state == "RUNNING" for j in hadoop.jobs.values()))
        cancel.set()

    threading.Thread(target=cancel_when_running, daemon=True).start()
    r = run(hadoop, hive("sleep 30"), cancel=cancel)
    assert r.result.result == ExecResult.Canceled
    (job,) = hadoop.jobs.values()
    assert ("DELETE", f"jobs/{job.id}") in hadoop.templeton()
    assert job.state == "KILLED" and r.elapsed < 5


def test_timeout_zero_submits_and_does_not_wait(hadoop: HadoopServer) -> None:
    r = run(hadoop, hive("sleep 0.3\necho later", timeout="0"))
    ok(r)
    (job,) = hadoop.jobs.values()
    assert job.polls == 0 and hadoop.templeton() == [("POST", "hive")]
    assert "runs on without waiting" in r.text(EventKind.OnInformation)
    assert wait_for(lambda: job.completed == "done")


def test_hive_without_webhdfs_reports_the_exit_code_only(hadoop: HadoopServer) -> None:
    r = run(hadoop, hive("echo 1"), EnableWebHdfs="False")
    ok(r)
    assert "stay in /tmp/ssisrun/" in "\n".join(r.descriptions(EventKind.OnWarning))
    r = run(hadoop, hive("fail 2"), EnableWebHdfs="False")
    assert "exit code 2" in r.error


def test_hive_settings_errors(hadoop: HadoopServer) -> None:
    assert "InlineScript is empty" in run(hadoop, hive("  ")).error
    assert "TimeoutInMinutes must be a number" in run(hadoop, hive("echo", "soon")).error
    assert "SourceType 'Query' is not DirectInput or ScriptFile" in \
        run(hadoop, hive("echo", SourceType="Query")).error
    assert "does not enable WebHCat (EnableWebHCat=False)" in \
        run(hadoop, hive("echo 1"), EnableWebHCat="False").error
    r = run(hadoop, task("HadoopPigTask", SourceType="ScriptFile",
                         ScriptFilePath="/none.pig", TimeoutInMinutes="1"))
    assert "File /none.pig does not exist." in r.error and "exit code 1" in r.error


# --------------------------------------------------------------------------- corpus


def corpus_package(name: str) -> Path:
    path = CORPUS_DIR / "dtsx" / CHAPTER2 / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the corpus")
    return path


def test_corpus_copy_to_hdfs_package(hadoop: HadoopServer, tmp_path: Path) -> None:
    pkg = corpus_package("3.4.1 Système de fichier Hadoop.dtsx")
    data = "Nom du site;Adresse\r\nBibliothèque;1 rue X\r\n".encode() * 2000
    (tmp_path / "hotspots_paris_wi-fi.csv").write_bytes(data)
    result = CliRunner().invoke(cli, [
        "exec", str(pkg), "--no-project",
        "--conn", f"Gestionnaire de connexions Hadoop={hadoop.connection_string('haddark')}",
        "--path-map", f"D:\\GIT\\Livre%20SSIS\\Scripts\\Chapitre 2\\Fichiers démo\\ADLS\\="
                      f"{tmp_path}/"])
    assert result.exit_code == 0, result.output
    assert (hadoop.root / "user/haddark/toto.csv").read_bytes() == data
    assert [(q.path.startswith("/datanode"), q.query.get("user.name")) for q in
            hadoop.requests if q.op == "CREATE"] == [(False, "haddark"), (True, "haddark")]


def test_corpus_hive_and_pig_package_with_its_project_connection(
        hadoop: HadoopServer, tmp_path: Path) -> None:
    pkg = corpus_package("3.4.2 - 3.4.3 Hadoop Hive et Pig.dtsx")
    other = CORPUS_DIR / "other" / CHAPTER2
    if not (other / "Hadoop.conmgr").is_file():
        pytest.skip("the project's Hadoop.conmgr is not in the corpus")
    project = tmp_path / "Chapitre2"
    project.mkdir()
    for source in [*other.iterdir(), pkg]:
        (project / source.name).symlink_to(source)
    hadoop.put("/user/haddark/Peppa.pig", b"echo Peppa Pig\n")
    args = ["--project", str(project), "--package", pkg.name,
            "--conn", f"Hadoop={hadoop.connection_string('haddark')}"]
    result = CliRunner().invoke(cli, ["validate", *args])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["exec", *args, "--reporting", "EWI"])
    assert result.exit_code == 0, result.output
    jobs = sorted(hadoop.jobs.values(), key=lambda j: j.language)
    assert [(j.language, j.user, j.exit_value) for j in jobs] == \
        [("hive", "haddark", 0), ("pig", "haddark", 0)]
    assert jobs[0].script == "SELECT 1;"
    assert "stdout:" in result.output and "Peppa Pig" in result.output
