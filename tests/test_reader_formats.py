"""Reading every .dtsx format version (2, 3, 6, 8) into one model.

One package description is written in each version's own XML shape by
``tests/builders.py``; the same facts must come out of the reader for all of them.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from builders import (
    VERSIONS,
    Comp,
    Constraint,
    Exe,
    Handler,
    Var,
    configuration,
    connection_manager,
    el,
    file_enumerator,
    flat_file_columns,
    foreach_enumerator,
    foreach_mappings,
    guid,
    log_provider,
    package,
    package_parameter,
    password,
    pipeline,
    sql_task_data,
)

from ssisrun.dtsx import load_package_bytes
from ssisrun.model import (
    CheckpointUsage,
    EvalOp,
    EventHandler,
    ExecResult,
    ForcedExecResult,
    ForeachLoop,
    ForLoop,
    IsolationLevel,
    Package,
    ProtectionLevel,
    Sequence,
    TaskHost,
    TransactionOption,
    VarType,
)

PKG_ID = "{9E1A0C35-4B44-4C2B-8D0F-1A2B3C4D5E6F}"
VERSION_GUID = "{0B6E1F2A-3C4D-4E5F-8091-A2B3C4D5E6F7}"
SRC_ID = guid("cm", "Src")

#: how each version spells the components of the data flow (spec 5.1, 5.4)
OLEDB_SOURCE = {2: "{2C0A8BE5-1EDC-4353-A0EF-B778599C65A0}",
                3: "{BCEFE59B-6819-47F7-A125-63753B33ABB7}",
                6: "DTSAdapter.OLEDBSource.3", 8: "Microsoft.OLEDBSource"}
OLEDB_DEST = {2: "{E2568105-9550-4F71-A638-B7FE42E66922}",
              3: "{5A0B62E8-D91D-49F5-94A5-7BE58DE508F0}",
              6: "DTSAdapter.OLEDBDestination.3", 8: "Microsoft.OLEDBDestination"}
SCRIPT_HOST = {2: "{BF01D463-7089-41EE-8F05-0A6DC17CE633}",
               3: "{874F7595-FB5F-40FF-96AF-FBFF8250E3EF}",
               6: "DTS.ManagedComponentWrapper.3", 8: "Microsoft.ManagedComponentHost"}
SCRIPT_TYPE = ("Microsoft.SqlServer.Dts.Pipeline.ScriptComponentHost, "
               "Microsoft.SqlServer.TxScript, Version=11.0.0.0, Culture=neutral, "
               "PublicKeyToken=89845dcd8080cc91")
ADO_ENUM = {
    8: "Microsoft.ForEachADOEnumerator",
}
ITEM_ENUM = {2: "DTS.ForEachItemEnumerator.1", 3: "DTS.ForEachItemEnumerator.2",
             6: "DTS.ForEachItemEnumerator.3", 8: "Microsoft.ForEachItemEnumerator"}


def ado_enum(version: int) -> str:
    if version in ADO_ENUM:
        return ADO_ENUM[version]
    dotnet = {2: "9.0.242.0", 3: "10.0.0.0", 6: "11.0.0.0"}[version]
    return ("Microsoft.SqlServer.Dts.Runtime.Enumerators.ADO.ForEachADOEnumerator, "
            f"Microsoft.SqlServer.ForEachADOEnumerator, Version={dotnet}, Culture=neutral, "
            "PublicKeyToken=89845dcd8080cc91")


def load(xml: str) -> Package:
    return load_package_bytes(xml.encode("utf-8"), "test.dtsx")


def full_package(v: int) -> str:
    """Every feature the reader must understand, in format version ``v``."""
    src_ref = SRC_ID if v < 6 else "Package.ConnectionManagers[Src]"
    flow = pipeline(v, [
        Comp("Read rows", OLEDB_SOURCE[v], outputs=["OLE DB Source Output"],
             connections=[(src_ref, src_ref if v >= 6 else "")]),
        Comp("Fix rows", SCRIPT_HOST[v], inputs=["Input 0"], outputs=["Output 0"],
             properties={"UserComponentTypeName": SCRIPT_TYPE}),
        Comp("Write rows", OLEDB_DEST[v], inputs=["OLE DB Destination Input"],
             connections=[(SRC_ID, "")]),
    ], [("OLE DB Source Output", "Read rows.OLE DB Source Output", "Fix rows.Input 0"),
        ("Output 0", "Fix rows.Output 0", "Write rows.OLE DB Destination Input")])
    flags = {"Disabled": True, "FailPackageOnFailure": True, "FailParentOnFailure": True,
             "MaxErrorCount": 5, "ForceExecutionResult": 1, "TransactionOption": 2,
             ("ISOLevel" if v < 6 else "IsolationLevel"): 4096, "DelayValidation": True,
             "DisableEventHandlers": True}
    item_data = ('<FEIEItems><FEIEItem><FEIEItemValue Type="3" Value="7160"/>'
                 '<FEIEItemValue Type="8" Value="a"/></FEIEItem>'
                 '<FEIEItem><FEIEItemValue Type="3" Value="6773"/>'
                 '<FEIEItemValue Type="8" Value="b"/></FEIEItem></FEIEItems>')
    executables = [
        Exe("Seq", "seq", variables=[Var("InSeq", 8, "scoped")], children=[
            Exe("Task", "sql", object_data=sql_task_data(SRC_ID),
                expressions={"SqlStatementSource": '"SELECT " + @[User::S]'},
                handlers=[Handler("OnError", [Exe("Handler task", "sql")])]),
            Exe("Task 2", "sql"),
        ], constraints=[Constraint("Task", "Task 2", value=1)]),
        Exe("Loop", "forloop", props={"InitExpression": "@[User::N] = 0",
                                      "EvalExpression": "@[User::N] < 10",
                                      "AssignExpression": "@[User::N] = @[User::N] + 1",
                                      "MaxConcurrent": 1}),
        Exe("Files", "foreach", extra=file_enumerator(v, r"C:\in", "*.csv", "User::S")),
        Exe("Rows", "foreach", extra=foreach_enumerator(
            v, ado_enum(v), '<FEEADO EnumType="EnumerateRowsInFirstTable" VarName="User::O"/>')
            + foreach_mappings(v, "User::N", "User::S")),
        Exe("Items", "foreach", extra=foreach_enumerator(v, ITEM_ENUM[v], item_data)
            + foreach_mappings(v, "User::N")),
        Exe("Load", "pipeline", object_data=flow),
        Exe("Flags", "sql", props=flags),
    ]
    constraints = [
        Constraint("Seq", "Loop"),
        Constraint("Loop", "Files", name="C completion", value=2, logical_and=True),
        Constraint("Files", "Rows", name="C expr", eval_op=1, expression="@[User::N] > 0"),
        Constraint("Rows", "Load", name="C and", eval_op=3, expression="@[User::B]", value=1),
        Constraint("Load", "Flags", name="C or", eval_op=4, expression="@[User::N] == 3"),
    ]
    variables = [
        Var("N", 3, "42", props={"ReadOnly": True}),
        Var("S", 8, "hello, world"),
        Var("B", 11, "-1", props={"RaiseChangedEvent": True}),
        Var("F", 11, "0"),
        Var("D", 7, "1/19/2018 10:12:41 AM"),
        Var("X", 5, "2.5"),
        Var("O", 13, ""),
        Var("E", 8, "stale", props={"EvaluateAsExpression": True,
                                    "Expression": '@[User::S] + "!"'}),
    ]
    flat_inner = {"Format": "Delimited", "CodePage": 65001, "RowDelimiter": "_x000D__x000A_",
                  "HeaderRowDelimiter": "_x000D__x000A_", "ColumnNamesInFirstDataRow": True,
                  "TextQualifier": "_x0022_", "Unicode": False}
    connections = [
        connection_manager(v, "Src", "OLEDB", "Data Source=db;Initial Catalog=Stage;"
                           "Provider=SQLNCLI11.1;User ID=etl;", dtsid=SRC_ID,
                           inner={"Retain": True}, inner_children=password()),
        connection_manager(v, "Csv", "FLATFILE", r"C:\in\rows.csv", inner=flat_inner,
                           inner_children=flat_file_columns(
                               v, [("Id", "_x002C_"), ("Name", "_x000D__x000A_")]),
                           expressions={"ConnectionString": "@[User::S]"}),
    ]
    parameters = []
    if v >= 6:
        parameters = [package_parameter("Region", 8, "EU", Required=True),
                      package_parameter("Secret", 8, "s3cret", Sensitive=True),
                      package_parameter("Count", 3, "7")]
    return package(
        v, executables, name="Full",
        props={"DTSID": PKG_ID, "VersionGUID": VERSION_GUID, "VersionMajor": 2,
               "VersionMinor": 3, "VersionBuild": 17, "ProtectionLevel": 2,
               "MaxConcurrentExecutables": 4, "CheckpointFileName": r"C:\cp\full.chk",
               "CheckpointUsage": 1, "SaveCheckpoints": True, "LocaleID": 1049,
               "EnableConfig": True},
        variables=variables, constraints=constraints,
        handlers=[Handler("OnError", [Exe("Log error", "sql")])],
        connections=connections, parameters=parameters,
        configurations=[configuration(v, "Cfg", 1, r"C:\cfg\full.dtsConfig",
                                      r"\Package.Variables[User::S].Properties[Value]")],
        log_providers=[log_provider(v, "SQL log", "DTS.LogProviderSQLServer.2", SRC_ID)],
        expressions={"MaxConcurrentExecutables": "@[User::N]"},
    )


@pytest.fixture(params=VERSIONS, ids=[f"v{v}" for v in VERSIONS])
def pkg(request: pytest.FixtureRequest) -> Package:
    return load(full_package(request.param))


# --------------------------------------------------------------------------- package


def test_package_properties(pkg: Package) -> None:
    assert pkg.name == "Full"
    assert pkg.path == "\\Package"
    assert pkg.executable_type == "Microsoft.Package"
    assert pkg.dtsid == PKG_ID
    assert pkg.version_guid == VERSION_GUID
    assert (pkg.version_major, pkg.version_minor, pkg.version_build) == (2, 3, 17)
    assert pkg.protection_level == ProtectionLevel.EncryptSensitiveWithPassword
    assert pkg.max_concurrent_executables == 4
    assert pkg.checkpoint_file_name == r"C:\cp\full.chk"
    assert pkg.checkpoint_usage == CheckpointUsage.IfExists
    assert pkg.save_checkpoints is True
    assert pkg.locale_id == 1049
    assert pkg.enable_configurations is True
    assert pkg.property_expressions == {"MaxConcurrentExecutables": "@[User::N]"}


@pytest.mark.parametrize("v", VERSIONS)
def test_format_version_is_read(v: int) -> None:
    assert load(full_package(v)).format_version == v


def test_the_full_package_loads_without_errors(pkg: Package) -> None:
    errors = [p for p in pkg.problems if p.severity == "error"]
    assert errors == []


@pytest.mark.parametrize("v", VERSIONS)
def test_defaults_when_properties_are_left_out(v: int) -> None:
    pkg = load(package(v, [Exe("T", "sql")]))
    assert pkg.protection_level == ProtectionLevel.EncryptSensitiveWithUserKey
    assert pkg.max_concurrent_executables == -1
    assert pkg.checkpoint_usage == CheckpointUsage.Never
    assert pkg.save_checkpoints is False
    task = pkg.executables[0]
    assert task.disabled is False
    assert task.maximum_error_count == 1
    assert task.transaction_option == TransactionOption.Supported
    assert task.isolation_level == IsolationLevel.Serializable
    assert task.force_execution_result == ForcedExecResult.None_


# --------------------------------------------------------------------------- variables


def _var(pkg: Package, name: str):  # noqa: ANN202
    return next(v for v in pkg.variables if v.name == name)


def test_variables_of_each_type(pkg: Package) -> None:
    got = {v.name: (v.data_type, v.value) for v in pkg.variables}
    assert got["N"] == (VarType.Int32, 42)
    assert got["S"] == (VarType.String, "hello, world")
    assert got["B"] == (VarType.Boolean, True)
    assert got["F"] == (VarType.Boolean, False)
    assert got["D"] == (VarType.DateTime, datetime(2018, 1, 19, 10, 12, 41))
    assert got["X"] == (VarType.Double, 2.5)
    assert got["O"] == (VarType.Object, None)
    assert [v.qualified_name for v in pkg.variables] == [
        "User::N", "User::S", "User::B", "User::F", "User::D", "User::X", "User::O", "User::E"]
    assert all(v.scope == "\\Package" for v in pkg.variables)


def test_variable_flags(pkg: Package) -> None:
    assert _var(pkg, "N").read_only is True
    assert _var(pkg, "S").read_only is False
    assert _var(pkg, "B").raise_changed_event is True
    assert _var(pkg, "N").raise_changed_event is False
    e = _var(pkg, "E")
    assert e.evaluate_as_expression is True
    assert e.expression == '@[User::S] + "!"'
    assert _var(pkg, "S").evaluate_as_expression is False
    assert _var(pkg, "N").dtsid == guid("Package", "var", "N")


def test_container_variables_have_their_scope(pkg: Package) -> None:
    seq = pkg.child("Seq")
    assert seq is not None
    assert [(v.qualified_name, v.scope, v.value) for v in seq.variables] == [
        ("User::InSeq", "\\Package\\Seq", "scoped")]
    assert "User::InSeq" in {v.qualified_name for v in pkg.all_variables()}


# --------------------------------------------------------------------------- executables


EXPECTED_WALK = [
    "\\Package",
    "\\Package\\Seq",
    "\\Package\\Seq\\Task",
    "\\Package\\Seq\\Task.EventHandlers[OnError]",
    "\\Package\\Seq\\Task.EventHandlers[OnError]\\Handler task",
    "\\Package\\Seq\\Task 2",
    "\\Package\\Loop",
    "\\Package\\Files",
    "\\Package\\Rows",
    "\\Package\\Items",
    "\\Package\\Load",
    "\\Package\\Flags",
    "\\Package.EventHandlers[OnError]",
    "\\Package.EventHandlers[OnError]\\Log error",
]


def test_paths_in_walk_order(pkg: Package) -> None:
    assert [e.path for e in pkg.walk()] == EXPECTED_WALK


def test_classes_and_canonical_types(pkg: Package) -> None:
    kinds = {e.path: (type(e).__name__, e.executable_type) for e in pkg.walk()}
    assert kinds["\\Package\\Seq"] == ("Sequence", "STOCK:SEQUENCE")
    assert kinds["\\Package\\Seq\\Task"] == ("TaskHost", "Microsoft.ExecuteSQLTask")
    assert kinds["\\Package\\Loop"] == ("ForLoop", "STOCK:FORLOOP")
    assert kinds["\\Package\\Files"] == ("ForeachLoop", "STOCK:FOREACHLOOP")
    assert kinds["\\Package\\Load"] == ("TaskHost", "Microsoft.Pipeline")
    assert kinds["\\Package.EventHandlers[OnError]"] == ("EventHandler", "EventHandler")


def test_ancestors_and_find_executable(pkg: Package) -> None:
    task = pkg.find_executable("\\Package\\Seq\\Task")
    assert task is not None
    assert [a.path for a in task.ancestors()] == ["\\Package\\Seq", "\\Package"]
    handler_task = pkg.find_executable(
        "\\Package\\Seq\\Task.EventHandlers[OnError]\\Handler task")
    assert handler_task is not None
    assert [a.path for a in handler_task.ancestors()] == [
        "\\Package\\Seq\\Task.EventHandlers[OnError]", "\\Package\\Seq\\Task",
        "\\Package\\Seq", "\\Package"]
    assert list(pkg.ancestors()) == []
    assert pkg.find_executable("\\Package\\Nope") is None


@pytest.mark.parametrize(
    ("v", "spelling"),
    [
        (2, "Microsoft.SqlServer.Dts.Tasks.ExecuteSQLTask.ExecuteSQLTask, "
            "Microsoft.SqlServer.SQLTask, Version=9.0.242.0, Culture=neutral, "
            "PublicKeyToken=89845dcd8080cc91"),
        (3, "Microsoft.SqlServer.Dts.Tasks.ExecuteSQLTask.ExecuteSQLTask, "
            "Microsoft.SqlServer.SQLTask, Version=10.0.0.0, Culture=neutral, "
            "PublicKeyToken=89845dcd8080cc91"),
        (6, "Microsoft.SqlServer.Dts.Tasks.ExecuteSQLTask.ExecuteSQLTask, "
            "Microsoft.SqlServer.SQLTask, Version=11.0.0.0, Culture=neutral, "
            "PublicKeyToken=89845dcd8080cc91"),
        (8, "Microsoft.ExecuteSQLTask"),
        (3, "STOCK:SQLTask"),
    ],
)
def test_execute_sql_spellings_are_one_type(v: int, spelling: str) -> None:
    task = load(package(v, [Exe("T", spelling)])).executables[0]
    assert task.creation_name == spelling
    assert task.executable_type == "Microsoft.ExecuteSQLTask"
    assert isinstance(task, TaskHost)


@pytest.mark.parametrize(
    ("v", "spelling"),
    [(2, "DTS.Pipeline.1"), (3, "SSIS.Pipeline.2"),
     (3, "{E3CFBEA8-1F48-40D8-91E1-2DEDC1EDDD56}"), (6, "SSIS.Pipeline.3"),
     (6, "{5918251B-2970-45A4-AB5F-01C3C588FE5A}"), (8, "Microsoft.Pipeline")],
)
def test_pipeline_spellings_are_one_type(v: int, spelling: str) -> None:
    task = load(package(v, [Exe("DF", spelling)])).executables[0]
    assert task.executable_type == "Microsoft.Pipeline"


@pytest.mark.parametrize(("v", "root_type"), [(2, "MSDTS.Package.1"), (3, "SSIS.Package.2"),
                                              (6, "SSIS.Package.3"), (8, "Microsoft.Package")])
def test_package_type_spellings(v: int, root_type: str) -> None:
    pkg = load(package(v))
    assert pkg.creation_name == root_type
    assert pkg.executable_type == "Microsoft.Package"


def test_common_executable_properties(pkg: Package) -> None:
    flags = pkg.child("Flags")
    assert flags is not None
    assert flags.disabled is True
    assert flags.fail_package_on_failure is True
    assert flags.fail_parent_on_failure is True
    assert flags.maximum_error_count == 5
    assert flags.force_execution_result == ForcedExecResult.Failure
    assert flags.transaction_option == TransactionOption.Required
    assert flags.isolation_level == IsolationLevel.ReadCommitted
    assert flags.delay_validation is True
    assert flags.disable_event_handlers is True
    plain = pkg.find_executable("\\Package\\Seq\\Task 2")
    assert plain is not None
    assert (plain.disabled, plain.fail_package_on_failure, plain.maximum_error_count,
            plain.transaction_option, plain.disable_event_handlers) == (
        False, False, 1, TransactionOption.Supported, False)


def test_property_expressions(pkg: Package) -> None:
    task = pkg.find_executable("\\Package\\Seq\\Task")
    assert task is not None
    assert task.property_expressions == {"SqlStatementSource": '"SELECT " + @[User::S]'}
    csv = pkg.find_connection_manager("Csv")
    assert csv is not None
    assert csv.property_expressions == {"ConnectionString": "@[User::S]"}


# --------------------------------------------------------------------------- constraints


def test_constraint_in_a_sequence(pkg: Package) -> None:
    seq = pkg.child("Seq")
    assert isinstance(seq, Sequence)
    [pc] = seq.precedence_constraints
    assert (pc.from_executable.path, pc.to_executable.path) == (
        "\\Package\\Seq\\Task", "\\Package\\Seq\\Task 2")
    assert pc.from_executable is seq.child("Task")
    assert pc.value == ExecResult.Failure
    assert pc.eval_op == EvalOp.Constraint


def test_constraints_values_and_eval_ops(pkg: Package) -> None:
    got = {pc.name: (pc.from_executable.name, pc.to_executable.name, pc.value, pc.eval_op,
                     pc.expression, pc.logical_and)
           for pc in pkg.precedence_constraints}
    assert got == {
        "Constraint": ("Seq", "Loop", ExecResult.Success, EvalOp.Constraint, "", False),
        "C completion": ("Loop", "Files", ExecResult.Completion, EvalOp.Constraint, "", True),
        "C expr": ("Files", "Rows", ExecResult.Success, EvalOp.Expression, "@[User::N] > 0",
                   False),
        "C and": ("Rows", "Load", ExecResult.Failure, EvalOp.ExpressionAndConstraint,
                  "@[User::B]", False),
        "C or": ("Load", "Flags", ExecResult.Success, EvalOp.ExpressionOrConstraint,
                 "@[User::N] == 3", False),
    }
    by_name = {pc.name: pc for pc in pkg.precedence_constraints}
    assert by_name["C expr"].uses_expression and not by_name["C expr"].uses_constraint
    assert by_name["C and"].uses_expression and by_name["C and"].uses_constraint


def test_v8_constraint_with_every_default_left_out() -> None:
    xml = package(8, [Exe("A"), Exe("B")], constraints=[Constraint("A", "B")])
    assert 'DTS:Value' not in xml and "DTS:EvalOp" not in xml and "DTS:LogicalAnd" not in xml
    [pc] = load(xml).precedence_constraints
    assert (pc.value, pc.eval_op, pc.logical_and, pc.expression) == (
        ExecResult.Success, EvalOp.Constraint, False, "")


@pytest.mark.parametrize("v", [2, 3])
def test_v2_v3_constraints_point_by_lower_case_dtsid(v: int) -> None:
    xml = package(v, [Exe("A"), Exe("B")], constraints=[Constraint("A", "B")])
    assert f'IDREF="{guid("Package" + chr(92) + "A").lower()}"' in xml
    [pc] = load(xml).precedence_constraints
    assert (pc.from_executable.name, pc.to_executable.name) == ("A", "B")


@pytest.mark.parametrize("v", VERSIONS)
def test_constraint_to_a_missing_executable_is_an_error_problem(v: int) -> None:
    xml = package(v, [Exe("Seq", "seq", children=[Exe("A"), Exe("B")],
                          constraints=[Constraint("A", "B", name="Broken")])])
    # point the constraint's To end at an executable that does not exist
    if v >= 6:
        xml = xml.replace('DTS:To="Package\\Seq\\B"', 'DTS:To="Package\\Seq\\Gone"')
    else:
        xml = xml.replace(guid("Package\\Seq\\B").lower(), "{00000000-0000-0000-0000-0000000000ff}")
    pkg = load(xml)
    seq = pkg.child("Seq")
    assert seq is not None and seq.precedence_constraints == []
    errors = [p for p in pkg.problems if p.severity == "error"]
    assert len(errors) == 1
    assert "Broken" in errors[0].message
    assert "\\Package\\Seq" in errors[0].message
    assert errors[0].path.startswith("\\Package\\Seq")
    assert errors[0].line is not None


# --------------------------------------------------------------------------- loops


def test_for_loop(pkg: Package) -> None:
    loop = pkg.child("Loop")
    assert isinstance(loop, ForLoop)
    assert loop.init_expression == "@[User::N] = 0"
    assert loop.eval_expression == "@[User::N] < 10"
    assert loop.assign_expression == "@[User::N] = @[User::N] + 1"
    assert loop.max_concurrent == 1


def test_foreach_file_enumerator(pkg: Package) -> None:
    loop = pkg.child("Files")
    assert isinstance(loop, ForeachLoop) and loop.enumerator is not None
    assert loop.enumerator.enumerator_type == "File"
    assert loop.enumerator.settings == {"Folder": r"C:\in", "FileSpec": "*.csv",
                                        "FileNameRetrievalType": "1", "Recurse": "-1"}
    assert loop.enumerator.property_expressions == {"Directory": "@[User::Dir]"}
    assert [(m.variable_name, m.value_index) for m in loop.variable_mappings] == [
        ("User::S", 0)]


def test_foreach_ado_enumerator(pkg: Package) -> None:
    loop = pkg.child("Rows")
    assert isinstance(loop, ForeachLoop) and loop.enumerator is not None
    assert loop.enumerator.enumerator_type == "ADO"
    assert loop.enumerator.settings["EnumType"] == "EnumerateRowsInFirstTable"
    assert loop.enumerator.settings["VarName"] == "User::O"
    assert [(m.variable_name, m.value_index) for m in loop.variable_mappings] == [
        ("User::N", 0), ("User::S", 1)]


def test_foreach_item_enumerator(pkg: Package) -> None:
    loop = pkg.child("Items")
    assert isinstance(loop, ForeachLoop) and loop.enumerator is not None
    assert loop.enumerator.enumerator_type == "Item"
    assert loop.enumerator.items == [[(3, "7160"), (8, "a")], [(3, "6773"), (8, "b")]]


# --------------------------------------------------------------------------- event handlers


def test_event_handlers_at_package_and_task_level(pkg: Package) -> None:
    [handler] = pkg.event_handlers
    assert isinstance(handler, EventHandler)
    assert (handler.event_name, handler.path) == ("OnError", "\\Package.EventHandlers[OnError]")
    assert handler.parent is pkg
    assert [e.name for e in handler.executables] == ["Log error"]
    assert [v.qualified_name for v in handler.variables] == ["System::Propagate"]
    task = pkg.find_executable("\\Package\\Seq\\Task")
    assert task is not None
    [task_handler] = task.event_handlers
    assert task_handler.path == "\\Package\\Seq\\Task.EventHandlers[OnError]"
    assert task_handler.parent is task
    assert task_handler.executables[0].path == (
        "\\Package\\Seq\\Task.EventHandlers[OnError]\\Handler task")


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("v", [6, 8])
def test_package_parameters(v: int) -> None:
    pkg = load(full_package(v))
    got = {p.name: (p.qualified_name, p.data_type, p.value, p.required, p.sensitive)
           for p in pkg.parameters}
    assert got == {
        "Region": ("$Package::Region", VarType.String, "EU", True, False),
        "Secret": ("$Package::Secret", VarType.String, "s3cret", False, True),
        "Count": ("$Package::Count", VarType.Int32, 7, False, False),
    }


# --------------------------------------------------------------------------- connections


def test_connection_managers(pkg: Package) -> None:
    assert [cm.name for cm in pkg.connection_managers] == ["Src", "Csv"]
    src = pkg.connection_managers[0]
    assert src.dtsid == SRC_ID
    assert src.kind == "OLEDB" and src.scope == "Package"
    assert src.connection_string == ("Data Source=db;Initial Catalog=Stage;"
                                     "Provider=SQLNCLI11.1;User ID=etl;")
    assert src.retain is True
    assert src.has_password is True
    assert src.encrypted_secrets == ["Password"]
    assert "Password" not in src.properties
    csv = pkg.connection_managers[1]
    assert csv.retain is False and csv.encrypted_secrets == []


def test_encrypted_password_is_a_warning_problem(pkg: Package) -> None:
    found = [p for p in pkg.problems if "'Src'" in p.message]
    assert len(found) == 1
    assert found[0].severity == "warning"
    assert found[0].path == "\\Package.ConnectionManagers[Src]"
    assert "--conn" in found[0].message


def test_flat_file_connection_manager(pkg: Package) -> None:
    csv = pkg.find_connection_manager("Csv")
    assert csv is not None and csv.flat_file is not None
    ff = csv.flat_file
    assert (ff.format, ff.code_page, ff.unicode) == ("Delimited", 65001, False)
    assert ff.row_delimiter == "\r\n"
    assert ff.header_row_delimiter == "\r\n"
    assert ff.text_qualifier == '"'
    assert ff.column_names_in_first_data_row is True
    assert [(c.name, c.column_delimiter, c.data_type, c.maximum_width, c.text_qualified)
            for c in ff.columns] == [("Id", ",", 129, 50, True), ("Name", "\r\n", 129, 50, True)]
    assert csv.connection_string == r"C:\in\rows.csv"


def test_find_connection_manager_every_way(pkg: Package) -> None:
    src = pkg.connection_managers[0]
    assert pkg.find_connection_manager(SRC_ID) is src
    assert pkg.find_connection_manager(SRC_ID.lower()) is src
    assert pkg.find_connection_manager(SRC_ID.strip("{}")) is src
    assert pkg.find_connection_manager(SRC_ID + ":external") is src
    assert pkg.find_connection_manager("Package.ConnectionManagers[Src]") is src
    assert pkg.find_connection_manager("Src") is src
    assert pkg.find_connection_manager("src") is src
    assert pkg.find_connection_manager("Nope") is None
    assert pkg.find_connection_manager("") is None
    assert pkg.find_connection_manager("{00000000-0000-0000-0000-000000000000}") is None


# --------------------------------------------------------------------------- configurations


def test_configurations_and_log_providers(pkg: Package) -> None:
    [cfg] = pkg.configurations
    assert (cfg.name, int(cfg.configuration_type), cfg.configuration_string,
            cfg.configuration_variable) == (
        "Cfg", 1, r"C:\cfg\full.dtsConfig", r"\Package.Variables[User::S].Properties[Value]")
    [log] = pkg.log_providers
    assert (log.name, log.creation_name, log.config_string) == (
        "SQL log", "DTS.LogProviderSQLServer.2", SRC_ID)


# --------------------------------------------------------------------------- data flow


def test_data_flow_components_and_paths(pkg: Package) -> None:
    task = pkg.child("Load")
    assert isinstance(task, TaskHost) and task.data_flow is not None
    flow = task.data_flow
    assert [(c.name, c.component_type) for c in flow.components] == [
        ("Read rows", "Microsoft.OLEDBSource"),
        ("Fix rows", "Microsoft.ScriptComponent"),
        ("Write rows", "Microsoft.OLEDBDestination"),
    ]
    assert [(p.name, p.start_component, p.end_component) for p in flow.paths] == [
        ("OLE DB Source Output", "Read rows", "Fix rows"),
        ("Output 0", "Fix rows", "Write rows"),
    ]
    assert flow.components[0].outputs == ["OLE DB Source Output"]
    assert flow.components[1].inputs == ["Input 0"]
    conn = flow.components[0].connections[0]
    assert pkg.find_connection_manager(
        conn.connection_manager_id or conn.connection_manager_ref_id) is pkg.connection_managers[0]


def test_component_spellings() -> None:
    from ssisrun.dtsx.types import canonical_component_type

    for v in VERSIONS:
        assert canonical_component_type(OLEDB_SOURCE[v]) == "Microsoft.OLEDBSource"
        assert canonical_component_type(SCRIPT_HOST[v], SCRIPT_TYPE) == (
            "Microsoft.ScriptComponent")
    assert canonical_component_type(OLEDB_SOURCE[2].lower()) == "Microsoft.OLEDBSource"


@pytest.mark.parametrize("v", VERSIONS)
def test_data_flow_path_to_a_missing_input_is_an_error(v: int) -> None:
    flow = pipeline(v, [Comp("Read", OLEDB_SOURCE[v], outputs=["Out"])],
                    [("Dangling", "Read.Out", "Nowhere.In")])
    pkg = load(package(v, [Exe("DF", "pipeline", object_data=flow)]))
    errors = [p for p in pkg.problems if p.severity == "error"]
    assert len(errors) == 1
    assert "Dangling" in errors[0].message and errors[0].path == "\\Package\\DF"


# --------------------------------------------------------------------------- small shapes


@pytest.mark.parametrize("v", [2, 3])
def test_v2_v3_write_properties_as_elements(v: int) -> None:
    xml = package(v, [Exe("T", props={"Disabled": True})])
    assert '<DTS:Property DTS:Name="Disabled">-1</DTS:Property>' in xml
    assert "<DTS:Executables>" not in xml
    assert load(xml).executables[0].disabled is True


def test_el_writes_both_shapes() -> None:
    assert el(8, "X", {"A": True, "B": False, "C": 3}) == '<DTS:X DTS:A="True" DTS:C="3"/>'
    assert el(3, "X", {"A": True}) == (
        '<DTS:X><DTS:Property DTS:Name="A">-1</DTS:Property></DTS:X>')
