"""Validation: dtexec's ``/Validate``, without running anything.

:func:`validate_package` resolves every reference a package makes (precedence
constraint endpoints, connection managers by DTSID or name, variables named by
tasks, enumerators and mappings, log providers) and reports each problem with
the executable's path. It also reports every task and data-flow component type
this ssisrun cannot run yet, and, as warnings, the connections that will not open here:
secrets encrypted with a key ssisrun cannot have (with the ``--conn`` that replaces the
connection string), Windows authentication and database drivers that are not installed
(with the pip extra). A package with no ``error`` problem could run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from lxml import etree

from ssisrun import capabilities
from ssisrun.dtsx import types
from ssisrun.model import (
    CheckpointUsage,
    ConnectionManager,
    Container,
    EventHandler,
    Executable,
    ForeachLoop,
    ForLoop,
    Package,
    Problem,
    TaskHost,
    TransactionOption,
    VarType,
    normalize_guid,
)

if TYPE_CHECKING:
    from ssisrun.expressions import SsisType

_PROJECT_PARAM = re.compile(r"\$Project::([A-Za-z_][\w ]*?)\]|\$Project::([A-Za-z_]\w*)")

SQLTASK_NS = "{www.microsoft.com/sqlserver/dts/tasks/sqltask}"
BULKINSERT_NS = "{www.microsoft.com/sqlserver/dts/tasks/bulkinserttask}"
SENDMAIL_NS = "{www.microsoft.com/sqlserver/dts/tasks/sendmailtask}"

#: System variables of packages and containers (spec 2.12) and event handlers (2.10)
SYSTEM_VARIABLES = frozenset(
    {
        "CancelEvent", "ContainerStartTime", "CreationDate", "CreatorComputerName",
        "CreatorName", "ExecutionInstanceGUID", "FailedConfigurations",
        "IgnoreConfigurationsOnLoad", "InteractiveMode", "LocaleId", "LocaleID", "MachineName",
        "OfflineMode", "PackageID", "PackageName", "StartTime", "ServerExecutionID",
        "UserName", "VersionBuild", "VersionComment", "VersionComments", "VersionGUID",
        "VersionMajor", "VersionMinor", "CreationName", "TaskID", "TaskName",
        "TaskTransactionOption", "ParentContainerGUID", "ProductVersion", "Cancel",
        "ErrorCode", "ErrorDescription", "ExecutionStatus", "ExecutionValue",
        "PercentComplete", "ProgressCountHigh", "ProgressCountLow", "ProgressDescription",
        "Propagate", "SourceDescription", "SourceID", "SourceName", "SourceParentGUID",
        "VariableDescription", "VariableID", "VariableName", "VariableValue",
    }
)


@dataclass(slots=True)
class ValidationResult:
    package: Package
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def can_run(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, object]:
        pkg = self.package
        return {
            "package": pkg.source,
            "name": pkg.name,
            "format_version": pkg.format_version,
            "valid": self.can_run,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
        }


class _Validator:
    def __init__(self, package: Package, scripts: Mapping[str, str] | None = None,
                 connections: Mapping[str, str] | None = None,
                 exactly_once: bool = False) -> None:
        self.package = package
        #: connection strings by connection manager name or DTSID (``--conn``)
        self.connections: Mapping[str, str] = connections or {}
        #: the run will use exactly-once mode (``--exactly-once``)
        self.exactly_once = exactly_once
        #: Script tasks' Python replacements (``--script``)
        self.scripts: Mapping[str, str] = scripts or {}
        self.problems: list[Problem] = []
        self._scopes: dict[int, dict[str, SsisType]] = {}
        self._warned_project = False

    def error(self, path: str, message: str, line: int | None = None) -> None:
        self.problems.append(Problem("error", message, path, line))

    def warning(self, path: str, message: str, line: int | None = None) -> None:
        self.problems.append(Problem("warning", message, path, line))

    # ---- lookups

    def visible_variables(self, exe: Executable) -> set[str]:
        """Qualified names visible from ``exe``: its own and its ancestors' variables."""
        names: set[str] = set()
        for node in (exe, *exe.ancestors()):
            for var in node.variables:
                names.add(var.qualified_name)
        return names

    def check_variable(self, exe: Executable, name: str, what: str) -> None:
        ref = name.strip()
        if not ref:
            return
        if ref.startswith("@[") and ref.endswith("]"):
            ref = ref[2:-1]
        if ref.startswith("$"):
            scope, _, pname = ref[1:].partition("::")
            params = {p.qualified_name for p in self.package.all_parameters()}
            if f"${scope}::{pname}" in params:
                return
            if scope == "Project" and self.package.project is None:
                self.warning(
                    exe.path,
                    f"{what} names project parameter {ref}; load the package with "
                    "--project to check it",
                    exe.line,
                )
                return
            self.error(exe.path, f"{what} names parameter {ref}, which does not exist", exe.line)
            return
        namespace, sep, vname = ref.partition("::")
        if not sep:
            namespace, vname = "", ref
        if namespace == "System" and vname in SYSTEM_VARIABLES:
            return
        visible = self.visible_variables(exe)
        if namespace:
            if f"{namespace}::{vname}" in visible:
                return
        else:
            if any(v.split("::", 1)[1] == vname for v in visible):
                return
            if vname in SYSTEM_VARIABLES:
                return
        self.error(
            exe.path,
            f"{what} names variable {ref}, which is not defined in this scope or above it",
            exe.line,
        )

    def check_connection(self, exe: Executable, ref: str, what: str,
                         line: int | None = None) -> ConnectionManager | None:
        if not ref.strip():
            return None
        cm = self.package.find_connection_manager(ref)
        if cm is None:
            hint = ""
            if self.package.project is None and (
                ref.strip().endswith(":external") or ref.startswith("Project.")
                or normalize_guid(ref)
            ):
                hint = (" in the package; if it is a project connection manager, load the "
                        "package with --project")
            self.error(exe.path, f"{what} uses connection manager '{ref}', which does not "
                       f"exist{hint}", line or exe.line)
        return cm

    # ---- the checks

    def run(self) -> list[Problem]:
        pkg = self.package
        self.problems.extend(self.load_problems())
        for exe in pkg.walk():
            self.check_executable(exe)
        for cm in pkg.connection_managers:
            for prop, text in cm.property_expressions.items():
                self.check_expression(pkg, text, f"connection manager '{cm.name}' property "
                                      f"expression of {prop}", line=cm.line)
        for provider in pkg.log_providers:
            if provider.config_string:
                self.check_connection(pkg, provider.config_string,
                                      f"log provider '{provider.name}'", provider.line)
        self.check_database_connections()
        self.check_transactions()
        self.check_checkpoints()
        return self.problems

    # ---- connection managers

    def override(self, cm: ConnectionManager) -> str | None:
        """The connection string ``--conn`` gives ``cm`` (by name or DTSID), or None."""
        for key in (cm.name, cm.dtsid):
            if key in self.connections:
                return self.connections[key]
        return None

    def load_problems(self) -> list[Problem]:
        """What the reader found, without the encrypted secrets of connection managers
        whose connection string ``--conn`` replaces."""
        from ssisrun.dtsx.reader import encrypted_secrets_message

        pkg = self.package
        problems = [*pkg.problems, *(pkg.project.problems if pkg.project else [])]
        replaced = {(_cm_path(cm), encrypted_secrets_message(cm))
                    for cm in pkg.all_connection_managers()
                    if cm.encrypted_secrets and self.override(cm) is not None}
        return [p for p in problems if (p.path, p.message) not in replaced]

    def check_database_connections(self) -> None:
        """Database connection strings that will fail at run time, found without
        connecting (:func:`ssisrun.connections.connection_problem`): Windows
        authentication, a database ssisrun cannot open, a driver that is not installed.
        A connection string set by a property expression is not known before the run."""
        from ssisrun.connections import connection_problem

        for cm in self.package.all_connection_managers():
            text = self.override(cm)
            if text is None:
                if any(k.lower() == "connectionstring" for k in cm.property_expressions):
                    continue
                text = cm.connection_string
            message = connection_problem(cm, text)
            if message:
                self.warning(_cm_path(cm), message, cm.line)

    # ---- expressions

    def scope_for(self, exe: Executable) -> dict[str, SsisType]:
        """The types of everything an expression of ``exe`` can name: variables of
        ``exe`` and its ancestors (the nearest scope wins) and parameters."""
        cached = self._scopes.get(id(exe))
        if cached is not None:
            return cached
        from ssisrun.expressions import type_for_vartype

        scope: dict[str, SsisType] = {}
        for param in self.package.all_parameters():
            scope[param.qualified_name] = type_for_vartype(int(param.data_type))
        for node in reversed((exe, *exe.ancestors())):
            for var in node.variables:
                scope[var.qualified_name] = type_for_vartype(int(var.data_type))
        self._scopes[id(exe)] = scope
        return scope

    def check_expression(
        self,
        exe: Executable,
        text: str,
        what: str,
        kind: Literal["expression", "boolean", "assignment"] = "expression",
        line: int | None = None,
    ) -> None:
        if not text.strip():
            return
        from ssisrun.expressions import check_expression
        from ssisrun.expressions.types import UNKNOWN

        scope = self.scope_for(exe)
        if self.package.project is None and "$Project::" in text:
            scope = dict(scope)
            for match in _PROJECT_PARAM.finditer(text):
                name = (match.group(1) or match.group(2) or "").strip()
                scope.setdefault(f"$Project::{name}", UNKNOWN)
            if not self._warned_project:
                self._warned_project = True
                self.warning(exe.path, "expressions name $Project:: parameters; load the "
                             "package with --project to check their types", line or exe.line)
        for err in check_expression(text, scope, kind=kind):
            detail = f"{what}: {err.message}"
            expr = " ".join(text.split()) if "\n" in text else text
            if err.position is not None and expr == text:
                detail += f"\n      {expr}\n      {' ' * err.position}^"
            else:
                detail += f"\n      {expr}"
            self.error(exe.path, detail, line or exe.line)

    def check_expressions(self, exe: Executable) -> None:
        for var in exe.variables:
            if var.evaluate_as_expression:
                self.check_expression(exe, var.expression,
                                      f"the expression of variable {var.qualified_name}",
                                      line=var.line)
        for prop, text in exe.property_expressions.items():
            self.check_expression(exe, text, f"the property expression of {prop}")
        if isinstance(exe, Container):
            for pc in exe.precedence_constraints:
                if pc.uses_expression:
                    if not pc.expression.strip():
                        self.error(exe.path, f"precedence constraint '{pc.name}' evaluates an "
                                   "expression but has none", pc.line)
                    self.check_expression(exe, pc.expression,
                                          f"the expression of precedence constraint "
                                          f"'{pc.name}'", "boolean", pc.line)
        if isinstance(exe, ForLoop):
            for prop, text in (("InitExpression", exe.init_expression),
                               ("AssignExpression", exe.assign_expression)):
                self.check_expression(exe, text, prop, self._assignment_kind(text))
            self.check_expression(exe, exe.eval_expression, "EvalExpression", "boolean")
        if isinstance(exe, ForeachLoop) and exe.enumerator is not None:
            for prop, text in exe.enumerator.property_expressions.items():
                self.check_expression(exe, text, f"the enumerator's property expression of "
                                      f"{prop}")
        if isinstance(exe, TaskHost) and exe.executable_type == "Microsoft.ExpressionTask":
            body = _first_element(exe.object_data)
            task_expr = (body.get("Expression") if body is not None else None) or ""
            if not task_expr.strip():
                self.error(exe.path, "the Expression task has no expression", exe.line)
            else:
                self.check_expression(exe, task_expr, "the Expression task",
                                      self._assignment_kind(task_expr))

    @staticmethod
    def _assignment_kind(text: str) -> Literal["expression", "assignment"]:
        from ssisrun.expressions import is_assignment

        return "assignment" if is_assignment(text) else "expression"

    def check_executable(self, exe: Executable) -> None:
        for var in exe.variables:
            if var.evaluate_as_expression and not var.expression.strip():
                self.warning(exe.path, f"variable {var.qualified_name} is evaluated as an "
                             "expression but has no expression", var.line)
        self.check_expressions(exe)
        if isinstance(exe, ForeachLoop):
            self.check_foreach(exe)
        if isinstance(exe, TaskHost):
            if exe.exec_value_variable:
                self.check_variable(exe, exe.exec_value_variable, "ExecValueVariable")
            self.check_task(exe)

    def check_foreach(self, loop: ForeachLoop) -> None:
        for mapping in loop.variable_mappings:
            self.check_variable(loop, mapping.variable_name, "a Foreach variable mapping")
        enum = loop.enumerator
        if enum is None:
            return
        if enum.enumerator_type == "ADO":
            self.check_variable(loop, str(enum.settings.get("VarName", "")),
                                "the ADO enumerator")
        elif enum.enumerator_type == "FromVariable":
            self.check_variable(loop, str(enum.settings.get("VariableName", "")),
                                "the From Variable enumerator")
        if enum.enumerator_type not in ("File", "Item", "ADO", "FromVariable", "NodeList"):
            self.error(loop.path, f"Foreach enumerator '{enum.creation_name}' cannot be run by "
                       "this ssisrun", loop.line)

    def check_task(self, task: TaskHost) -> None:
        kind = task.executable_type
        if not capabilities.executable_is_runnable(kind) and not task.disabled:
            self.error(task.path, f"task type {kind} cannot be run by this ssisrun yet",
                       task.line)
        data = task.object_data
        body = _first_element(data)
        if kind == "Microsoft.ExecuteSQLTask" and body is not None:
            self.check_sql_task(task, body)
        elif kind == "Microsoft.SendMailTask" and body is not None:
            self.check_connection(task, body.get(SENDMAIL_NS + "SMTPServer") or "",
                                  "the Send Mail task")
            self.check_source(task, body.get(SENDMAIL_NS + "MessageSourceType") or "",
                              body.get(SENDMAIL_NS + "MessageSource") or "", "the message")
        elif kind == "Microsoft.FileSystemTask" and body is not None:
            for role in ("Source", "Destination"):
                ref = body.get(f"Task{role}Path") or ""
                is_var = (body.get(f"TaskIs{role}Variable") or "").lower() == "true"
                if is_var:
                    self.check_variable(task, ref, f"the {role.lower()} path")
                elif ref:
                    self.check_connection(task, ref, f"the {role.lower()} path")
        elif kind == "Microsoft.ExecuteProcess" and body is not None:
            for attr in ("StandardInputVariable", "StandardOutputVariable",
                         "StandardErrorVariable"):
                self.check_variable(task, body.get(attr) or "", attr)
        elif kind == "Microsoft.FtpTask" and body is not None:
            self.check_connection(task, body.get("ConnectionName") or "", "the FTP task")
        elif kind == "Microsoft.ScriptTask" and body is not None:
            for attr in ("ReadOnlyVariables", "ReadWriteVariables"):
                for name in _split_names(body.get(attr) or ""):
                    self.check_variable(task, name, f"the script's {attr}")
            if not task.disabled:
                from ssisrun.tasks.script import check_script_task

                message = check_script_task(self.package, task, self.scripts)
                if message:
                    self.error(task.path, message, task.line)
        elif kind == "Microsoft.ExecutePackageTask" and body is not None:
            self.check_execute_package(task, body)
        elif kind == "Microsoft.DataProfilingTask" and not task.disabled:
            from ssisrun.tasks.data_profiling import static_problems

            for severity, message in static_problems(body, self.package, self.connections):
                (self.error if severity == "error" else self.warning)(task.path, message,
                                                                      task.line)
            if body is not None:
                dest = body.get("Destination") or ""
                if (body.get("DestinationType") or "").lower() in ("variable", "1"):
                    self.check_variable(task, dest, "the profile output")
                else:
                    self.check_connection(task, dest, "the profile output")
        elif kind == "Microsoft.WebServiceTask" and not task.disabled:
            from ssisrun.tasks.web_service import static_references

            refs = static_references(body)
            if refs["connection"]:
                self.check_connection(task, refs["connection"], "the Web Service task")
            elif "Connection" not in task.property_expressions:
                self.error(task.path, "the Web Service task names no HTTP connection manager "
                           "(ConnectionName), so it cannot run", task.line)
            self.check_connection(task, refs["output_connection"], "the task's OutputLocation")
            self.check_variable(task, refs["output_variable"], "the task's OutputLocation")
            for name in refs["variables"]:
                self.check_variable(task, name, "a parameter of the Web Service task")
        elif kind in ("CopyToBlobTask", "CopyFromBlobTask") and body is not None:
            cm = self.check_connection(task, body.get("ConnectionId") or "",
                                       "the Azure Blob task")
            if not task.disabled:
                from ssisrun.tasks.azure_blob import TITLES, check_blob_task

                override = self.override(cm) if cm is not None else None
                for severity, message in check_blob_task(cm, override, TITLES[kind]):
                    report = self.error if severity == "error" else self.warning
                    report(task.path, message, task.line)
        elif kind in ("HadoopFileSystemTask", "HadoopHiveTask", "HadoopPigTask") \
                and body is not None:
            self.check_connection(task, body.get("LocalFilePathId") or "", "the local file")
            cm = self.check_connection(task, body.get("HadoopConnectionId") or "",
                                       "the Hadoop task")
            if cm is not None and not task.disabled:
                from ssisrun.tasks.hadoop import check_hadoop_connection

                text = self.override(cm)
                message = check_hadoop_connection(
                    kind, cm, cm.connection_string if text is None else text)
                if message:
                    self.error(task.path, message, task.line)
        elif kind in ("Microsoft.ASExecuteDDLTask", "Microsoft.DTSProcessingTask") \
                and body is not None:
            cm = self.check_connection(task, body.get("ConnectionName") or "",
                                       "the Analysis Services task")
            if kind == "Microsoft.ASExecuteDDLTask":
                self.check_source(task, body.get("SourceType") or "", body.get("Source") or "",
                                  "the DDL statement")
            if not task.disabled:
                from ssisrun.tasks.analysis_services import check_task as check_as_task

                text = self.override(cm) if cm is not None else None
                if cm is not None and text is None and \
                        "ConnectionString" not in cm.property_expressions:
                    text = cm.connection_string
                for message in check_as_task(kind, body, task.property_expressions, cm, text):
                    self.error(task.path, message, task.line)
        if task.data_flow is not None:
            self.check_data_flow(task)

    def check_sql_task(self, task: TaskHost, body: etree._Element) -> None:
        self.check_connection(task, body.get(SQLTASK_NS + "Connection") or "",
                              "the Execute SQL task")
        self.check_source(task, body.get(SQLTASK_NS + "SqlStmtSourceType") or "",
                          body.get(SQLTASK_NS + "SqlStatementSource") or "", "the SQL statement")
        for child in body:
            if not isinstance(child.tag, str):
                continue
            name = child.get(SQLTASK_NS + "DtsVariableName")
            if name:
                local = etree.QName(child).localname
                what = "a parameter binding" if local == "ParameterBinding" else "a result binding"
                self.check_variable(task, name, what)

    def check_source(self, task: TaskHost, source_type: str, source: str, what: str) -> None:
        if source_type == "Variable":
            self.check_variable(task, source, what)
        elif source_type == "FileConnection":
            self.check_connection(task, source, what)

    def check_execute_package(self, task: TaskHost, body: etree._Element) -> None:
        fields = {etree.QName(c).localname: (c.text or "") for c in body
                  if isinstance(c.tag, str)}
        if fields.get("UseProjectReference", "").lower() == "true":
            name = fields.get("PackageName", "")
            project = self.package.project
            if project is None:
                self.warning(task.path, f"runs project package '{name}'; load the package "
                             "with --project to check it", task.line)
            elif name.lower() not in {n.lower() for n in project.package_names}:
                self.error(task.path, f"runs package '{name}', which the project does not "
                           "hold", task.line)
        else:
            self.check_connection(task, fields.get("Connection", ""), "the Execute Package task")
        for assignment in body:
            if isinstance(assignment.tag, str) and etree.QName(assignment).localname == \
                    "ParameterAssignment":
                bound = assignment.findtext("BindedVariableOrParameterName") or ""
                self.check_variable(task, bound, "a parameter assignment")

    def check_data_flow(self, task: TaskHost) -> None:
        flow = task.data_flow
        assert flow is not None
        for component in flow.components:
            where = f"{task.path}\\{component.name}"
            if not capabilities.component_is_runnable(component.component_type) \
                    and not task.disabled:
                self.error(where, f"data-flow component {component.component_type} cannot be "
                           "run by this ssisrun yet", component.line)
            elif component.component_type == "Microsoft.ScriptComponent" and not task.disabled:
                from ssisrun.dataflow.components.script import check_script_component

                message = check_script_component(self.package, where, self.scripts)
                if message:
                    self.error(where, message, component.line)
            for conn in component.connections:
                ref = conn.connection_manager_id or conn.connection_manager_ref_id
                if not ref:
                    continue
                if self.package.find_connection_manager(conn.connection_manager_id) is None and \
                        self.package.find_connection_manager(
                            conn.connection_manager_ref_id) is None:
                    self.check_connection(task, ref, f"component '{component.name}'",
                                          component.line)


    # ---- transactions

    def check_transactions(self) -> None:
        """TransactionOption=Required (docs/transactions.md): a transaction that would span
        several databases, one of which cannot do two-phase commit, is refused; tasks
        whose work the transaction cannot roll back are warned about."""
        from ssisrun.runtime.transactions import ENLISTING_TASKS, transaction_root

        databases: dict[int, dict[str, tuple[str, list[str]]]] = {}
        roots: dict[int, Executable] = {}
        for exe in self.package.walk():
            root = transaction_root(exe)
            if root is None or not isinstance(exe, TaskHost) or exe.disabled:
                continue
            roots[id(root)] = root
            found = databases.setdefault(id(root), {})
            kind = exe.executable_type
            body = _first_element(exe.object_data)
            refs: list[str] = []
            if kind == "Microsoft.ExecuteSQLTask" and body is not None:
                refs.append(body.get(SQLTASK_NS + "Connection") or "")
            elif kind == "Microsoft.BulkInsertTask" and body is not None:
                refs.append(body.get(BULKINSERT_NS + "DestinationConnectionName") or "")
            elif kind == "Microsoft.ExecutePackageTask" and body is not None:
                fields = {etree.QName(c).localname: (c.text or "") for c in body
                          if isinstance(c.tag, str)}
                if fields.get("ExecuteOutOfProcess", "").strip().lower() in ("true", "1"):
                    self.warning(exe.path, f"'{exe.name}' runs its package out of process "
                                 f"inside the transaction of {root.path}: the child's work "
                                 "cannot join it and is not rolled back with it", exe.line)
                continue
            elif kind not in ENLISTING_TASKS and kind != "Microsoft.ExpressionTask":
                self.warning(exe.path, f"'{exe.name}' ({kind.removeprefix('Microsoft.')}) runs "
                             f"inside the transaction of {root.path}, but its work (files, "
                             "messages, processes) cannot take part in it: it is not rolled "
                             "back when the transaction rolls back", exe.line)
                continue
            if exe.data_flow is not None:
                for component in exe.data_flow.components:
                    ctype = component.component_type.lower()
                    if "destination" in ctype and any(w in ctype for w in (
                            "flatfile", "raw", "excel", "recordset")):
                        self.warning(exe.path + "\\" + component.name, f"'{component.name}' "
                                     f"writes outside the databases, inside the transaction "
                                     f"of {root.path}: what it writes is not rolled back "
                                     "when the transaction rolls back", component.line)
                    for conn in component.connections:
                        refs.append(conn.connection_manager_id or conn.connection_manager_ref_id)
            for ref in refs:
                cm = self.package.find_connection_manager(ref) if ref.strip() else None
                if cm is None or not _is_database(cm):
                    continue
                key, backend = self._database_of(cm)
                entry = found.setdefault(key, (backend, []))
                if cm.name not in entry[1]:
                    entry[1].append(cm.name)
        from ssisrun.runtime.transactions import TWO_PHASE_BACKENDS

        for root_id, found in databases.items():
            if len(found) < 2:
                continue
            lacking = sorted({b or "an unknown database" for b, _ in found.values()
                              if b not in TWO_PHASE_BACKENDS})
            if not lacking:
                continue
            root = roots[root_id]
            names = ", ".join(f"'{n}' ({b or 'unknown'})" for b, ns in found.values()
                              for n in ns)
            self.error(root.path, f"'{root.name}' has TransactionOption=Required and its "
                       f"tasks use several databases (connection managers {names}): one "
                       "transaction across them needs two-phase commit, which "
                       f"{', '.join(lacking)} cannot do; put the work on one database, or "
                       "mark the tasks on the other NotSupported", root.line)

    def _database_of(self, cm: ConnectionManager) -> tuple[str, str]:
        """(a key naming the database, its backend) of a connection manager."""
        from ssisrun.connections import (
            DatabaseConnectionError,
            _backend_of,
            database_url,
            parse_connection_string,
        )

        text = cm.connection_string
        for key in (cm.name, cm.dtsid):
            if key in self.connections:
                text = self.connections[key]
        try:
            url = database_url(text, cm.creation_name, cm.name)
        except DatabaseConnectionError:
            try:
                backend = _backend_of(parse_connection_string(text), cm.creation_name)
            except DatabaseConnectionError:
                backend = ""
            return " ".join(text.lower().split()), backend
        return url.render_as_string(hide_password=False), url.get_backend_name()

    # ---- checkpoints

    def check_checkpoints(self) -> None:
        """Warn about designs that defeat checkpoints (docs/checkpoints.md)."""
        pkg = self.package
        if pkg.checkpoint_usage == CheckpointUsage.Always:
            self.warning(pkg.path, "CheckpointUsage is Always: the first run of a job fails "
                         "because there is no checkpoint file yet; use IfExists "
                         "(ssisrun exec --checkpointing on)", pkg.line)
        if not pkg.save_checkpoints:
            return
        in_flow = [exe for exe in pkg.walk() if not _in_event_handler(exe)]
        if not any(exe.fail_package_on_failure for exe in in_flow):
            self.warning(pkg.path, "SaveCheckpoints is on but no executable has "
                         "FailPackageOnFailure=True, so there is no restart point: a failed "
                         "run does not stop at the failing executable", pkg.line)
        for exe in in_flow:
            if exe.transaction_option == TransactionOption.Required and not any(
                    a.transaction_option == TransactionOption.Required
                    for a in exe.ancestors()):
                if isinstance(exe, Package):
                    self.warning(exe.path, "the package has TransactionOption=Required and "
                                 "SaveCheckpoints is on: when a run fails its transaction rolls "
                                 "back, but executables recorded as completed are skipped on a "
                                 "restart, so their work is lost", exe.line)
                else:
                    if self.exactly_once and not _in_event_handler(exe):
                        continue
                    self.warning(exe.path, f"'{exe.name}' has TransactionOption=Required and "
                                 "the package saves checkpoints: the container restarts as a "
                                 "whole, and work its transaction committed can run again if a "
                                 "run stops between the commit and the checkpoint write; run "
                                 "with --exactly-once to record the commit in the database "
                                 "(docs/transactions.md)", exe.line)
            if exe is not pkg and not isinstance(exe, EventHandler) and exe.event_handlers:
                events = ", ".join(h.event_name or h.name for h in exe.event_handlers)
                self.warning(exe.path, f"'{exe.name}' has event handlers ({events}) and the "
                             "package saves checkpoints: handlers will not run for executables "
                             "skipped on a restart", exe.line)
        self._check_object_variables(in_flow)

    def _check_object_variables(self, executables: list[Executable]) -> None:
        """An Object variable is not saved in the checkpoint file, so one written before a
        restart point and read after it is empty on a restart. Approximation: an Object
        variable that a task writes (an Execute SQL result binding, a Recordset
        destination, a Script task's ReadWriteVariables) and that a Foreach ADO or From
        Variable enumerator or a task reads (Execute SQL parameter bindings, a Script
        task's variables) anywhere in the control flow, unless one loop or transacted
        container (which restarts as a whole) holds both."""
        objects: dict[str, Executable] = {}
        for exe in executables:
            for var in exe.variables:
                if var.data_type in (VarType.Object, VarType.Dispatch):
                    objects.setdefault(var.qualified_name, exe)
        if not objects:
            return
        writers: dict[str, list[Executable]] = {}
        readers: dict[str, list[Executable]] = {}
        for exe in executables:
            wrote, read = _variables_used(exe)
            for name in wrote:
                writers.setdefault(_qualified(name), []).append(exe)
            for name in read:
                readers.setdefault(_qualified(name), []).append(exe)
        for name in objects:
            for reader in readers.get(name, []):
                for writer in writers.get(name, []):
                    if writer is reader or _restart_together(writer, reader):
                        continue
                    self.warning(reader.path, f"Object variable {name} is written by "
                                 f"{writer.path} and read here; Object variables are not saved "
                                 "in checkpoint files, so after a restart that skips the writer "
                                 "it is empty", reader.line)
                    break


