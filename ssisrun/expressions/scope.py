"""What an expression can see: variables, parameters and (in a data flow) columns.

An :class:`ExpressionScope` maps qualified names — ``User::Count``, ``System::StartTime``,
``$Package::Dir``, ``$Project::Env`` — to their :class:`~ssisrun.expressions.types.SsisType`.
Unqualified references (``@Count``, ``@[Count]``) resolve in any namespace; a name found in
two namespaces is an error (DTS_E_AMBIGUOUSVARIABLENAME) unless ``ambiguous="first"``.
Variable names are case-sensitive.

System variables are visible by default with the types in :data:`SYSTEM_VARIABLES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ssisrun.expressions import types as t
from ssisrun.expressions.types import SsisType

#: the system variables SSIS provides, with the expression type of each.
SYSTEM_VARIABLES: dict[str, SsisType] = {
    f"System::{name}": type_
    for name, type_ in {
        # package
        "CancelEvent": t.I4,
        "ContainerStartTime": t.DATE,
        "CreationDate": t.DATE,
        "CreatorComputerName": t.WSTR,
        "CreatorName": t.WSTR,
        "ExecutionInstanceGUID": t.WSTR,
        "FailedConfigurations": t.WSTR,
        "IgnoreConfigurationsOnLoad": t.BOOL,
        "InteractiveMode": t.BOOL,
        "LocaleID": t.I4,
        "MachineName": t.WSTR,
        "OfflineMode": t.BOOL,
        "PackageID": t.WSTR,
        "PackageName": t.WSTR,
        "ParentContainerGUID": t.WSTR,
        "ServerExecutionID": t.I8,
        "StartTime": t.DATE,
        "UserName": t.WSTR,
        "VersionBuild": t.I4,
        "VersionComment": t.WSTR,
        "VersionGUID": t.WSTR,
        "VersionMajor": t.I4,
        "VersionMinor": t.I4,
        # containers and tasks
        "CreationName": t.WSTR,
        "SourceParentGUID": t.WSTR,
        "TaskID": t.WSTR,
        "TaskName": t.WSTR,
        "TaskTransactionOption": t.I4,
        # event handlers
        "Cancel": t.BOOL,
        "ErrorCode": t.I4,
        "ErrorDescription": t.WSTR,
        "ExecutionStatus": t.I4,
        "ExecutionValue": t.UNKNOWN,
        "PercentComplete": t.I4,
        "ProgressCountHigh": t.I4,
        "ProgressCountLow": t.I4,
        "ProgressDescription": t.WSTR,
        "Propagate": t.BOOL,
        "SourceDescription": t.WSTR,
        "SourceID": t.WSTR,
        "SourceName": t.WSTR,
        "VariableDescription": t.WSTR,
        "VariableID": t.WSTR,
    }.items()
}
# SSIS writes LocaleID; the docs write LocaleId. Both resolve.
SYSTEM_VARIABLES["System::LocaleId"] = t.I4


@dataclass(frozen=True, slots=True)
class Resolution:
    """A reference resolved to its qualified name (the key in the values mapping) and type."""

    name: str
    type: SsisType


@dataclass
class ExpressionScope:
    """The names an expression may reference, and how lenient to be about the rest.

    ``variables``: qualified name -> type, for variables and parameters (``$Package::P``).
    ``columns``: data-flow input column name -> type (``Source.Column`` and lineage ids
    ``#12`` too); None outside a data flow. ``lenient_columns`` types any unknown column as
    UNKNOWN (validation without column metadata); ``lenient_parameters`` does the same for
    ``$Project::``/``$Package::`` references not in ``variables``; ``lenient_variables`` for
    every unknown variable (e.g. a child package reading its parent's variables).
    """

    variables: Mapping[str, SsisType] = field(default_factory=dict)
    columns: Mapping[str, SsisType] | None = None
    lenient_columns: bool = False
    lenient_parameters: bool = False
    lenient_variables: bool = False
    include_system: bool = True
    ambiguous: Literal["error", "first"] = "error"
    _index: dict[str, list[str]] | None = field(default=None, init=False, repr=False)
    _all: dict[str, SsisType] | None = field(default=None, init=False, repr=False)

    @classmethod
    def of(cls, scope: ExpressionScope | Mapping[str, SsisType] | None) -> ExpressionScope:
        """Accept a scope, a plain mapping of qualified names to types, or None."""
        if isinstance(scope, ExpressionScope):
            return scope
        return cls(variables=dict(scope or {}))

    def all_variables(self) -> dict[str, SsisType]:
        if self._all is None:
            merged = dict(SYSTEM_VARIABLES) if self.include_system else {}
            merged.update(self.variables)
            self._all = merged
        return self._all

    def _by_name(self) -> dict[str, list[str]]:
        if self._index is None:
            index: dict[str, list[str]] = {}
            for qualified in self.all_variables():
                _, _, name = qualified.rpartition("::")
                index.setdefault(name, []).append(qualified)
            self._index = index
        return self._index

    def resolve_variable(self, name: str) -> Resolution | str:
        """The variable or parameter ``name`` refers to, or a message saying why not."""
        known = self.all_variables()
        if "::" in name:
            type_ = known.get(name)
            if type_ is not None:
                return Resolution(name, type_)
            if (name.startswith("$") and self.lenient_parameters) or self.lenient_variables:
                return Resolution(name, t.UNKNOWN)
            kind = "parameter" if name.startswith("$") else "variable"
            from ssisrun.expressions.compiler import suggest

            return f"the {kind} {name} is not defined" + suggest(name, list(known))
        candidates = self._by_name().get(name, [])
        if len(candidates) == 1 or (candidates and self.ambiguous == "first"):
            return Resolution(candidates[0], known[candidates[0]])
        if candidates:
            return (
                f"the variable name {name} is ambiguous ({', '.join(sorted(candidates))}); "
                "qualify it, e.g. @[User::" + name + "]"
            )
        if self.lenient_variables:
            return Resolution(f"User::{name}", t.UNKNOWN)
        from ssisrun.expressions.compiler import suggest

        names = list(self._by_name())
        return f"the variable {name} is not defined" + suggest(name, names)

    def resolve_column(self, name: str) -> Resolution | str:
        """The data-flow column ``name`` refers to, or a message saying why not."""
        if self.columns is not None:
            type_ = self.columns.get(name)
            if type_ is not None:
                return Resolution(name, type_)
            lowered = {c.lower(): c for c in self.columns}
            if name.lower() in lowered:
                real = lowered[name.lower()]
                return Resolution(real, self.columns[real])
        if self.lenient_columns:
            return Resolution(name, t.UNKNOWN)
        if self.columns is None:
            hint = ""
            if name in self._by_name():
                hint = f"; a variable is written @[{self._by_name()[name][0]}]"
            return (
                f"{name} is a column reference, and columns exist only in a data flow" + hint
            )
        from ssisrun.expressions.compiler import suggest

        return f"the column {name} is not an input column" + suggest(name, list(self.columns))
