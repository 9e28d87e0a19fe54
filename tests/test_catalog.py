"""The execution catalog: SSISDB's status codes and stored-procedure flow, logging levels,
attempts kept apart, worker agents, and the reports (text, JSON, HTML) through the CLI."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from scaleout_util import expr_package, sh_package, write

from ssisrun.catalog import Catalog, CatalogError, MessageType, NewMessage, Status
from ssisrun.catalog.store import ExecutionNotFoundError, default_url
from ssisrun.cli import cli
from ssisrun.scaleout import InProcessRunner, LocalScaleOut, PackageSpec, submit

PARAM = ('<DTS:PackageParameter DTS:ObjectName="Dir" DTS:DataType="8" '
         'DTS:DTSID="{11111111-2222-3333-4444-555555555555}">'
         '<DTS:Property DTS:Name="ParameterValue">/in</DTS:Property>'
         '</DTS:PackageParameter>')


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield cat
    cat.close()


def test_status_codes_and_message_types_are_ssisdbs() -> None:
    assert [(s.value, s.label) for s in Status] == [
        (1, "created"), (2, "running"), (3, "canceled"), (4, "failed"), (5, "pending"),
        (6, "ended unexpectedly"), (7, "succeeded"), (8, "stopping"), (9, "completed")]
    assert (MessageType.error, MessageType.warning, MessageType.information) == (120, 110, 70)
    assert (MessageType.pre_validate, MessageType.post_validate, MessageType.pre_execute,
            MessageType.post_execute, MessageType.progress) == (10, 20, 30, 40, 60)


def test_the_default_catalog_is_a_private_file_in_the_data_folder(tmp_path: Path) -> None:
    path = Path(os.environ["XDG_DATA_HOME"]) / "ssisrun" / "catalog.db"
    assert default_url() == f"sqlite:///{path}"
    Catalog().close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_stored_procedure_flow(catalog: Catalog, tmp_path: Path) -> None:
    pkg = write(tmp_path, "P", expr_package())
    execution_id = submit(catalog, PackageSpec(str(pkg)), start=False)
    execution = catalog.execution(execution_id)
    assert execution.status == Status.created and execution.use_any_worker
    system = {p.parameter_name: p.parameter_value for p in catalog.parameters(execution_id)
              if p.object_type == 50}
    assert system["LOGGING_LEVEL"] == "1" and "SYNCHRONIZED" in system
    catalog.set_parameter(execution_id, 50, "LOGGING_LEVEL", "Verbose")
    with pytest.raises(CatalogError, match="any worker"):
        catalog.add_worker(execution_id, "local-1")
    catalog.start(execution_id, 2)
    assert catalog.execution(execution_id).status == Status.pending
    with pytest.raises(CatalogError, match="only before it starts"):
        catalog.set_parameter(execution_id, 50, "LOGGING_LEVEL", "Basic")
    with pytest.raises(CatalogError, match="started only once"):
        catalog.start(execution_id)
    assert catalog.stop(execution_id) == Status.canceled
    assert catalog.execution(execution_id).end_time is not None
    with pytest.raises(ExecutionNotFoundError):
        catalog.execution(999)


def test_package_parameters_are_copied_in_and_names_are_case_sensitive(
        catalog: Catalog, tmp_path: Path) -> None:
    from builders import package

    pkg = write(tmp_path, "P", package(8, [], parameters=[PARAM]))
    execution_id = submit(catalog, PackageSpec(str(pkg)), start=False)
    catalog.set_parameter(execution_id, 30, "Dir", "/srv")
    with pytest.raises(CatalogError, match="case-sensitive"):
        catalog.set_parameter(execution_id, 30, "dir", "/srv")
    values = {(p.object_type, p.parameter_name): p for p in catalog.parameters(execution_id)}
    assert values[(30, "Dir")].parameter_value == "/srv"
    assert values[(30, "Dir")].runtime_override


def test_a_late_write_from_an_older_attempt_is_ignored(catalog: Catalog,
                                                        tmp_path: Path) -> None:
    pkg = write(tmp_path, "P", expr_package())
    execution_id = submit(catalog, PackageSpec(str(pkg), retry_count=1))
    catalog.register_worker("w1")
    first = catalog.claim("w1")
    assert first is not None and first.attempt == 1
    assert catalog.finish_attempt(execution_id, 1, Status.failed) == Status.pending
    second = catalog.claim("w1", grace=0)
    assert second is not None and second.attempt == 2
    assert not catalog.add_messages(execution_id, 1, [NewMessage("late", MessageType.error)])
    assert catalog.finish_attempt(execution_id, 1, Status.succeeded) is None
    assert catalog.finish_attempt(execution_id, 2, Status.failed) == Status.failed
    assert "late" not in [m.message for m in catalog.messages(execution_id)]
    assert [a.status for a in catalog.attempts(execution_id)] == [4, 4]


def test_logging_level_none_keeps_only_the_status(catalog: Catalog, tmp_path: Path) -> None:
    pkg = write(tmp_path, "P", expr_package())
    quiet = submit(catalog, PackageSpec(str(pkg), logging_level="None"))
    perf = submit(catalog, PackageSpec(str(pkg), logging_level="Performance"))
    basic = submit(catalog, PackageSpec(str(pkg)))
    LocalScaleOut(catalog, workers=1, runner=InProcessRunner()).run([quiet, perf, basic])
    assert catalog.execution(quiet).status == Status.succeeded
    assert catalog.messages(quiet) == [] and catalog.statistics(quiet) == []
    assert catalog.messages(perf) == [] and len(catalog.statistics(perf)) == 2
    kinds = {m.message_type for m in catalog.messages(basic)}
    assert {10, 20, 30, 40} <= kinds and 200 not in kinds
    with pytest.raises(CatalogError, match="None, Basic"):
        catalog.set_parameter(submit(catalog, PackageSpec(str(pkg)), start=False), 50,
                              "LOGGING_LEVEL", "Loud")


def test_a_disabled_worker_takes_nothing(catalog: Catalog, tmp_path: Path) -> None:
    pkg = write(tmp_path, "P", expr_package())
    submit(catalog, PackageSpec(str(pkg)))
    catalog.register_worker("w1")
    catalog.set_worker_enabled("w1", False)
    assert catalog.claim("w1") is None
    catalog.set_worker_enabled("w1", True)
    assert catalog.claim("w1") is not None


def test_the_sweep_ends_executions_whose_process_is_gone(catalog: Catalog,
                                                         tmp_path: Path) -> None:
    pkg = write(tmp_path, "P", expr_package())
    execution_id = submit(catalog, PackageSpec(str(pkg)))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    catalog.take_ownership([execution_id], pid=gone.pid)
    catalog.register_worker("w1")
    assert catalog.claim("w1") is not None
    assert catalog.sweep() == [execution_id]
    assert catalog.execution(execution_id).status == Status.ended_unexpectedly
    assert catalog.attempts(execution_id)[0].status == Status.ended_unexpectedly


# ------------------------------------------------------------------ the CLI


def invoke(runner: CliRunner, db: Path, *args: str) -> object:
    result = runner.invoke(cli, ["catalog", "--catalog", f"sqlite:///{db}", *args])
    return result


def test_cli_flow_reports_and_workers(runner: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    pkg = write(tmp_path, "Load", expr_package("Load"))
    created = runner.invoke(cli, ["catalog", "--catalog", f"sqlite:///{db}",
                                  "create-execution", str(pkg), "--no-use-any-worker"])
    assert created.exit_code == 0, created.output
    execution_id = created.output.strip()
    base = ["catalog", "--catalog", f"sqlite:///{db}"]
    refused = runner.invoke(cli, [*base, "add-worker", execution_id, "local-2"])
    assert refused.exit_code == 1 and "no worker agent 'local-2'" in refused.output
    assert runner.invoke(cli, [*base, "workers", "add", "local-2"]).exit_code == 0
    assert runner.invoke(cli, [*base, "add-worker", execution_id, "local-2"]).exit_code == 0
    assert runner.invoke(cli, [*base, "set-parameter", execution_id, "--object-type", "50",
                               "LOGGING_LEVEL", "Verbose"]).exit_code == 0
    bad = runner.invoke(cli, [*base, "set-parameter", execution_id, "--object-type", "50",
                              "LOGGING_LEVEL", "100"])
    assert bad.exit_code == 6 and "Customized" in bad.output
    started = runner.invoke(cli, [*base, "start", execution_id, "--retry-count", "1",
                                  "--workers", "2", "--in-process"])
    assert started.exit_code == 0, started.output
    assert "running, attempt 1/2 on local-2" in started.output
    assert "1 succeeded" in started.output
    listing = runner.invoke(cli, [*base, "executions"])
    assert listing.exit_code == 0
    header, row = listing.output.splitlines()[:2]
    assert header.split() == ["ID", "Package", "Status", "Start", "Duration", "Worker",
                              "Attempts"]
    assert row.split()[:3] == [execution_id, "Load", "succeeded"] and "local-2" in row
    data = json.loads(runner.invoke(cli, [*base, "executions", "--format", "json"]).output)
    assert data[0]["status"] == 7 and data[0]["attempts"] == 1
    html = tmp_path / "r.html"
    report = runner.invoke(cli, [*base, "report", execution_id, "--format", "json",
                                 "--html", str(html)])
    assert report.exit_code == 0, report.output
    overview = json.loads(report.output)
    assert overview["execution"]["logging_level"] == "Verbose"
    assert overview["execution"]["allowed_workers"] == ["local-2"]
    paths = [s["execution_path"] for s in overview["executables"]]
    assert paths == ["\\Package", "\\Package\\Set"] or set(paths) == {"\\Package",
                                                                       "\\Package\\Set"}
    assert all(s["result_name"] == "Success" for s in overview["executables"])
    assert any(m["message_type"] == 30 for m in overview["messages"])
    page = html.read_text()
    assert "<script" not in page and "class='timeline'" in page
    assert "\\Package\\Set" in page and "Load" in page and "succeeded" in page
    text = runner.invoke(cli, [*base, "report", execution_id])
    assert "Status:    succeeded (7)" in text.output and "\\Package\\Set" in text.output
    workers = runner.invoke(cli, [*base, "workers"])
    assert "local-1" in workers.output and "local-2" in workers.output
    assert runner.invoke(cli, [*base, "workers", "disable", "local-1"]).exit_code == 0
    listed = json.loads(runner.invoke(cli, [*base, "workers", "--format", "json"]).output)
    assert {w["worker_agent_id"]: w["is_enabled"] for w in listed} == {
        "local-1": False, "local-2": True}
    assert runner.invoke(cli, [*base, "workers", "enable", "nope"]).exit_code == 1


def test_cli_stop_and_a_failed_start(runner: CliRunner, tmp_path: Path) -> None:
    base = ["catalog", "--catalog", f"sqlite:///{tmp_path / 'c.db'}"]
    pkg = write(tmp_path, "Bad", sh_package("exit 2", "Bad"))
    execution_id = runner.invoke(cli, [*base, "create-execution", str(pkg)]).output.strip()
    result = runner.invoke(cli, [*base, "start", execution_id, "--workers", "1",
                                 "--in-process"])
    assert result.exit_code == 1
    assert f"#{execution_id} Bad: failed after 1 attempt(s)" in result.output
    stopped = runner.invoke(cli, [*base, "stop", execution_id])
    assert stopped.exit_code == 1 and "already ended (failed)" in stopped.output
    missing = runner.invoke(cli, [*base, "report", "77"])
    assert missing.exit_code == 4 and "no execution 77" in missing.output
