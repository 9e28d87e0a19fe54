"""/Set property paths and package configurations (spec ssis-runtime.md 1.4, 1.6, 2.16),
run through the engine and through ``ssisrun exec``."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pytest
from builders import Exe, Var, configuration, connection_manager, package, package_parameter
from click.testing import CliRunner

from ssisrun.cli import cli
from ssisrun.dtsx import load_package_bytes
from ssisrun.errors import ExitCode
from ssisrun.model import ExecResult
from ssisrun.runtime import Event, EventBus, EventKind, RunRequest
from ssisrun.runtime.configurations import read_config_file
from ssisrun.runtime.engine import Engine
from ssisrun.runtime.setvalues import CONFIG_FILE, SetValueError, parse_property_path

EXPR = "Microsoft.ExpressionTask"


def expr_task(name: str, expression: str) -> Exe:
    return Exe(name, EXPR, object_data=f'<ExpressionTask Expression="{escape(expression)}" />')


def run(xml: str, request: RunRequest | None = None,
        source: str = "test.dtsx") -> tuple[Engine, list[Event]]:
    pkg = load_package_bytes(xml.encode(), source)
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    engine = Engine(pkg, request, bus)
    engine.result = engine.run()  # type: ignore[attr-defined]
    return engine, events


def value(engine: Engine, name: str, exe: object = None) -> object:
    target = exe if exe is not None else engine.package
    return engine.scopes[id(target)].get(name)


def warnings(events: list[Event]) -> list[str]:
    return [e.description for e in events if e.kind == EventKind.OnWarning]


def config_file(path: Path, *entries: tuple[str, str]) -> Path:
    items = "".join(
        f'<Configuration ConfiguredType="Property" Path="{escape(p)}" ValueType="String">'
        f"<ConfiguredValue>{escape(v)}</ConfiguredValue></Configuration>" for p, v in entries)
    path.write_text('<?xml version="1.0"?><DTSConfiguration><DTSConfigurationHeading>'
                    '<DTSConfigurationFileInfo GeneratedBy="X" GeneratedDate="30.03.2009 '
                    f'13:27:03"/></DTSConfigurationHeading>{items}</DTSConfiguration>',
                    encoding="utf-8")
    return path


SEQ = Exe("Seq", "seq", variables=[Var("Inner", 3, "1")],
          children=[expr_task("Copy", "@[User::Out] = (DT_WSTR, 10) @[User::Inner]")])
BASIC = package(8, [SEQ], variables=[Var("N", 3, "0"), Var("S", 8, "design"), Var("Out")],
                connections=[connection_manager(8, "Src", "OLEDB", "Data Source=design")])


# --------------------------------------------------------------------------- /Set


@pytest.mark.parametrize("path", [
    "\\Package.Variables[User::N].Properties[Value]",
    "\\Package.Variables[User::N].Value",
    "\\package.variables[n].value",
    "\\Package.Variables[N]",
])
def test_set_a_package_variable_in_each_spelling(path: str) -> None:
    engine, _ = run(BASIC, RunRequest(set_values=[(path, "42")]))
    assert value(engine, "User::N") == 42


def test_set_a_container_variable_which_its_task_then_reads() -> None:
    request = RunRequest(set_values=[("\\Package\\Seq.Variables[User::Inner].Value", "7")])
    engine, _ = run(BASIC, request)
    assert value(engine, "User::Out") == "7"


def test_set_a_parameter_and_a_connection_string() -> None:
    xml = package(8, [], parameters=[package_parameter("Dir", 8, "/design")],
                  connections=[connection_manager(8, "Src", "OLEDB", "Data Source=design")])
    request = RunRequest(set_values=[
        ("\\Package.Variables[$Package::Dir]", "/srv/in"),
        ("\\Package.Connections[Src].Properties[ConnectionString]", "Data Source=cli"),
    ])
    engine, _ = run(xml, request)
    assert value(engine, "$Package::Dir") == "/srv/in"
    assert engine.connection("Src", engine.scopes[id(engine.package)])[1] == "Data Source=cli"


def test_set_package_properties_max_concurrent_and_maximum_error_count() -> None:
    xml = package(8, [expr_task("Bad", "@[User::N] = 1 / 0"), expr_task("Ok", "@[User::N] = 2")],
                  variables=[Var("N", 3, "0")])
    request = RunRequest(set_values=[("\\Package.Properties[MaxConcurrentExecutables]", "3"),
                                     ("\\Package.Properties[MaximumErrorCount]", "5")])
    engine, _ = run(xml, request)
    assert engine.max_concurrent == 3
    # one error is below the MaximumErrorCount of 5 set on the command line
    assert engine.result.result == ExecResult.Success  # type: ignore[attr-defined]
    assert value(engine, "User::N") == 2


def test_set_disable_on_a_task_skips_it() -> None:
    request = RunRequest(set_values=[("\\Package\\Seq\\Copy.Properties[Disable]", "True")])
    engine, _ = run(BASIC, request)
    assert value(engine, "User::Out") == ""


def test_set_the_expression_of_a_variable() -> None:
    xml = package(8, [], variables=[Var("E", 8, "", props={"EvaluateAsExpression": True,
                                                            "Expression": '"old"'})])
    request = RunRequest(set_values=[
        ("\\Package.Variables[User::E].Properties[Expression]", '"new" + "!"')])
    engine, _ = run(xml, request)
    assert value(engine, "User::E") == "new!"


@pytest.mark.parametrize(("path", "text", "message"), [
    ("\\Package.Variables[User::Nope].Value", "1", "has no variable User::Nope"),
    ("\\Package.Variables[User::N].Value", "abc", "is not a valid Int32"),
    ("\\Package\\Missing.Variables[User::N].Value", "1", "no executable named 'Missing'"),
    ("\\Package.Connections[Nope].Properties[ConnectionString]", "x", "no connection manager"),
    ("\\Package.Properties[Colour]", "1", "cannot set the property 'Colour'"),
    ("\\Package.Properties[MaxConcurrentExecutables]", "many", "not an integer"),
    ("Package.Variables[User::N].Value", "1", "does not start with \\Package"),
])
def test_set_path_that_names_nothing_or_value_that_does_not_fit(path: str, text: str,
                                                               message: str) -> None:
    with pytest.raises(SetValueError) as info:
        run(BASIC, RunRequest(set_values=[(path, text)]))
    assert info.value.exit_code == ExitCode.BAD_COMMAND_LINE
    assert message in str(info.value)


def test_property_path_parsing_keeps_dots_in_names() -> None:
    parsed = parse_property_path(
        "\\Package\\Load.Data.Connections[a.b.c].Properties[ConnectionString]")
    assert parsed.executables == ["Load.Data"]
    assert (parsed.collection, parsed.key, parsed.property) == (
        "Connections", "a.b.c", "ConnectionString")


def test_cli_set_changes_the_run_and_a_bad_path_exits_6(tmp_path: Path,
                                                        runner: CliRunner) -> None:
    xml = package(8, [expr_task("Check", "@[User::Out] = (DT_WSTR, 5) (10 / (@[User::N] - 41))")],
                  variables=[Var("N", 3, "0"), Var("Out")])
    pkg = tmp_path / "Pkg.dtsx"
    pkg.write_text(xml, encoding="utf-8")
    ok = runner.invoke(cli, ["exec", str(pkg), "--set",
                             "\\Package.Variables[User::N].Properties[Value];42"])
    assert ok.exit_code == 0, ok.output
    failed = runner.invoke(cli, ["exec", str(pkg), "--set",
                                 "\\Package.Variables[User::N].Value;41"])
    assert failed.exit_code == 1
    bad = runner.invoke(cli, ["exec", str(pkg), "--set", "\\Package.Variables[User::X].Value;1"])
    assert bad.exit_code == 6
    assert "\\Package.Variables[User::X].Value" in bad.output
    assert "Started:" not in bad.output  # refused before the run starts
    nosemi = runner.invoke(cli, ["exec", str(pkg), "--set", "\\Package.Variables[User::N]"])
    assert nosemi.exit_code == 6


def test_cli_set_gives_a_required_parameter_its_value(tmp_path: Path,
                                                      runner: CliRunner) -> None:
    check = '@[User::Out] = (DT_WSTR, 5) (10 / (@[$Package::Dir] == "/srv" ? 1 : 0))'
    xml = package(8, [expr_task("Check", check)], variables=[Var("Out")],
                  parameters=[package_parameter("Dir", 8, "", Required=True)])
    pkg = tmp_path / "Pkg.dtsx"
    pkg.write_text(xml, encoding="utf-8")
    assert runner.invoke(cli, ["exec", str(pkg)]).exit_code == 1
    result = runner.invoke(cli, ["exec", str(pkg), "--set",
                                 "\\Package.Variables[$Package::Dir];/srv"])
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- configurations


def configured(tmp_path: Path, *configs: str, enabled: bool = True,
               variables: list[Var] | None = None) -> str:
    return package(8, [], props={"EnableConfig": enabled} if enabled else {},
                   variables=variables or [Var("N", 3, "0"), Var("S", 8, "design")],
                   connections=[connection_manager(8, "Src", "OLEDB", "Data Source=design")],
                   configurations=list(configs))


def test_xml_configuration_with_a_windows_path_mapped(tmp_path: Path) -> None:
    config_file(tmp_path / "a.dtsConfig",
                ("\\Package.Variables[User::N].Properties[Value]", "5"),
                ("\\Package.Connections[Src].Properties[ConnectionString]", "Data Source=cfg"))
    xml = configured(tmp_path, configuration(8, "Cfg", 1, "C:\\etl\\cfg\\a.dtsConfig"))
    engine, events = run(xml, RunRequest(path_map=[("C:\\etl\\cfg\\", f"{tmp_path}/")]))
    assert value(engine, "User::N") == 5
    assert engine.connection("Src", engine.scopes[id(engine.package)])[1] == "Data Source=cfg"
    assert warnings(events) == []
    assert value(engine, "System::FailedConfigurations") == ""
    infos = [e.description for e in events if e.kind == EventKind.OnInformation]
    assert any("attempting to configure from the XML file" in i for i in infos)


def test_configurations_apply_only_with_enable_config(tmp_path: Path) -> None:
    config_file(tmp_path / "a.dtsConfig", ("\\Package.Variables[User::N].Value", "5"))
    cfg = configuration(8, "Cfg", 1, str(tmp_path / "a.dtsConfig"))
    engine, _ = run(configured(tmp_path, cfg, enabled=False))
    assert value(engine, "User::N") == 0


def test_configuration_wins_over_set_and_config_file_fills_the_rest(tmp_path: Path) -> None:
    config_file(tmp_path / "design.dtsConfig", ("\\Package.Variables[User::N].Value", "5"))
    config_file(tmp_path / "extra.dtsConfig", ("\\Package.Variables[User::N].Value", "6"),
                ("\\Package.Variables[User::S].Value", "from extra"))
    xml = configured(tmp_path, configuration(8, "Cfg", 1, str(tmp_path / "design.dtsConfig")))
    request = RunRequest(set_values=[(CONFIG_FILE, str(tmp_path / "extra.dtsConfig")),
                                     ("\\Package.Variables[User::N].Value", "9")])
    engine, _ = run(xml, request)
    assert value(engine, "User::N") == 5  # the design-time configuration is applied again
    assert value(engine, "User::S") == "from extra"


def test_environment_and_indirect_configurations(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    config_file(tmp_path / "ind.dtsConfig", ("\\Package.Variables[User::S].Value", "indirect"))
    monkeypatch.setenv("SSISRUN_TEST_N", "12")
    monkeypatch.setenv("SSISRUN_TEST_CFG", str(tmp_path / "ind.dtsConfig"))
    xml = configured(
        tmp_path,
        configuration(8, "Env", 2, "SSISRUN_TEST_N",
                      "\\Package.Variables[User::N].Properties[Value]"),
        configuration(8, "Indirect", 5, "SSISRUN_TEST_CFG"))
    engine, events = run(xml)
    assert value(engine, "User::N") == 12
    assert value(engine, "User::S") == "indirect"
    assert warnings(events) == []


def test_configurations_that_cannot_apply_are_warnings_and_failed_configurations(
        tmp_path: Path) -> None:
    config_file(tmp_path / "a.dtsConfig", ("\\Package.Variables[User::Gone].Value", "1"),
                ("\\Package.Variables[User::N].Value", "3"))
    xml = configured(
        tmp_path,
        configuration(8, "Parent", 0, "User::FromParent",
                      "\\Package.Variables[User::N].Properties[Value]"),
        configuration(8, "Sql", 7, '"Cm";"[dbo].[SSIS Configurations]";"Filter";'),
        configuration(8, "Missing", 1, "C:\\nowhere\\missing.dtsConfig"),
        configuration(8, "Partly", 1, str(tmp_path / "a.dtsConfig")),
        configuration(8, "NoEnv", 2, "SSISRUN_TEST_UNSET_VAR", "\\Package.Variables[User::S]"))
    engine, events = run(xml)
    text = "\n".join(warnings(events))
    assert "no parent package" in text
    assert "not supported yet" in text
    assert "missing.dtsConfig\" cannot be found" in text
    assert "User::Gone" in text
    assert "SSISRUN_TEST_UNSET_VAR is not set" in text
    assert engine.result.result == ExecResult.Success  # type: ignore[attr-defined]
    assert value(engine, "User::N") == 3  # the rest of a file still applies
    assert value(engine, "System::FailedConfigurations") == "Parent, Sql, Missing, Partly, NoEnv"
    assert engine.warnings == 5  # each reported once, not again in the second pass


def test_suppress_configuration_warnings(tmp_path: Path) -> None:
    xml = package(8, [], props={"EnableConfig": True, "SuppressConfigurationWarnings": True},
                  configurations=[configuration(8, "Sql", 7, '"a";"b";"c";')])
    engine, events = run(xml)
    assert warnings(events) == []
    assert value(engine, "System::FailedConfigurations") == "Sql"


def test_config_file_beside_the_package_when_its_path_is_elsewhere(tmp_path: Path,
                                                                   runner: CliRunner) -> None:
    config_file(tmp_path / "a.dtsConfig", ("\\Package.Variables[User::N].Value", "41"))
    xml = package(8, [expr_task("Check", "@[User::S] = (DT_WSTR, 5) (10 / (@[User::N] - 41))")],
                  props={"EnableConfig": True}, variables=[Var("N", 3, "0"), Var("S")],
                  configurations=[configuration(8, "Cfg", 1, "D:\\Deploy\\a.dtsConfig")])
    pkg = tmp_path / "Pkg.dtsx"
    pkg.write_text(xml, encoding="utf-8")
    # N = 41 from the configuration: the task divides by zero and the run fails
    result = runner.invoke(cli, ["exec", str(pkg), "--reporting", "EWI"])
    assert result.exit_code == 1, result.output
    assert "read from" in result.output


def test_cli_config_option_and_its_errors(tmp_path: Path, runner: CliRunner) -> None:
    xml = package(8, [expr_task("Check", "@[User::S] = (DT_WSTR, 5) (10 / (@[User::N] - 41))")],
                  variables=[Var("N", 3, "0"), Var("S")])
    pkg = tmp_path / "Pkg.dtsx"
    pkg.write_text(xml, encoding="utf-8")
    cfg = config_file(tmp_path / "x.dtsConfig", ("\\Package.Variables[User::N].Value", "41"))
    assert runner.invoke(cli, ["exec", str(pkg)]).exit_code == 0
    assert runner.invoke(cli, ["exec", str(pkg), "--config", str(cfg)]).exit_code == 1
    missing = runner.invoke(cli, ["exec", str(pkg), "--config", str(tmp_path / "no.dtsConfig")])
    assert missing.exit_code == 6 and "no such configuration file" in missing.output
    (tmp_path / "bad.dtsConfig").write_text("<Other/>", encoding="utf-8")
    bad = runner.invoke(cli, ["exec", str(pkg), "--config", str(tmp_path / "bad.dtsConfig")])
    assert bad.exit_code == 6 and "not a configuration file" in bad.output


def test_real_dtsconfig_files_read(corpus: Path) -> None:
    files = sorted((corpus / "other").rglob("*.dtsConfig"))
    assert files
    for file in files:
        entries = read_config_file(file)
        assert entries, file
        for entry in entries:
            parse_property_path(entry.path)
