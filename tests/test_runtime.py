"""The control-flow run time: constraints, containers, loops, results, events, handlers."""

from __future__ import annotations

import threading
import time
from html import escape
from pathlib import Path

import pytest
from builders import Constraint, Exe, Handler, Var, package

from ssisrun.dtsx import load_package_bytes
from ssisrun.model import ExecResult
from ssisrun.runtime import Event, EventBus, EventKind, RunRequest, run_package
from ssisrun.runtime.engine import Engine

EXPR = "Microsoft.ExpressionTask"


def expr_task(name: str, expression: str, **props: object) -> Exe:
    return Exe(name, EXPR, props=dict(props),
               object_data=f'<ExpressionTask Expression="{escape(expression)}" />')


def run(xml: str, request: RunRequest | None = None) -> tuple[Engine, list[Event]]:
    pkg = load_package_bytes(xml.encode(), "test.dtsx")
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    engine = Engine(pkg, request, bus)
    engine.result = engine.run()  # type: ignore[attr-defined]
    return engine, events


def value(engine: Engine, name: str) -> object:
    return engine.scopes[id(engine.package)].get(name)


def test_sequence_of_expression_tasks_runs_in_constraint_order() -> None:
    xml = package(8, [expr_task("A", "@[User::Log] = @[User::Log] + \"a\""),
                      expr_task("B", "@[User::Log] = @[User::Log] + \"b\""),
                      expr_task("C", "@[User::Log] = @[User::Log] + \"c\"")],
                  variables=[Var("Log")],
                  constraints=[Constraint("B", "C", "c2"), Constraint("A", "B", "c1")])
    engine, _ = run(xml)
    assert engine.result.result == ExecResult.Success  # type: ignore[attr-defined]
    assert value(engine, "User::Log") == "abc"


def test_failure_and_completion_constraints() -> None:
    xml = package(8, [expr_task("Bad", "@[User::N] = 1 / 0"),
                      expr_task("OnFail", "@[User::Log] = @[User::Log] + \"F\""),
                      expr_task("OnOk", "@[User::Log] = @[User::Log] + \"S\""),
                      expr_task("Always", "@[User::Log] = @[User::Log] + \"C\"")],
                  variables=[Var("Log"), Var("N", 3, "0")],
                  props={"MaxErrorCount": 10},
                  constraints=[Constraint("Bad", "OnFail", "f", value=1),
                               Constraint("Bad", "OnOk", "s"),
                               Constraint("Bad", "Always", "c", value=2)])
    engine, events = run(xml)
    log = value(engine, "User::Log")
    assert sorted(str(log)) == ["C", "F"]
    skipped = [e.source_name for e in events if e.kind == EventKind.ExecutableSkipped]
    assert skipped == ["OnOk"]
    # one error, below the package's MaximumErrorCount of 10: the package succeeds
    assert engine.result.result == ExecResult.Success  # type: ignore[attr-defined]
    assert engine.result.errors == 1  # type: ignore[attr-defined]


def test_one_error_fails_the_package_by_default_and_stops_new_work() -> None:
    xml = package(8, [expr_task("Bad", "@[User::N] = 1 / 0"),
                      expr_task("After", "@[User::N] = 5")],
                  variables=[Var("N", 3, "0")],
                  constraints=[Constraint("Bad", "After", "c", value=2)])
    engine, _ = run(xml)
    assert engine.result.result == ExecResult.Failure  # type: ignore[attr-defined]
    assert engine.result.exit_code == 1  # type: ignore[attr-defined]
    assert value(engine, "User::N") == 0


def test_expression_constraints_and_logical_or() -> None:
    xml = package(8, [expr_task("Set", "@[User::N] = 7"),
                      expr_task("Big", "@[User::Log] = \"big\""),
                      expr_task("Small", "@[User::Log] = \"small\"")],
                  variables=[Var("N", 3, "0"), Var("Log")],
                  constraints=[Constraint("Set", "Big", "b", eval_op=3,
                                          expression="@[User::N] > 5"),
                               Constraint("Set", "Small", "s", eval_op=1,
                                          expression="@[User::N] <= 5")])
    engine, _ = run(xml)
    assert value(engine, "User::Log") == "big"


def test_logical_and_needs_every_constraint_or_needs_one() -> None:
    def pkg(logical_and: bool) -> str:
        return package(8, [expr_task("Ok", "@[User::N] = 1"),
                           expr_task("Bad", "@[User::N2] = 1 / 0"),
                           expr_task("Join", "@[User::Log] = \"joined\"")],
                       variables=[Var("N", 3, "0"), Var("N2", 3, "0"), Var("Log")],
                       props={"MaxErrorCount": 0},
                       constraints=[Constraint("Ok", "Join", "a", logical_and=logical_and),
                                    Constraint("Bad", "Join", "b", logical_and=logical_and)])
    assert value(run(pkg(True))[0], "User::Log") == ""
    assert value(run(pkg(False))[0], "User::Log") == "joined"


