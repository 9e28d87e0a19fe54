"""More of the run time: enumerators, path mapping, variable events, values and parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import Constraint, Exe, Handler, Var, package, package_parameter
from test_runtime import expr_task, run, value

from ssisrun.dtsx import load_package_bytes
from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind, RunRequest
from ssisrun.runtime.engine import Engine, RunError


def _enum(creation: str, object_data: str, *mappings: tuple[str, int]) -> str:
    maps = "".join(
        f'<DTS:ForEachVariableMapping DTS:CreationName="" DTS:DTSID="{{0000000{i}-0000-0000-'
        f'0000-000000000000}}" DTS:ObjectName="m{i}" DTS:ValueIndex="{index}" '
        f'DTS:VariableName="{name}"/>' for i, (name, index) in enumerate(mappings))
    return (f'<DTS:ForEachEnumerator DTS:CreationName="{creation}" '
            'DTS:DTSID="{99999999-0000-0000-0000-000000000001}" DTS:ObjectName="e">'
            f"<DTS:ObjectData>{object_data}</DTS:ObjectData></DTS:ForEachEnumerator>"
            f"<DTS:ForEachVariableMappings>{maps}</DTS:ForEachVariableMappings>")


def test_item_enumerator_maps_columns_by_value_index() -> None:
    items = ('<FEIEItems><FEIEItem><FEIEItemValue Type="8" Value="a"/>'
             '<FEIEItemValue Type="3" Value="1"/></FEIEItem>'
             '<FEIEItem><FEIEItemValue Type="8" Value="b"/>'
             '<FEIEItemValue Type="3" Value="2"/></FEIEItem></FEIEItems>')
    loop = Exe("Each", "foreach",
               extra=_enum("DTS.ForEachItemEnumerator.3", items, ("User::Name", 0),
                           ("User::N", 1)),
               children=[expr_task("Acc", "@[User::Log] = @[User::Log] + @[User::Name] + "
                                          "(DT_WSTR, 5) @[User::N]")])
    engine, _ = run(package(8, [loop], variables=[Var("Name"), Var("N", 3, "0"), Var("Log")]))
    assert value(engine, "User::Log") == "a1b2"


def test_ado_and_from_variable_enumerators_read_object_variables() -> None:
    ado = Exe("Rows", "foreach",
              extra=_enum("Microsoft.ForEachADOEnumerator",
                          '<FEEADO EnumType="EnumerateRowsInFirstTable" VarName="User::Rows"/>',
                          ("User::Name", 1)),
              children=[expr_task("Acc", "@[User::Log] = @[User::Log] + @[User::Name]")])
    xml = package(8, [ado], variables=[Var("Rows", 13, ""), Var("Name"), Var("Log")])
    pkg = load_package_bytes(xml.encode(), "t.dtsx")
    engine = Engine(pkg)
    scope = engine.scopes[id(pkg)]
    rows_var = scope.find("User::Rows")
    assert rows_var is not None
    engine.store.assign(rows_var, [(1, "x"), (2, "y")], scope, force=True)
    result = engine.run()
    assert result.result == ExecResult.Success
    assert scope.get("User::Log") == "xy"


def test_nodelist_enumerator_walks_xpath_matches() -> None:
    data = ('<ForEachNodeListEnumeratorProperties SourceDocumentSourceType="DirectInput" '
            'SourceDocument="&lt;r&gt;&lt;i&gt;1&lt;/i&gt;&lt;i&gt;2&lt;/i&gt;&lt;/r&gt;" '
            'EnumerationType="NodeText" OuterXPathString="/r/i"/>')
    loop = Exe("Nodes", "foreach",
               extra=_enum("Microsoft.ForEachNodeListEnumerator", data, ("User::T", 0)),
               children=[expr_task("Acc", "@[User::Log] = @[User::Log] + @[User::T]")])
    engine, _ = run(package(8, [loop], variables=[Var("T"), Var("Log")]))
    assert value(engine, "User::Log") == "12"


def test_file_enumerator_maps_windows_folders(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.csv").write_text("1")
    data = ('<ForEachFileEnumeratorProperties><FEFEProperty Folder="C:\\Data\\in"/>'
            '<FEFEProperty FileSpec="*.csv"/><FEFEProperty FileNameRetrievalType="0"/>'
            '<FEFEProperty Recurse="0"/></ForEachFileEnumeratorProperties>')
    loop = Exe("Files", "foreach",
               extra=_enum("Microsoft.ForEachFileEnumerator", data, ("User::F", 0)),
               children=[expr_task("Acc", "@[User::Log] = @[User::F]")])
    xml = package(8, [loop], variables=[Var("F"), Var("Log")])
    engine, _ = run(xml, RunRequest(path_map=[("C:\\Data\\", f"{tmp_path}/")]))
    assert value(engine, "User::Log") == f"{tmp_path}/in/x.csv"


def test_default_path_mapping_is_ssis_on_linux() -> None:
    engine = Engine(load_package_bytes(package(8, []).encode(), "t.dtsx"))
    assert engine.map_path("C:\\data\\in.csv") == "/data/in.csv"
    assert engine.map_path("relative\\file.txt") == "relative/file.txt"
    assert engine.map_path("/already/posix") == "/already/posix"


def test_missing_enumerator_folder_fails_the_loop_with_its_name() -> None:
    data = ('<ForEachFileEnumeratorProperties><FEFEProperty Folder="/no/such/dir"/>'
            '<FEFEProperty FileSpec="*"/></ForEachFileEnumeratorProperties>')
    loop = Exe("Files", "foreach", extra=_enum("Microsoft.ForEachFileEnumerator", data))
    engine, events = run(package(8, [loop]))
    assert engine.result.result == ExecResult.Failure  # type: ignore[attr-defined]
    assert any("/no/such/dir" in e.description for e in events if e.kind == EventKind.OnError)


def test_raise_changed_event_runs_the_handler() -> None:
    note = expr_task("Note", "@[User::Log] = @[User::Log] + @[System::VariableName] + \";\"")
    xml = package(8, [expr_task("Set", "@[User::Watched] = 5")],
                  variables=[Var("Watched", 3, "0", props={"RaiseChangedEvent": True}),
                             Var("Log")],
                  handlers=[Handler("OnVariableValueChanged", [note])])
    engine, events = run(xml)
    assert value(engine, "User::Log") == "User::Watched;"
    assert [e.kind for e in events].count(EventKind.OnVariableValueChanged) == 1


def test_exec_value_variable_and_forced_execution_value() -> None:
    task = expr_task("Calc", "@[User::A] = 6 * 7", ExecValueVariable="User::Got")
    forced = expr_task("Forced", "@[User::B] = 1", ForceExecValue=True, ExecValue=99,
                       ExecValueVariable="User::Got2")
    xml = package(8, [task, forced], variables=[Var("A", 3, "0"), Var("B", 3, "0"),
                                                Var("Got", 3, "0"), Var("Got2", 3, "0")])
    engine, _ = run(xml)
    assert value(engine, "User::Got") == 42
    assert value(engine, "User::Got2") == 99


def test_variable_types_are_fixed() -> None:
    xml = package(8, [expr_task("Bad", "@[User::N] = \"not a number\"")],
                  variables=[Var("N", 3, "1")])
    engine, events = run(xml)
    assert value(engine, "User::N") == 1
    assert engine.result.result == ExecResult.Failure  # type: ignore[attr-defined]


def test_required_parameter_without_value_stops_the_run() -> None:
    param = package_parameter("Dir", 8, "", Required=True)
    xml = package(8, [], parameters=[param])
    pkg = load_package_bytes(xml.encode(), "t.dtsx")
    pkg.parameters[0].value = None
    with pytest.raises(RunError, match=r"\$Package::Dir is Required"):
        Engine(pkg)
    Engine(pkg, RunRequest(parameters={"Dir": "/in"}))


def test_unknown_var_and_param_overrides_are_errors() -> None:
    pkg = load_package_bytes(package(8, []).encode(), "t.dtsx")
    with pytest.raises(RunError, match="no variable User::Nope"):
        Engine(pkg, RunRequest(variables={"Nope": "1"}))
    with pytest.raises(RunError, match="no parameter"):
        Engine(pkg, RunRequest(parameters={"Nope": "1"}))


def test_property_expressions_feed_the_task() -> None:
    task = Exe("Calc", "Microsoft.ExpressionTask",
               expressions={"Expression": "\"@[User::Out] = \" + (DT_WSTR, 5) @[User::In]"},
               object_data='<ExpressionTask Expression="@[User::Out] = 0" />')
    xml = package(8, [task], variables=[Var("In", 3, "7"), Var("Out", 3, "0")])
    engine, _ = run(xml)
    assert value(engine, "User::Out") == 7


def test_handler_sees_container_scoped_source_and_runs_once_per_error() -> None:
    count = expr_task("Count", "@[User::C] = @[User::C] + 1")
    seq = Exe("Seq", "seq", props={"MaxErrorCount": 0},
              children=[expr_task("Bad1", "@[User::N] = 1 / 0"),
                        expr_task("Bad2", "@[User::N] = 2 / 0")])
    xml = package(8, [seq], variables=[Var("N", 3, "0"), Var("C", 3, "0")],
                  props={"MaxErrorCount": 0}, handlers=[Handler("OnError", [count])])
    engine, _ = run(xml)
    assert value(engine, "User::C") == 2


def test_skipped_branch_skips_everything_after_it() -> None:
    xml = package(8, [expr_task("A", "@[User::N] = 1"), expr_task("B", "@[User::N] = 2"),
                      expr_task("C", "@[User::N] = 3")],
                  variables=[Var("N", 3, "0")],
                  constraints=[Constraint("A", "B", "ab", value=1),
                               Constraint("B", "C", "bc", value=2)])
    engine, events = run(xml)
    assert value(engine, "User::N") == 1
    assert [e.source_name for e in events if e.kind == EventKind.ExecutableSkipped] == ["B",
                                                                                        "C"]


def test_property_expressions_on_disable_and_maximum_error_count() -> None:
    off = Exe("Off", "Microsoft.ExpressionTask", expressions={"Disable": "@[User::Skip]"},
              object_data='<ExpressionTask Expression="@[User::Log] = &quot;ran&quot;" />')
    xml = package(8, [off, expr_task("Bad", "@[User::N] = 1 / 0")],
                  variables=[Var("Skip", 11, "-1"), Var("Log"), Var("N", 3, "0"),
                             Var("Limit", 3, "5")],
                  expressions={"MaxErrorCount": "@[User::Limit]"})
    engine, _ = run(xml)
    assert value(engine, "User::Log") == ""  # disabled by its expression
    # the package's MaximumErrorCount came from an expression: one error is tolerated
    assert engine.result.result == ExecResult.Success  # type: ignore[attr-defined]


def test_sensitive_parameter_values_never_reach_events() -> None:
    secret = package_parameter("Secret", 8, "hunter2-secret", Sensitive=True)
    xml = package(8, [expr_task("Leak", "@[User::N] = (DT_I4) @[$Package::Secret]")],
                  variables=[Var("N", 3, "0")], parameters=[secret])
    _, events = run(xml)
    text = " ".join(e.description for e in events)
    assert "hunter2-secret" not in text
    assert "********" in text


def test_a_variable_expression_is_evaluated_in_its_own_scope() -> None:
    inner = Exe("Seq", "seq", variables=[Var("Base", 3, "100")],
                children=[expr_task("Read", "@[User::Out] = @[User::Derived]")])
    xml = package(8, [inner],
                  variables=[Var("Base", 3, "1"), Var("Out", 3, "0"),
                             Var("Derived", 3, "0", props={"EvaluateAsExpression": True,
                                                           "Expression": "@[User::Base] * 2"})])
    engine, _ = run(xml)
    # Derived belongs to the package: it sees the package's Base (1), not the Sequence's
    assert value(engine, "User::Out") == 2
