"""Rich renderables of a package, for ``ssisrun show``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ssisrun.model import (
    Container,
    EvalOp,
    EventHandler,
    ExecResult,
    Executable,
    ForcedExecResult,
    ForeachLoop,
    ForLoop,
    Package,
    PrecedenceConstraint,
    TaskHost,
    TransactionOption,
)
from ssisrun.secrets import MASK, mask_connection_string

_KIND = {
    "STOCK:SEQUENCE": "Sequence",
    "STOCK:FORLOOP": "For Loop",
    "STOCK:FOREACHLOOP": "Foreach Loop",
    "Microsoft.Pipeline": "Data Flow",
}
_VALUE_STYLE = {
    ExecResult.Success: ("Success", "green"),
    ExecResult.Failure: ("Failure", "red"),
    ExecResult.Completion: ("Completion", "blue"),
    ExecResult.Canceled: ("Canceled", "yellow"),
}


def render_package(package: Package, tables: bool = True) -> Iterator[Any]:
    yield _header(package)
    tree = Tree(_label(package), guide_style="dim")
    _fill(tree, package)
    yield tree
    if tables:
        yield from _tables(package)


def _header(package: Package) -> Text:
    text = Text()
    text.append(f"Package {package.name}", style="bold")
    text.append(f"  ({package.source})\n", style="dim")
    facts = [
        f"format version {package.format_version}",
        f"ProtectionLevel {package.protection_level.name}",
        f"MaxConcurrentExecutables {package.max_concurrent_executables}",
    ]
    if package.save_checkpoints or package.checkpoint_usage.value:
        facts.append(
            f"checkpoints: SaveCheckpoints {package.save_checkpoints}, CheckpointUsage "
            f"{package.checkpoint_usage.name}, file '{package.checkpoint_file_name}'"
        )
    if package.enable_configurations:
        facts.append(f"{len(package.configurations)} configuration(s) enabled")
    if package.project is not None:
        facts.append(f"project {package.project.name}")
    text.append("  " + "; ".join(facts))
    return text


def _kind(exe: Executable) -> str:
    if isinstance(exe, EventHandler):
        return "event handler"
    return _KIND.get(exe.executable_type, exe.executable_type.removeprefix("Microsoft."))


def _label(exe: Executable) -> Text:
    text = Text()
    style = "bold" if exe.is_container else ""
    if exe.disabled:
        style = "dim strike"
    text.append(exe.name or "(no name)", style=style)
    text.append(f"  [{_kind(exe)}]", style="cyan" if not exe.disabled else "dim")
    flags = []
    if exe.disabled:
        flags.append("disabled")
    if exe.fail_package_on_failure:
        flags.append("FailPackageOnFailure")
    if exe.fail_parent_on_failure:
        flags.append("FailParentOnFailure")
    if exe.transaction_option == TransactionOption.Required:
        flags.append("TransactionOption Required")
    if exe.force_execution_result != ForcedExecResult.None_:
        flags.append(f"ForceExecutionResult {exe.force_execution_result.name}")
    if exe.maximum_error_count != 1:
        flags.append(f"MaximumErrorCount {exe.maximum_error_count}")
    if exe.delay_validation:
        flags.append("DelayValidation")
    if exe.disable_event_handlers:
        flags.append("DisableEventHandlers")
    if flags:
        text.append("  " + ", ".join(flags), style="yellow")
    if isinstance(exe, ForLoop):
        text.append(
            f"\nInit: {exe.init_expression or '-'}   Eval: {exe.eval_expression or '-'}   "
            f"Assign: {exe.assign_expression or '-'}",
            style="magenta",
        )
    if isinstance(exe, ForeachLoop) and exe.enumerator is not None:
        enum = exe.enumerator
        settings = ", ".join(f"{k}={v}" for k, v in enum.settings.items())
        text.append(f"\n{enum.enumerator_type} enumerator", style="magenta")
        if settings:
            text.append(f": {settings}", style="magenta")
        if enum.items:
            text.append(f" ({len(enum.items)} items)", style="magenta")
        for mapping in exe.variable_mappings:
            text.append(f"\n  [{mapping.value_index}] -> {mapping.variable_name}",
                        style="magenta")
    for prop, expr in exe.property_expressions.items():
        text.append(f"\n{prop} = {_one_line(expr)}", style="dim")
    if isinstance(exe, TaskHost) and exe.data_flow is not None:
        flow = exe.data_flow
        text.append(f"\n{len(flow.components)} component(s), {len(flow.paths)} path(s)",
                    style="dim")
    return text


def _fill(node: Tree, exe: Executable) -> None:
    if isinstance(exe, Container):
        for child in exe.executables:
            _fill(node.add(_label(child)), child)
        if exe.precedence_constraints:
            branch = node.add(Text("precedence constraints", style="dim italic"))
            for pc in exe.precedence_constraints:
                branch.add(_constraint(pc))
    if isinstance(exe, TaskHost) and exe.data_flow is not None and exe.data_flow.components:
        flow = node.add(Text("data flow", style="dim italic"))
        for comp in exe.data_flow.components:
            flow.add(Text(f"{comp.name}  [{comp.component_type.removeprefix('Microsoft.')}]"))
        for path in exe.data_flow.paths:
            flow.add(Text(f"{path.start_component} -> {path.end_component}", style="dim"))
    for handler in exe.event_handlers:
        _fill(node.add(_label(handler)), handler)


def _constraint(pc: PrecedenceConstraint) -> Text:
    text = Text()
    text.append(f"{pc.from_executable.name} -> {pc.to_executable.name}  ")
    if pc.eval_op != EvalOp.Expression:
        label, style = _VALUE_STYLE[pc.value]
        text.append(f"on {label}", style=style)
    if pc.eval_op == EvalOp.ExpressionAndConstraint:
        text.append(" and ")
    elif pc.eval_op == EvalOp.ExpressionOrConstraint:
        text.append(" or ")
    if pc.uses_expression:
        text.append(f"when {_one_line(pc.expression)}", style="magenta")
    text.append("  (AND)" if pc.logical_and else "  (OR)", style="dim")
    return text


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 160 else flat[:157] + "..."


def _value(value: Any, sensitive: bool = False) -> str:
    if sensitive:
        return MASK
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return _one_line(str(value))


def _tables(package: Package) -> Iterator[Table]:
    variables = [(exe, var) for exe in package.walk() for var in exe.variables
                 if var.namespace != "System"]
    if variables:
        table = Table(title="Variables", title_justify="left", show_lines=False)
        for col in ("Scope", "Name", "Type", "Value / Expression", "Flags"):
            table.add_column(col, overflow="fold")
        for exe, var in variables:
            flags = []
            if var.read_only:
                flags.append("ReadOnly")
            if var.raise_changed_event:
                flags.append("RaiseChangedEvent")
            value = (f"= {_one_line(var.expression)}" if var.evaluate_as_expression
                     else _value(var.value, var.sensitive))
            table.add_row(escape(exe.path), escape(var.qualified_name), var.data_type.display,
                          escape(value), ", ".join(flags))
        yield table
    params = package.all_parameters()
    if params:
        table = Table(title="Parameters", title_justify="left")
        for col in ("Name", "Type", "Value", "Flags"):
            table.add_column(col, overflow="fold")
        for param in params:
            flags = [f for f, on in (("Required", param.required), ("Sensitive", param.sensitive))
                     if on]
            table.add_row(escape(param.qualified_name), param.data_type.display,
                          escape(_value(param.value, param.sensitive)), ", ".join(flags))
        yield table
    managers = package.all_connection_managers()
    if managers:
        table = Table(title="Connection managers", title_justify="left")
        for col in ("Name", "Scope", "Type", "Connection string", "Notes"):
            table.add_column(col, overflow="fold")
        for cm in managers:
            notes = []
            if cm.retain:
                notes.append("RetainSameConnection")
            if cm.encrypted_secrets:
                notes.append("password encrypted: supply with --conn")
            if cm.property_expressions:
                notes.append("expressions: " + ", ".join(cm.property_expressions))
            if cm.flat_file is not None:
                notes.append(f"{cm.flat_file.format}, {len(cm.flat_file.columns)} column(s)")
            table.add_row(escape(cm.name), cm.scope, escape(cm.creation_name.split(",")[0]),
                          escape(mask_connection_string(cm.connection_string)),
                          escape("; ".join(notes)))
        yield table