def test_disabled_executable_counts_as_success_without_running() -> None:
    xml = package(8, [expr_task("Off", "@[User::Log] = \"ran\"", Disabled=True),
                      expr_task("Next", "@[User::N] = 2")],
                  variables=[Var("N", 3, "0"), Var("Log")],
                  constraints=[Constraint("Off", "Next", "c")])
    engine, events = run(xml)
    assert value(engine, "User::Log") == ""
    assert value(engine, "User::N") == 2
    assert not [e for e in events if e.source_name == "Off"]


def test_for_loop_init_eval_assign() -> None:
    loop = Exe("Loop", "forloop", props={"InitExpression": "@[User::I] = 0",
                                         "EvalExpression": "@[User::I] < 5",
                                         "AssignExpression": "@[User::I] = @[User::I] + 1"},
               children=[expr_task("Add", "@[User::Sum] = @[User::Sum] + @[User::I]")])
    engine, _ = run(package(8, [loop], variables=[Var("I", 3, "0"), Var("Sum", 3, "0")]))
    assert value(engine, "User::Sum") == 0 + 1 + 2 + 3 + 4
    assert value(engine, "User::I") == 5


def test_foreach_file_enumerator_maps_each_file(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "c.csv"):
        (tmp_path / name).write_text("x")
    enum = (
        '<DTS:ForEachEnumerator DTS:CreationName="Microsoft.ForEachFileEnumerator" '
        'DTS:DTSID="{11111111-0000-0000-0000-000000000001}" DTS:ObjectName="e">'
        "<DTS:ObjectData><ForEachFileEnumeratorProperties>"
        f'<FEFEProperty Folder="{tmp_path}"/><FEFEProperty FileSpec="*.TXT"/>'
        '<FEFEProperty FileNameRetrievalType="1"/><FEFEProperty Recurse="0"/>'
        "</ForEachFileEnumeratorProperties></DTS:ObjectData></DTS:ForEachEnumerator>"
        "<DTS:ForEachVariableMappings><DTS:ForEachVariableMapping DTS:CreationName=\"\" "
        'DTS:DTSID="{11111111-0000-0000-0000-000000000002}" DTS:ObjectName="m" '
        'DTS:ValueIndex="0" DTS:VariableName="User::File"/></DTS:ForEachVariableMappings>'
    )
    loop = Exe("Each", "foreach", extra=enum,
               children=[expr_task("Collect",
                                   "@[User::Log] = @[User::Log] + @[User::File] + \";\"")])
    engine, _ = run(package(8, [loop], variables=[Var("File"), Var("Log")]))
    assert value(engine, "User::Log") == "a.txt;b.txt;"


def test_fail_parent_and_fail_package_on_failure() -> None:
    seq = Exe("Seq", "seq", props={"MaxErrorCount": 0},
              children=[expr_task("Bad", "@[User::N] = 1 / 0", FailParentOnFailure=True)])
    xml = package(8, [seq, expr_task("After", "@[User::N] = 9")],
                  variables=[Var("N", 3, "0")], props={"MaxErrorCount": 0},
                  constraints=[Constraint("Seq", "After", "c", value=1)])
    engine, _ = run(xml)
    # the sequence failed because its child had FailParentOnFailure; the Failure
    # constraint then ran "After", and the package stays Success (no error limit)
    assert value(engine, "User::N") == 9
    assert engine.result.result == ExecResult.Success  # type: ignore[attr-defined]

    seq2 = Exe("Seq", "seq", props={"MaxErrorCount": 0},
               children=[expr_task("Bad", "@[User::N] = 1 / 0", FailPackageOnFailure=True)])
    engine2, _ = run(package(8, [seq2], variables=[Var("N", 3, "0")],
                             props={"MaxErrorCount": 0}))
    assert engine2.result.result == ExecResult.Failure  # type: ignore[attr-defined]


def test_force_execution_result_is_what_constraints_see() -> None:
    xml = package(8, [expr_task("Ok", "@[User::N] = 1", ForceExecutionResult=1),
                      expr_task("OnFail", "@[User::Log] = \"forced\"")],
                  variables=[Var("N", 3, "0"), Var("Log")], props={"MaxErrorCount": 0},
                  constraints=[Constraint("Ok", "OnFail", "c", value=1)])
    engine, _ = run(xml)
    assert value(engine, "User::Log") == "forced"


def test_event_handlers_run_at_each_level_with_system_variables() -> None:
    handler_task = expr_task(
        "Note", "@[User::Log] = @[User::Log] + @[System::SourceName] + \":\" + "
        "(DT_WSTR, 20) @[System::ErrorCode] + \";\"")
    seq = Exe("Seq", "seq", props={"MaxErrorCount": 0},
              children=[expr_task("Bad", "@[User::N] = 1 / 0")],
              handlers=[Handler("OnError", [handler_task])])
    pkg_handler = expr_task("PkgNote", "@[User::Count] = @[User::Count] + 1")
    xml = package(8, [seq], variables=[Var("N", 3, "0"), Var("Log"), Var("Count", 3, "0")],
                  props={"MaxErrorCount": 0},
                  handlers=[Handler("OnError", [pkg_handler])])
    engine, _ = run(xml)
    log = str(value(engine, "User::Log"))
    assert log.startswith("Bad:-")  # 0xC... codes are negative Int32 values
    assert value(engine, "User::Count") == 1  # propagated to the package's handler


