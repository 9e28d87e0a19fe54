"""Helpers for the database task tests: Execute SQL tasks, database connection managers and
a run whose variables the test can read."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from builders import SQLTASK_NS, Exe, Var, connection_manager, package
from taskrun import PackageRun

from ssisrun.runtime import RunRequest


def sql_task(name: str, sql: str, *, connection: str = "Db", result_type: str = "None",
             results: list[tuple[str, str]] = (), params: list[tuple[str, str, str]] = (),
             source_type: str = "DirectInput", expressions: dict[str, str] | None = None,
             **attrs: Any) -> Exe:
    """An Execute SQL task. ``results``: ``(ResultName, variable)``; ``params``:
    ``(ParameterName, variable, direction)``; ``attrs``: more ``SQLTask:`` attributes."""
    extra = "".join(f" SQLTask:{k}={quoteattr(str(v))}" for k, v in attrs.items())
    bindings = "".join(
        f'<SQLTask:ParameterBinding SQLTask:ParameterName="{p}" SQLTask:DtsVariableName="{v}"'
        f' SQLTask:ParameterDirection="{d}" SQLTask:DataType="3" SQLTask:ParameterSize="-1"/>'
        for p, v, d in params)
    bindings += "".join(
        f'<SQLTask:ResultBinding SQLTask:ResultName="{r}" SQLTask:DtsVariableName="{v}"/>'
        for r, v in results)
    data = (f'<SQLTask:SqlTaskData xmlns:SQLTask="{SQLTASK_NS}" SQLTask:Connection='
            f"{quoteattr(connection)} SQLTask:SqlStmtSourceType={quoteattr(source_type)} "
            f"SQLTask:SqlStatementSource={quoteattr(sql)} "
            f'SQLTask:ResultType="ResultSetType_{result_type}"{extra}>{bindings}'
            "</SQLTask:SqlTaskData>")
    return Exe(name, "sql", object_data=data, expressions=dict(expressions or {}))


def database(name: str, text: str, *, retain: bool = False, creation: str = "OLEDB") -> str:
    return connection_manager(8, name, creation, text,
                              inner={"Retain": True} if retain else None)


class Run(PackageRun):
    """Build, load and run a package; keep its events and final variable values. The run is
    ok when it exits 0 and raised no error."""

    def __init__(self, executables: list[Exe], *, connections: list[str] = (),
                 variables: list[Var] = (), constraints: list[Any] = (),
                 request: RunRequest | None = None,
                 props: dict[str, Any] | None = None) -> None:
        super().__init__(package(8, executables, connections=list(connections),
                                 variables=list(variables), constraints=list(constraints),
                                 props=props), request)

    @property
    def ok(self) -> bool:
        return self.result.exit_code == 0 and not self.errors