def _is_database(cm: ConnectionManager) -> bool:
    kind = cm.creation_name.split(":", 1)[0].upper()
    return kind in ("OLEDB", "ADO.NET", "ADO", "ODBC", "ORACLE", "SQLMOBILE")


def _cm_path(cm: ConnectionManager) -> str:
    """Where validate reports a connection manager's problems (as the reader does)."""
    return f"\\{cm.scope}.ConnectionManagers[{cm.name}]"


def _in_event_handler(exe: Executable) -> bool:
    return any(isinstance(a, EventHandler) for a in (exe, *exe.ancestors()))


def _qualified(name: str) -> str:
    ref = name.strip()
    if ref.startswith("@[") and ref.endswith("]"):
        ref = ref[2:-1]
    return ref if "::" in ref else f"User::{ref}"


def _restart_together(a: Executable, b: Executable) -> bool:
    """Whether one loop or transacted container holds both (it restarts as a whole)."""
    from ssisrun.runtime.restart import is_atomic

    above_a = {id(x) for x in (a, *a.ancestors()) if is_atomic(x)}
    return any(id(x) in above_a for x in (b, *b.ancestors()) if is_atomic(x))


def _variables_used(exe: Executable) -> tuple[list[str], list[str]]:
    """(written, read) variable names of an executable, as far as checkpoints care."""
    written: list[str] = []
    read: list[str] = []
    if isinstance(exe, ForeachLoop) and exe.enumerator is not None:
        enum = exe.enumerator
        if enum.enumerator_type == "ADO":
            read.append(str(enum.settings.get("VarName", "")))
        elif enum.enumerator_type == "FromVariable":
            read.append(str(enum.settings.get("VariableName", "")))
    if not isinstance(exe, TaskHost):
        return written, [r for r in read if r]
    body = _first_element(exe.object_data)
    kind = exe.executable_type
    if kind == "Microsoft.ExecuteSQLTask" and body is not None:
        for child in body:
            if not isinstance(child.tag, str):
                continue
            name = child.get(SQLTASK_NS + "DtsVariableName") or ""
            local = etree.QName(child).localname
            if local == "ResultBinding":
                written.append(name)
            elif local == "ParameterBinding":
                read.append(name)
    elif kind == "Microsoft.ScriptTask" and body is not None:
        read += _split_names(body.get("ReadOnlyVariables") or "")
        both = _split_names(body.get("ReadWriteVariables") or "")
        written += both
        read += both
    if exe.data_flow is not None:
        for component in exe.data_flow.components:
            if "recordset" in component.component_type.lower():
                written.append(str(component.properties.get("VariableName", "")))
    return [w for w in written if w], [r for r in read if r]


def _first_element(data: etree._Element | None) -> etree._Element | None:
    if data is None:
        return None
    for child in data:
        if isinstance(child.tag, str):
            return child
    return None


def _split_names(text: str) -> Iterable[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def validate_package(package: Package,
                     scripts: Mapping[str, str] | None = None, *,
                     connections: Mapping[str, str] | None = None,
                     exactly_once: bool = False) -> ValidationResult:
    """Validate a loaded package; see the module docstring. ``scripts`` are the Script
    tasks' Python replacements given on the command line (``--script``); ``connections``
    the connection strings of ``--conn`` (by name or DTSID); ``exactly_once`` says the run
    uses ``--exactly-once``."""
    problems = _Validator(package, scripts, connections, exactly_once).run()
    # One problem is one line of the report: drop exact repeats.
    seen: set[Problem] = set()
    unique = []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            unique.append(problem)
    return ValidationResult(package, unique)


__all__ = ["SYSTEM_VARIABLES", "ValidationResult", "validate_package", "types"]
