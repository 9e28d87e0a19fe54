"""--log-json (SSIS's log columns, one JSON object per line) and --junit (one testcase per
executable), both event subscribers, from the library and from ``ssisrun exec``."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from xml.etree import ElementTree as ET

from builders import Constraint, Exe, Var, package, package_parameter
from click.testing import CliRunner

from ssisrun.cli import cli
from ssisrun.reports import JsonLinesLog, JUnitReport, redact
from ssisrun.runtime import Event, EventKind

COLUMNS = {"event", "computer", "operator", "source", "sourceid", "executionid", "starttime",
           "endtime", "datacode", "databytes", "message"}


def expr_task(name: str, expression: str) -> Exe:
    return Exe(name, "Microsoft.ExpressionTask",
               object_data=f'<ExpressionTask Expression="{escape(expression)}" />')


# a task that fails, one recovering through a Failure constraint, one skipped
FAILING = package(8, [
    Exe("Seq", "seq", children=[expr_task("Divide", "@[User::N] = 1 / 0")]),
    expr_task("Recover", '@[User::S] = "recovered"'),
    expr_task("Never", '@[User::S] = "never"'),
], variables=[Var("N", 3, "0"), Var("S")], props={"MaxErrorCount": 5},
    constraints=[Constraint("Seq", "Recover", "f", value=1), Constraint("Seq", "Never", "s")])


def lines(path: Path) -> list[dict[str, object]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_json_lines_log_of_a_run(tmp_path: Path, runner: CliRunner) -> None:
    pkg = tmp_path / "Pkg.dtsx"
    pkg.write_text(FAILING, encoding="utf-8")
    log = tmp_path / "run.jsonl"
    result = runner.invoke(cli, ["exec", str(pkg), "--log-json", str(log)])
    assert result.exit_code == 0, result.output
    entries = lines(log)
    assert all(COLUMNS <= set(e) for e in entries)
    assert entries[0]["event"] == "PackageStart"
    assert entries[-1]["event"] == "PackageEnd" and entries[-1]["datacode"] == 0
    ids = {e["executionid"] for e in entries}
    assert len(ids) == 1 and str(ids.pop()).startswith("{")
    errors = [e for e in entries if e["event"] == "OnError"]
    assert [e["source"] for e in errors] == ["Divide"]
    assert isinstance(errors[0]["datacode"], int) and errors[0]["datacode"] < 0
    assert "Divide" in str(errors[0]["sourcepath"])
    pre = [e["source"] for e in entries if e["event"] == "OnPreExecute"]
    assert pre[:3] == ["Pkg", "Seq", "Divide"] and "Recover" in pre and "Never" not in pre


def test_json_log_never_holds_sensitive_values(tmp_path: Path, runner: CliRunner) -> None:
    xml = package(8, [expr_task("Leak", "@[User::N] = (DT_I4) @[$Package::Secret]")],
                  variables=[Var("N", 3, "0")],
                  parameters=[package_parameter("Secret", 8, "", Sensitive=True)])
    pkg = tmp_path / "Pkg.dtsx"
    pkg.write_text(xml, encoding="utf-8")
    log = tmp_path / "run.jsonl"
    result = runner.invoke(cli, ["exec", str(pkg), "--log-json", str(log), "--set",
                                 "\\Package.Variables[$Package::Secret];hunter2-secret"])
    assert result.exit_code == 1  # the task fails with a message that quotes the value
    assert "is not a number" in result.output and "********" in result.output
    assert "hunter2-secret" not in result.output
    assert "hunter2-secret" not in log.read_text(encoding="utf-8")
    assert "********" in log.read_text(encoding="utf-8")
    assert redact("pwd=abc;x hunter2", ["hunter2"]) == "pwd=********;x ********"


def test_json_log_holds_events_until_the_execution_id_is_known(tmp_path: Path) -> None:
    log = JsonLinesLog(tmp_path / "l.jsonl")
    log.on_event(Event(EventKind.OnWarning, "\\Package", "Pkg", "{1}", 0x80012059, "w"))
    assert (tmp_path / "l.jsonl").read_text() == ""
    log.set_execution_id("{E}")
    log.on_event(Event(EventKind.OnInformation, "\\Package", "Pkg", "{1}", 0, "i"))
    log.close()
    entries = lines(tmp_path / "l.jsonl")
    assert [e["executionid"] for e in entries] == ["{E}", "{E}"]
    assert entries[0]["datacode"] == -2147409831


def test_junit_report(tmp_path: Path, runner: CliRunner) -> None:
    pkg = tmp_path / "Pkg.dtsx"
    pkg.write_text(FAILING, encoding="utf-8")
    report = tmp_path / "out" / "junit.xml"
    report.parent.mkdir()
    result = runner.invoke(cli, ["exec", str(pkg), "--junit", str(report)])
    assert result.exit_code == 0, result.output
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"\\Package", "\\Package\\Seq", "\\Package\\Seq\\Divide",
                          "\\Package\\Recover", "\\Package\\Never"}
    assert all(c.get("classname") == "Pkg" for c in cases.values())
    assert all(float(c.get("time", "x")) >= 0 for c in cases.values())
    failure = cases["\\Package\\Seq\\Divide"].find("failure")
    assert failure is not None and "divide" in (failure.text or "").lower()
    assert cases["\\Package\\Seq"].find("failure") is not None  # the container failed too
    assert cases["\\Package\\Never"].find("skipped") is not None
    assert cases["\\Package\\Recover"].find("failure") is None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "2", "1")
    assert [p.name for p in report.parent.iterdir()] == ["junit.xml"]  # no temporary left


def test_junit_writes_only_at_the_end(tmp_path: Path) -> None:
    report = JUnitReport(tmp_path / "j.xml", "Pkg")
    report.on_event(Event(EventKind.ExecutableFinished, "\\Package\\A", "A",
                          data={"result": 0, "duration": 0.5}))
    assert not (tmp_path / "j.xml").exists()
    report.on_event(Event(EventKind.PackageFinished, "\\Package", "Pkg", data={"result": 0}))
    case = ET.parse(tmp_path / "j.xml").getroot().find("testsuite/testcase")
    assert case is not None and case.get("time") == "0.500"
