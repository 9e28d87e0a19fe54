"""dtexec's ``/Set``: property paths that name a variable, a parameter, a connection
manager or a property of an executable, and the values given to them.

A property path is the string the Package Configuration Wizard shows (spec
ssis-runtime.md 1.4)::

    \\Package.Variables[User::X].Properties[Value]       a variable of the package
    \\Package.Variables[User::X].Value                    the same, short form
    \\package.variables[X].Value                          namespace left out, any case
    \\Package\\Load\\Seq.Variables[User::X].Value          a variable of a container
    \\Package.Variables[$Package::P]                      a package or project parameter
    \\Package.Connections[Src].Properties[ConnectionString]
    \\Package.Properties[MaxConcurrentExecutables]         a property of an executable
    \\Package\\Load.Properties[Disable]

:func:`resolve` reads a path against the loaded package and converts the value to
the target's type, raising :class:`SetValueError` (exit code 6) that names the path
when it names nothing or the value does not fit: the command line checks every
``/Set`` this way before the run starts. :func:`apply_set_values` applies them to an
:class:`~ssisrun.runtime.engine.Engine` whose variables are set up; like dtexec, it
changes the loaded package in memory (an executable's properties), the run's
variables and parameters, and the run's connection strings
(``RunRequest.connections``).

Choices where SSIS is silent: names match case-insensitively; an executable name
that contains a ``.`` works; a ``/Set`` of the Value of a variable that is
EvaluateAsExpression does not last (its expression gives the value, as a property
expression overrides ``/Set``, spec 1.4) and says so with a warning; of a connection
manager only the ConnectionString can be set yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ssisrun.errors import ExitCode, ExpressionError, SsisrunError
from ssisrun.model import (
    ConnectionManager,
    Container,
    Executable,
    ForcedExecResult,
    ForLoop,
    Package,
    Parameter,
    Variable,
)

if TYPE_CHECKING:
    from ssisrun.runtime.engine import Engine

#: a ``RunRequest.set_values`` entry whose path is this names an XML configuration file
#: (dtexec's ``/ConfigFile``) applied at that point among the ``/Set`` values
CONFIG_FILE = "/ConfigFile"
#: dtexec's prefix marking a ``/Set`` value as sensitive
SENSITIVE_PREFIX = "$Sensitive::"


class SetValueError(SsisrunError):
    """A ``/Set`` (or configuration) property path names nothing, or its value does not
    fit the target's type (exit code 6: the command line is wrong)."""

    exit_code = ExitCode.BAD_COMMAND_LINE


@dataclass(slots=True)
class PropertyPath:
    """A parsed property path: the executable's names below the package, an optional
    collection (``Variables``, ``Connections``) with its key, and the property."""

    text: str
    executables: list[str]
    collection: str
    key: str
    property: str


@dataclass(slots=True)
class SetTarget:
    """What a path names, with the value converted to the target's type."""

    path: str
    kind: str  # "variable", "parameter", "connection", "executable"
    property: str
    value: Any
    executable: Executable
    variable: Variable | None = None
    parameter: Parameter | None = None
    connection: ConnectionManager | None = None
    #: the model attribute an executable property maps to
    attribute: str = ""
    sensitive: bool = False


_COLLECTION = re.compile(r"^(?P<name>\w+)\[(?P<key>.*)\]$", re.S)
_PROPERTIES = re.compile(r"^properties\[(?P<name>.*)\]$", re.S | re.I)

_BOOL_WORDS = {"true": True, "-1": True, "1": True, "false": False, "0": False}


def _bool(text: str) -> bool:
    word = text.strip().lower()
    if word not in _BOOL_WORDS:
        raise ValueError(f"'{text}' is not a Boolean (True, False, -1, 0)")
    return _BOOL_WORDS[word]


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"'{text}' is not an integer") from None


def _forced_result(text: str) -> ForcedExecResult:
    word = text.strip()
    for member in ForcedExecResult:
        if word.lower() == member.name.rstrip("_").lower():
            return member
    try:
        return ForcedExecResult(int(word))
    except ValueError:
        raise ValueError(f"'{text}' is not a ForceExecutionResult (None -1, Success 0, "
                         "Failure 1, Completion 2)") from None


def _checkpoint_usage(text: str) -> int:
    from ssisrun.model import CheckpointUsage

    word = text.strip()
    for member in CheckpointUsage:
        if word.lower() == member.name.lower():
            return int(member)
    try:
        return int(CheckpointUsage(int(word)))
    except ValueError:
        raise ValueError(f"'{text}' is not a CheckpointUsage (Never 0, IfExists 1, "
                         "Always 2)") from None