def test_propagate_false_stops_the_event_going_up() -> None:
    stop = expr_task("Stop", "@[System::Propagate] = FALSE")
    seq = Exe("Seq", "seq", props={"MaxErrorCount": 0},
              children=[expr_task("Bad", "@[User::N] = 1 / 0")],
              handlers=[Handler("OnError", [stop])])
    pkg_handler = expr_task("PkgNote", "@[User::Count] = @[User::Count] + 1")
    xml = package(8, [seq], variables=[Var("N", 3, "0"), Var("Count", 3, "0")],
                  props={"MaxErrorCount": 0}, handlers=[Handler("OnError", [pkg_handler])])
    engine, _ = run(xml)
    assert value(engine, "User::Count") == 0


def test_pre_and_post_execute_events_in_order() -> None:
    xml = package(8, [expr_task("A", "@[User::N] = 1"), expr_task("B", "@[User::N] = 2")],
                  variables=[Var("N", 3, "0")], constraints=[Constraint("A", "B", "c")])
    _, events = run(xml)
    order = [(e.kind.value, e.source_name) for e in events
             if e.kind in (EventKind.OnPreExecute, EventKind.OnPostExecute)]
    assert order == [("OnPreExecute", "Pkg"), ("OnPreExecute", "A"), ("OnPostExecute", "A"),
                     ("OnPreExecute", "B"), ("OnPostExecute", "B"), ("OnPostExecute", "Pkg")]


def test_variables_evaluated_as_expressions_and_read_only() -> None:
    xml = package(8, [expr_task("Set", "@[User::Base] = 20"),
                      expr_task("Copy", "@[User::Out] = @[User::Derived]"),
                      expr_task("Write", "@[User::Fixed] = 2")],
                  variables=[Var("Base", 3, "1"), Var("Out", 3, "0"),
                             Var("Fixed", 3, "1", props={"ReadOnly": True}),
                             Var("Derived", 3, "0", props={"EvaluateAsExpression": True,
                                                           "Expression": "@[User::Base] * 2"})],
                  props={"MaxErrorCount": 0},
                  constraints=[Constraint("Set", "Copy", "c1"), Constraint("Copy", "Write", "c2")])
    engine, events = run(xml)
    assert value(engine, "User::Out") == 40
    assert value(engine, "User::Fixed") == 1
    errors = [e.description for e in events if e.kind == EventKind.OnError]
    assert any("read-only" in e for e in errors)


def test_parameters_and_var_overrides() -> None:
    from builders import package_parameter

    xml = package(8, [expr_task("Use", "@[User::Out] = @[$Package::P] * @[User::K]")],
                  variables=[Var("Out", 3, "0"), Var("K", 3, "1")],
                  parameters=[package_parameter("P", 3, "2")])
    engine, _ = run(xml, RunRequest(parameters={"$Package::P": "5"}, variables={"User::K": "3"}))
    assert value(engine, "User::Out") == 15


def test_independent_branches_run_in_parallel() -> None:
    # Two independent For Loops that each wait on the other through a variable would
    # deadlock if run one after the other; instead measure overlap with a gate.
    xml = package(8, [expr_task(f"T{i}", f"@[User::N{i}] = {i}") for i in range(4)],
                  variables=[Var(f"N{i}", 3, "0") for i in range(4)],
                  props={"MaxConcurrentExecutables": 4})
    pkg = load_package_bytes(xml.encode(), "p.dtsx")
    from ssisrun.tasks import expression

    active = 0
    peak = 0
    lock = threading.Lock()
    original = expression.ExpressionTask.execute

    def slow(self: expression.ExpressionTask, ctx: object) -> object:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        try:
            return original(self, ctx)  # type: ignore[arg-type]
        finally:
            with lock:
                active -= 1

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(expression.ExpressionTask, "execute", slow)
        result = run_package(pkg)
    assert result.result == ExecResult.Success
    assert peak >= 2

    pkg1 = load_package_bytes(xml.encode(), "p.dtsx")
    peak = 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(expression.ExpressionTask, "execute", slow)
        run_package(pkg1, RunRequest(max_concurrent=1))
    assert peak == 1


def test_unsupported_task_fails_with_a_clear_error() -> None:
    xml = package(8, [Exe("Wmi", "Microsoft.WmiDataReaderTask", object_data="<x/>")])
    engine, events = run(xml)
    assert engine.result.result == ExecResult.Failure  # type: ignore[attr-defined]
    errors = [e.description for e in events if e.kind == EventKind.OnError]
    assert errors == ["task type Microsoft.WmiDataReaderTask cannot be run by this ssisrun yet"]