def _max_concurrent(text: str) -> int:
    value = _int(text)
    if value < -1 or value == 0:
        raise ValueError(f"'{text}' is not -1 or a positive number of executables")
    return value


#: property name (lower case) -> (model attribute, converter, the class that has it)
_EXECUTABLE_PROPERTIES: dict[str, tuple[str, Any, type]] = {
    "maximumerrorcount": ("maximum_error_count", _int, Executable),
    "maxerrorcount": ("maximum_error_count", _int, Executable),
    "disable": ("disabled", _bool, Executable),
    "disabled": ("disabled", _bool, Executable),
    "failpackageonfailure": ("fail_package_on_failure", _bool, Executable),
    "failparentonfailure": ("fail_parent_on_failure", _bool, Executable),
    "forceexecutionresult": ("force_execution_result", _forced_result, Executable),
    "delayvalidation": ("delay_validation", _bool, Executable),
    "disableeventhandlers": ("disable_event_handlers", _bool, Executable),
    "description": ("description", str, Executable),
    "maxconcurrentexecutables": ("max_concurrent_executables", _max_concurrent, Package),
    "checkpointfilename": ("checkpoint_file_name", str, Package),
    "checkpointusage": ("checkpoint_usage", _checkpoint_usage, Package),
    "savecheckpoints": ("save_checkpoints", _bool, Package),
    "suppressconfigurationwarnings": ("suppress_configuration_warnings", _bool, Package),
    "initexpression": ("init_expression", str, ForLoop),
    "evalexpression": ("eval_expression", str, ForLoop),
    "assignexpression": ("assign_expression", str, ForLoop),
}

_VARIABLE_PROPERTIES = ("Value", "Expression", "EvaluateAsExpression", "ReadOnly",
                        "Description", "RaiseChangedEvent", "IncludeInDebugDump")


# --------------------------------------------------------------------------- parsing


def _split_dots(text: str) -> list[str]:
    """Split at the dots outside brackets."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        if char == "." and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def parse_property_path(text: str) -> PropertyPath:
    """Parse ``\\Package\\A\\B.Collection[Key].Properties[Name]`` (or its short forms)."""
    path = text.strip()
    if not path.lower().startswith("\\package"):
        raise SetValueError(f"the property path '{text}' does not start with \\Package "
                            "(example: \\Package.Variables[User::X].Properties[Value])")
    parts = _split_dots(path)
    prop = ""
    collection = ""
    key = ""
    last = parts[-1] if len(parts) > 1 else ""
    match = _COLLECTION.match(last) if last else None
    if match and match.group("name").lower() == "variables":
        # \Package.Variables[$Package::P]: a parameter (or variable) with no property
        collection, key, prop = "Variables", match.group("key"), "Value"
        parts = parts[:-1]
    elif last:
        props = _PROPERTIES.match(last)
        prop = props.group("name") if props else last
        parts = parts[:-1]
        before = parts[-1] if len(parts) > 1 else ""
        match = _COLLECTION.match(before) if before else None
        if match and match.group("name").lower() != "properties":
            collection, key = match.group("name"), match.group("key")
            parts = parts[:-1]
    head = ".".join(parts)
    if not prop.strip():
        raise SetValueError(f"the property path '{text}' names no property (it ends with "
                            ".Properties[Name] or .Name)")
    names = head.split("\\")[1:]
    if not names or names[0].lower() != "package":
        raise SetValueError(f"the property path '{text}' does not start with \\Package")
    return PropertyPath(path, names[1:], collection, key.strip(), prop.strip())


# --------------------------------------------------------------------------- resolving


def _find_executable(package: Package, path: PropertyPath) -> Executable:
    node: Executable = package
    walked = "\\Package"
    for name in path.executables:
        found: Executable | None = None
        if isinstance(node, Container):
            found = node.child(name) or next(
                (c for c in node.executables if c.name.lower() == name.lower()), None)
        if found is None:
            raise SetValueError(f"{path.text}: {walked} has no executable named '{name}'")
        node = found
        walked = found.path or f"{walked}\\{name}"
    return node


def _convert_variable_value(code: int, text: str, what: str, sensitive: bool) -> Any:
    from ssisrun.expressions import parse_variable_value, to_expression_value
    from ssisrun.expressions.variables import vartype_name

    try:
        value = parse_variable_value(code, text)
        return to_expression_value(code, value)[1] if value is not None else value
    except (ExpressionError, ValueError):
        shown = "the value" if sensitive else f"'{text}'"
        raise SetValueError(f"{what}: {shown} is not a valid {vartype_name(code)} "
                            "value") from None


def resolve(package: Package, path_text: str, value: str) -> SetTarget:
    """What ``path_text`` names in ``package``, with ``value`` converted to its type.
    Raises :class:`SetValueError` naming the path."""
    sensitive = False
    if path_text.startswith(SENSITIVE_PREFIX):
        sensitive = True
        path_text = path_text[len(SENSITIVE_PREFIX):]
    path = parse_property_path(path_text)
    exe = _find_executable(package, path)
    collection = path.collection.lower()
    if collection == "variables":
        return _resolve_variable(package, exe, path, value, sensitive)
    if collection == "connections":
        return _resolve_connection(package, exe, path, value, sensitive)
    if collection:
        raise SetValueError(f"{path.text}: ssisrun cannot set values in the "
                            f"{path.collection} collection yet (Variables, Connections and "
                            "Properties can be set)")
    return _resolve_property(exe, path, value, sensitive)


def _resolve_variable(package: Package, exe: Executable, path: PropertyPath, value: str,
                      sensitive: bool) -> SetTarget:
    key = path.key
    if key.startswith("$"):
        if exe is not package:
            raise SetValueError(f"{path.text}: parameters belong to \\Package, not "
                                f"{exe.path}")
        for param in package.all_parameters():
            if param.qualified_name.lower() == key.lower():
                if path.property.lower() != "value":
                    raise SetValueError(f"{path.text}: only the Value of a parameter can "
                                        "be set")
                secret = sensitive or param.sensitive
                param_value = _convert_variable_value(int(param.data_type), value, path.text,
                                                      secret)
                return SetTarget(path.text, "parameter", "Value", param_value, exe,
                                 parameter=param, sensitive=secret)
        raise SetValueError(f"{path.text}: the package has no parameter {key}")
    namespace, sep, name = key.rpartition("::")
    candidates = [v for v in exe.variables if v.name.lower() == name.lower()
                  and (not sep or v.namespace.lower() == namespace.lower())]
    if not candidates:
        where = exe.path or "\\Package"
        raise SetValueError(f"{path.text}: {where} has no variable {key} (a variable is set "
                            "through the container that owns it)")
    var = candidates[0]
    prop = next((p for p in _VARIABLE_PROPERTIES if p.lower() == path.property.lower()), None)
    if prop is None:
        raise SetValueError(f"{path.text}: a variable has no property '{path.property}' "
                            f"(it has {', '.join(_VARIABLE_PROPERTIES)})")
    secret = sensitive or var.sensitive
    converted: Any
    try:
        if prop == "Value":
            converted = _convert_variable_value(int(var.data_type), value, path.text, secret)
        elif prop in ("EvaluateAsExpression", "ReadOnly", "RaiseChangedEvent"):
            converted = _bool(value)
        elif prop == "IncludeInDebugDump":
            converted = value
        else:
            converted = value
    except ValueError as exc:
        raise SetValueError(f"{path.text}: {exc}") from None
    if prop == "Value" and var.namespace == "System":
        raise SetValueError(f"{path.text}: the system variable {var.qualified_name} is "
                            "read-only")
    return SetTarget(path.text, "variable", prop, converted, exe, variable=var,
                     sensitive=secret)


def _resolve_connection(package: Package, exe: Executable, path: PropertyPath, value: str,
                        sensitive: bool) -> SetTarget:
    if exe is not package:
        raise SetValueError(f"{path.text}: connection managers belong to \\Package")
    cm = package.find_connection_manager(path.key)
    if cm is None:
        names = ", ".join(c.name for c in package.all_connection_managers()) or "none"
        raise SetValueError(f"{path.text}: the package has no connection manager "
                            f"'{path.key}' (it has: {names})")
    if path.property.lower() != "connectionstring":
        raise SetValueError(f"{path.text}: ssisrun can set only the ConnectionString of a "
                            f"connection manager yet, not its {path.property}")
    return SetTarget(path.text, "connection", "ConnectionString", value, exe, connection=cm,
                     sensitive=sensitive)


def _resolve_property(exe: Executable, path: PropertyPath, value: str,
                      sensitive: bool) -> SetTarget:
    entry = _EXECUTABLE_PROPERTIES.get(path.property.lower())
    if entry is None or not isinstance(exe, entry[2]):
        known = sorted({name for name, (_, _, cls) in _EXECUTABLE_PROPERTIES.items()
                        if isinstance(exe, cls)})
        raise SetValueError(f"{path.text}: ssisrun cannot set the property "
                            f"'{path.property}' of {exe.path or chr(92) + 'Package'} "
                            f"(it can set: {', '.join(known)})")
    attribute, converter, _ = entry
    try:
        converted = converter(value)
    except ValueError as exc:
        raise SetValueError(f"{path.text}: {exc}") from None
    return SetTarget(path.text, "executable", path.property, converted, exe,
                     attribute=attribute, sensitive=sensitive)


def check_set_values(package: Package, set_values: list[tuple[str, str]]) -> None:
    """Resolve every ``/Set`` against the loaded package before the run starts; raise
    :class:`SetValueError` (exit 6) for the first that names nothing or does not fit.
    ``/ConfigFile`` entries are checked by :mod:`ssisrun.runtime.configurations`."""
    for path, value in set_values:
        if path != CONFIG_FILE:
            resolve(package, path, value)


def sensitive_set_values(package: Package, set_values: list[tuple[str, str]]) -> list[str]:
    """The values of ``/Set`` entries marked ``$Sensitive::`` or aimed at a sensitive
    parameter or variable, which reports must never show."""
    secrets: list[str] = []
    for path, value in set_values:
        if path == CONFIG_FILE:
            continue
        try:
            target = resolve(package, path, value)
        except SsisrunError:
            if path.startswith(SENSITIVE_PREFIX):
                secrets.append(value)
            continue
        if target.sensitive:
            secrets.append(value)
    return secrets


# --------------------------------------------------------------------------- applying


def apply_target(engine: Engine, target: SetTarget) -> str | None:
    """Apply a resolved target to a run; return a warning when the value will not last."""
    from ssisrun.runtime.variables import RuntimeVariable

    if target.kind == "parameter":
        assert target.parameter is not None
        var = engine.store.globals[target.parameter.qualified_name]
        engine.store.assign(var, target.value, engine.scopes[id(engine.package)], force=True)
        return None
    if target.kind == "connection":
        assert target.connection is not None
        cm = target.connection
        engine.request.connections.pop(cm.dtsid, None)
        engine.request.connections[cm.name] = str(target.value)
        return None
    if target.kind == "executable":
        # the engine sizes its task slots after /Set and configurations are applied
        setattr(target.executable, target.attribute, target.value)
        return None
    assert target.variable is not None
    model = target.variable
    scope = engine.scopes[id(target.executable)]
    runtime = scope.own[model.qualified_name]
    prop = target.property
    if prop == "Value":
        engine.store.assign(runtime, target.value, scope, force=True)
        if runtime.expression:
            return (f"{target.path}: {model.qualified_name} is evaluated as an expression, "
                    "so its expression gives its value, not this one")
        return None
    if prop == "Description":
        runtime.description = str(target.value)
        return None
    if prop == "ReadOnly":
        runtime.read_only = bool(target.value)
        return None
    if prop == "RaiseChangedEvent":
        runtime.raise_changed_event = bool(target.value)
        return None
    if prop == "IncludeInDebugDump":
        return None
    # Expression / EvaluateAsExpression: the model keeps both; the run's variable holds
    # the expression only while it is evaluated as one (a fresh variable drops any
    # compiled form of the old expression).
    if prop == "Expression":
        model.expression = str(target.value)
    else:
        model.evaluate_as_expression = bool(target.value)
    scope.own[model.qualified_name] = RuntimeVariable(
        runtime.namespace, runtime.name, runtime.data_type, runtime.stored_value,
        read_only=runtime.read_only,
        expression=model.expression if model.evaluate_as_expression else "",
        raise_changed_event=runtime.raise_changed_event, scope_path=runtime.scope_path,
        description=runtime.description, dtsid=runtime.dtsid, sensitive=runtime.sensitive)
    return None


def apply_set_values(engine: Engine, set_values: list[tuple[str, str]]) -> None:
    """Apply ``/Set`` values (and ``/ConfigFile`` entries) in order to an engine whose
    variables are set up. A path that names nothing raises :class:`SetValueError`; a
    configuration file that cannot be applied gives warnings (see
    :func:`ssisrun.runtime.configurations.apply_config_file`)."""
    from ssisrun.runtime.configurations import apply_config_file, warn

    for path, value in set_values:
        if path == CONFIG_FILE:
            apply_config_file(engine, value, value)
            continue
        note = apply_target(engine, resolve(engine.package, path, value))
        if note:
            warn(engine, 0x80012017, note)
