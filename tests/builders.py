"""Build small ``.dtsx`` documents of format version 2, 3, 6 or 8 from a compact description.

Two XML shapes exist (spec ssis-runtime.md 5.2): v2/v3 write every property as a
``<DTS:Property DTS:Name=...>`` child (booleans ``-1``/``0``, defaults included, no
collection wrappers) and v6/v8 write ``DTS:`` attributes (booleans ``True``, defaults left
out, collections in wrappers such as ``DTS:Variables``). :func:`el` and :func:`coll` hide
the difference, so every test describes a package once and gets it in each version::

    xml = package(8, [Exe("Seq", "seq", children=[Exe("A", "sql"), Exe("B", "sql")],
                          constraints=[Constraint("A", "B")])])
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

DTS_NS = "www.microsoft.com/SqlServer/Dts"
SSIS_NS = "www.microsoft.com/SqlServer/SSIS"
SQLTASK_NS = "www.microsoft.com/sqlserver/dts/tasks/sqltask"
VERSIONS = (2, 3, 6, 8)

_TOKEN = "89845dcd8080cc91"
_DOTNET = {2: "9.0.242.0", 3: "10.0.0.0", 6: "11.0.0.0"}


def _qualified(type_name: str, assembly: str, version: int) -> str:
    return (f"{type_name}, {assembly}, Version={_DOTNET[version]}, Culture=neutral, "
            f"PublicKeyToken={_TOKEN}")


def executable_type(version: int, kind: str) -> str:
    """How format ``version`` spells an executable type (spec 5.4); other ``kind``s pass
    through unchanged."""
    if kind == "package":
        return {2: "MSDTS.Package.1", 3: "SSIS.Package.2", 6: "SSIS.Package.3"}.get(
            version, "Microsoft.Package")
    if kind in ("seq", "forloop", "foreach"):
        return {"seq": "STOCK:SEQUENCE", "forloop": "STOCK:FORLOOP",
                "foreach": "STOCK:FOREACHLOOP"}[kind]
    if kind == "pipeline":
        return {2: "DTS.Pipeline.1", 3: "SSIS.Pipeline.2",
                6: "{5918251B-2970-45A4-AB5F-01C3C588FE5A}"}.get(version, "Microsoft.Pipeline")
    tasks = {
        "sql": ("Microsoft.SqlServer.Dts.Tasks.ExecuteSQLTask.ExecuteSQLTask",
                "Microsoft.SqlServer.SQLTask", "Microsoft.ExecuteSQLTask"),
        "script": ("Microsoft.SqlServer.Dts.Tasks.ScriptTask.ScriptTask",
                   "Microsoft.SqlServer.ScriptTask", "Microsoft.ScriptTask"),
        "filesystem": ("Microsoft.SqlServer.Dts.Tasks.FileSystemTask.FileSystemTask",
                       "Microsoft.SqlServer.FileSystemTask", "Microsoft.FileSystemTask"),
    }
    if kind in tasks:
        type_name, assembly, short = tasks[kind]
        return short if version == 8 else _qualified(type_name, assembly, version)
    return kind


def guid(*parts: object) -> str:
    """A stable upper-case ``{GUID}`` for a name, so tests can refer to it."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts)))).upper() + "}"


# --------------------------------------------------------------------------- elements


def _text(value: Any, version: int) -> str:
    if isinstance(value, bool):
        if version >= 6:
            return "True" if value else "False"
        return "-1" if value else "0"
    return str(value)


def el(version: int, tag: str, props: dict[str, Any] | None = None, *children: str,
       attrs: dict[str, str] | None = None) -> str:
    """``<DTS:tag>`` with ``props`` as DTS: attributes (v6/v8; False is left out) or as
    ``DTS:Property`` children (v2/v3). ``attrs`` are attributes in every version."""
    props = props or {}
    head = "".join(f" {k}={quoteattr(v)}" for k, v in (attrs or {}).items())
    body = ""
    if version >= 6:
        head += "".join(f" DTS:{k}={quoteattr(_text(v, version))}" for k, v in props.items()
                        if v is not False and v is not None)
    else:
        body = "\n".join(prop(k, _text(v, version)) for k, v in props.items() if v is not None)
    inner = "\n".join(part for part in (body, *children) if part)
    return f"<DTS:{tag}{head}>{inner}</DTS:{tag}>" if inner else f"<DTS:{tag}{head}/>"


def prop(name: str, text: str, data_type: int | None = None) -> str:
    dt = f' DTS:DataType="{data_type}"' if data_type is not None else ""
    return f'<DTS:Property DTS:Name="{name}"{dt}>{escape(text)}</DTS:Property>'


def coll(version: int, wrapper: str, items: list[str]) -> str:
    """A collection: wrapped (v6/v8, written even when empty) or bare children (v2/v3)."""
    inner = "\n".join(items)
    if version >= 6:
        return f"<DTS:{wrapper}>\n{inner}\n</DTS:{wrapper}>" if items else f"<DTS:{wrapper}/>"
    return inner


def prop_expr(name: str, expression: str) -> str:
    text = escape(expression)
    return f'<DTS:PropertyExpression DTS:Name="{name}">{text}</DTS:PropertyExpression>'


# --------------------------------------------------------------------------- model


@dataclass
class Var:
    name: str
    data_type: int = 8
    value: str = ""
    namespace: str = "User"
    props: dict[str, Any] = field(default_factory=dict)

    def xml(self, version: int, scope: str) -> str:
        props: dict[str, Any] = {"Namespace": self.namespace, "ObjectName": self.name,
                                 "DTSID": guid(scope, "var", self.name), **self.props}
        value = (f'<DTS:VariableValue DTS:DataType="{self.data_type}">{escape(self.value)}'
                 "</DTS:VariableValue>")
        return el(version, "Variable", props, value)


@dataclass
class Constraint:
    frm: str
    to: str
    name: str = "Constraint"
    value: int | None = None
    eval_op: int | None = None
    expression: str | None = None
    logical_and: bool | None = None

    def xml(self, version: int, parent: Exe, parent_ref: str) -> str:
        props: dict[str, Any] = {}
        if version < 6:  # v2/v3 write every field
            props = {"Value": self.value or 0, "EvalOp": self.eval_op or 2,
                     "LogicalAnd": bool(self.logical_and), "Expression": self.expression or ""}
        else:
            for key, val in (("Value", self.value), ("EvalOp", self.eval_op),
                             ("Expression", self.expression), ("LogicalAnd", self.logical_and)):
                if val is not None:
                    props[key] = val
        props.update({"ObjectName": self.name, "DTSID": guid(parent_ref, "pc", self.name)})
        if version >= 6:
            props["From"] = f"{parent_ref}\\{self.frm}"
            props["To"] = f"{parent_ref}\\{self.to}"
            return el(version, "PrecedenceConstraint", props,
                      attrs={"DTS:refId": f"{parent_ref}.PrecedenceConstraints[{self.name}]"})
        ends = "".join(
            f'<DTS:Executable IDREF="{parent.child_dtsid(parent_ref, n).lower()}" '
            f'DTS:IsFrom="{flag}"/>' for n, flag in ((self.frm, "-1"), (self.to, "0")))
        return el(version, "PrecedenceConstraint", props, ends)


@dataclass
class Exe:
    """An executable: ``kind`` is package/seq/forloop/foreach/pipeline/sql/script/... or a
    literal type name. ``extra`` is raw XML placed first (a Foreach enumerator),
    ``object_data`` the inner XML of ``DTS:ObjectData`` (it may use ``{ref}``, the
    executable's refId)."""

    name: str
    kind: str = "sql"
    props: dict[str, Any] = field(default_factory=dict)
    variables: list[Var] = field(default_factory=list)
    children: list[Exe] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    handlers: list[Handler] = field(default_factory=list)
    expressions: dict[str, str] = field(default_factory=dict)
    extra: str = ""
    object_data: str = ""

    def child_dtsid(self, ref: str, name: str) -> str:
        return guid(f"{ref}\\{name}")

    def xml(self, version: int, parent_ref: str) -> str:
        ref = f"{parent_ref}\\{self.name}"
        type_name = executable_type(version, self.kind)
        props: dict[str, Any] = {}
        if version < 6:
            props = {"ForceExecValue": False, "ForceExecutionResult": -1, "Disabled": False,
                     "FailPackageOnFailure": False, "FailParentOnFailure": False,
                     "MaxErrorCount": 1, "ISOLevel": 1048576, "LocaleID": -1,
                     "TransactionOption": 1, "DelayValidation": False}
        props.update(self.props)
        props.update({"ObjectName": self.name, "DTSID": guid(ref), "Description": self.kind,
                      "CreationName": type_name})
        if version < 6:
            props["DisableEventHandlers"] = props.pop("DisableEventHandlers", False)
        attrs = {"DTS:ExecutableType": type_name}
        if version >= 6:
            attrs = {"DTS:refId": ref, **attrs}
        return el(version, "Executable", props, *self.body(version, ref), attrs=attrs)

    def body(self, version: int, ref: str) -> list[str]:
        parts = [self.extra.replace("{ref}", ref)]
        parts += [prop_expr(k, v) for k, v in self.expressions.items()]
        parts.append(coll(version, "Variables", [v.xml(version, ref) for v in self.variables]))
        if self.kind in ("seq", "forloop", "foreach", "package") or self.children:
            parts.append(coll(version, "Executables",
                              [c.xml(version, ref) for c in self.children]))
            parts.append(coll(version, "PrecedenceConstraints",
                              [c.xml(version, self, ref) for c in self.constraints]))
        if self.handlers:
            parts.append(coll(version, "EventHandlers",
                              [h.xml(version, ref) for h in self.handlers]))
        if self.object_data:
            parts.append(f"<DTS:ObjectData>{self.object_data.replace('{ref}', ref)}"
                         "</DTS:ObjectData>")
        return parts


@dataclass
class Handler:
    event: str
    children: list[Exe] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)

    def xml(self, version: int, owner_ref: str) -> str:
        ref = f"{owner_ref}.EventHandlers[{self.event}]"
        propagate = Var("Propagate", 11, "-1", namespace="System")
        props: dict[str, Any] = {"EventID": 0, "EventName": self.event,
                                 "DTSID": guid(ref), "CreationName": self.event}
        body = [coll(version, "Variables", [propagate.xml(version, ref)]),
                coll(version, "Executables", [c.xml(version, ref) for c in self.children]),
                coll(version, "PrecedenceConstraints",
                     [c.xml(version, Exe(self.event), ref) for c in self.constraints])]
        attrs = {"DTS:refId": ref} if version >= 6 else None
        return el(version, "EventHandler", props, *body, attrs=attrs)


# --------------------------------------------------------------------------- parts


def connection_manager(version: int, name: str, creation: str, connection_string: str = "",
                       *, dtsid: str | None = None, inner: dict[str, Any] | None = None,
                       inner_children: str = "", expressions: dict[str, str] | None = None,
                       project: bool = False) -> str:
    """A package connection manager (or with ``project``, a ``.conmgr`` root)."""
    inner_props: dict[str, Any] = dict(inner or {})
    if connection_string:
        inner_props["ConnectionString"] = connection_string
    data = el(version, "ConnectionManager", inner_props, inner_children)
    props = {"ObjectName": name, "DTSID": dtsid or guid("cm", name), "CreationName": creation}
    attrs: dict[str, str] = {}
    if project:
        attrs["xmlns:DTS"] = DTS_NS
    elif version >= 6:
        attrs["DTS:refId"] = f"Package.ConnectionManagers[{name}]"
    exprs = "".join(prop_expr(k, v) for k, v in (expressions or {}).items())
    return el(version, "ConnectionManager", props, exprs,
              f"<DTS:ObjectData>{data}</DTS:ObjectData>", attrs=attrs)


def flat_file_columns(version: int, columns: list[tuple[str, str]]) -> str:
    """``[(name, delimiter written escaped, e.g. _x002C_)]`` -> FlatFileColumn elements."""
    items = [el(version, "FlatFileColumn",
                {"ColumnType": "Delimited", "ColumnDelimiter": delim, "DataType": 129,
                 "MaximumWidth": 50, "TextQualified": True, "ObjectName": name,
                 "DTSID": guid("col", name)})
             for name, delim in columns]
    return coll(version, "FlatFileColumns", items)


def password(encrypted: bool = True, value: str = "AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAA") -> str:
    flag = ' Encrypted="1"' if encrypted else ""
    return f'<DTS:Password DTS:Name="Password" Sensitive="1"{flag}>{value}</DTS:Password>'


def package_parameter(name: str, data_type: int, value: str, **props: Any) -> str:
    return el(8, "PackageParameter",
              {"CreationName": "", "DataType": data_type, "DTSID": guid("param", name),
               "ObjectName": name, **props},
              f'<DTS:Property DTS:DataType="{data_type}" DTS:Name="ParameterValue">'
              f"{escape(value)}</DTS:Property>")


def configuration(version: int, name: str, kind: int, string: str, variable: str = "") -> str:
    return el(version, "Configuration",
              {"ConfigurationType": kind, "ConfigurationString": string,
               "ConfigurationVariable": variable, "ObjectName": name,
               "DTSID": guid("cfg", name), "CreationName": ""})


def log_provider(version: int, name: str, creation: str, config: str) -> str:
    return el(version, "LogProvider",
              {"ConfigString": config, "CreationName": creation, "ObjectName": name,
               "DTSID": guid("log", name), "DelayValidation": False})


def foreach_enumerator(version: int, creation: str, object_data: str,
                       expressions: dict[str, str] | None = None) -> str:
    dtsid = guid("enum", creation, object_data)
    exprs = "".join(prop_expr(k, v) for k, v in (expressions or {}).items())
    return el(version, "ForEachEnumerator",
              {"CreationName": creation, "DTSID": dtsid, "ObjectName": dtsid}, exprs,
              f"<DTS:ObjectData>{object_data}</DTS:ObjectData>")


def foreach_mappings(version: int, *variables: str) -> str:
    items = [el(version, "ForEachVariableMapping",
                {"VariableName": name, "ValueIndex": i, "DTSID": guid("map", name, i),
                 "ObjectName": guid("map", name, i), "CreationName": ""})
             for i, name in enumerate(variables)]
    return coll(version, "ForEachVariableMappings", items)


def file_enumerator(version: int, folder: str, spec: str, mapping: str = "User::File") -> str:
    creation = {3: "DTS.ForEachFileEnumerator.2", 6: "DTS.ForEachFileEnumerator.3"}.get(
        version, "Microsoft.ForEachFileEnumerator" if version == 8 else
        "DTS.ForEachFileEnumerator.1")
    data = (f"<ForEachFileEnumeratorProperties><FEFEProperty Folder={quoteattr(folder)}/>"
            f"<FEFEProperty FileSpec={quoteattr(spec)}/><FEFEProperty FileNameRetrievalType="
            '"1"/><FEFEProperty Recurse="-1"/></ForEachFileEnumeratorProperties>')
    return (foreach_enumerator(version, creation, data, {"Directory": "@[User::Dir]"})
            + foreach_mappings(version, mapping))


def sql_task_data(connection: str, sql: str = "SELECT 1", *, results: tuple[str, ...] = (),
                  params: tuple[str, ...] = ()) -> str:
    """``SQLTask:SqlTaskData`` with result bindings and parameter bindings to variables."""
    bindings = "".join(
        f'<SQLTask:ResultBinding SQLTask:ResultName="{i}" SQLTask:DtsVariableName="{v}"/>'
        for i, v in enumerate(results))
    bindings += "".join(
        f'<SQLTask:ParameterBinding SQLTask:ParameterName="{i}" SQLTask:DtsVariableName="{v}"'
        ' SQLTask:ParameterDirection="Input" SQLTask:DataType="130" SQLTask:ParameterSize="-1"/>'
        for i, v in enumerate(params))
    result_type = "ResultSetType_SingleRow" if results else "ResultSetType_None"
    return (f'<SQLTask:SqlTaskData xmlns:SQLTask="{SQLTASK_NS}" SQLTask:Connection='
            f'{quoteattr(connection)} SQLTask:SqlStmtSourceType="DirectInput" '
            f"SQLTask:SqlStatementSource={quoteattr(sql)} SQLTask:ResultType="
            f'"{result_type}">{bindings}</SQLTask:SqlTaskData>')


@dataclass
class Comp:
    """A data-flow component: ``connections`` are ``(connectionManagerID, refId)``."""

    name: str
    class_id: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    connections: list[tuple[str, str]] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


def pipeline(version: int, components: list[Comp],
             paths: list[tuple[str, str, str]] = ()) -> str:
    """``paths`` are ``(name, "Comp.Output", "Comp.Input")``. v6/v8 identify ports by refId
    paths, v2/v3 by numeric ids. Use inside an Exe's ``object_data`` (``{ref}``)."""
    ids: dict[str, str] = {}
    counter = iter(range(1, 10_000))

    def port_id(comp: str, kind: str, port: str) -> str:
        key = f"{comp}.{port}"
        ids[key] = (f"{{ref}}\\{comp}.{kind}[{port}]" if version >= 6 else str(next(counter)))
        return ids[key]

    def ident(value: str) -> str:
        return f'refId="{value}"' if version >= 6 else f'id="{value}"'

    parts = []
    for comp in components:
        cid = f"{{ref}}\\{comp.name}" if version >= 6 else str(next(counter))
        props = "".join(f'<property name="{k}">{escape(v)}</property>'
                        for k, v in comp.properties.items())
        conns = "".join(
            f'<connection name="Conn" connectionManagerID="{cm_id}"'
            + (f' connectionManagerRefId="{cm_ref}"' if cm_ref else "") + "/>"
            for cm_id, cm_ref in comp.connections)
        ins = "".join(f'<input {ident(port_id(comp.name, "Inputs", p))} name="{p}"/>'
                      for p in comp.inputs)
        outs = "".join(f'<output {ident(port_id(comp.name, "Outputs", p))} name="{p}"/>'
                       for p in comp.outputs)
        parts.append(f'<component {ident(cid)} name="{comp.name}" componentClassID='
                     f'"{comp.class_id}"><properties>{props}</properties><connections>{conns}'
                     f"</connections><inputs>{ins}</inputs><outputs>{outs}</outputs>"
                     "</component>")
    path_xml = "".join(
        f'<path {ident("{ref}.Paths[" + name + "]" if version >= 6 else str(next(counter)))} '
        f'name="{name}" startId="{ids.get(start, start)}" endId="{ids.get(end, end)}"/>'
        for name, start, end in paths)
    return (f'<pipeline version="1"><components>{"".join(parts)}</components>'
            f"<paths>{path_xml}</paths></pipeline>")


# --------------------------------------------------------------------------- package


def package(version: int, executables: list[Exe] = (), *, name: str = "Pkg",
            props: dict[str, Any] | None = None, variables: list[Var] = (),
            constraints: list[Constraint] = (), handlers: list[Handler] = (),
            connections: list[str] = (), parameters: list[str] = (),
            configurations: list[str] = (), log_providers: list[str] = (),
            expressions: dict[str, str] | None = None) -> str:
    """A whole package document of format ``version``."""
    type_name = executable_type(version, "package")
    pkg_props: dict[str, Any] = {}
    if version < 6:
        pkg_props = {"ProtectionLevel": 1, "MaxConcurrentExecutables": -1,
                     "CheckpointFileName": "", "SaveCheckpoints": False, "CheckpointUsage": 0,
                     "EnableConfig": False, "LocaleID": 1033}
    pkg_props.update(props or {})
    pkg_props.update({"ObjectName": name, "DTSID": pkg_props.get("DTSID", guid("pkg", name)),
                      "CreationName": type_name})
    root = Exe(name, "package", variables=list(variables), children=list(executables),
               constraints=list(constraints), handlers=list(handlers),
               expressions=dict(expressions or {}))
    ref = "Package"
    body = [f'<DTS:Property DTS:Name="PackageFormatVersion">{version}</DTS:Property>',
            coll(version, "ConnectionManagers", list(connections)) if connections else ""]
    if configurations:
        body.append(coll(version, "Configurations", list(configurations)))
    if log_providers:
        body.append(coll(version, "LogProviders", list(log_providers)))
    if parameters:
        body.append(coll(version, "PackageParameters", list(parameters)))
    body += root.body(version, ref)
    attrs = {"xmlns:DTS": DTS_NS, "DTS:ExecutableType": type_name}
    if version >= 6:
        attrs = {"xmlns:DTS": DTS_NS, "DTS:refId": ref, "DTS:ExecutableType": type_name}
    return '<?xml version="1.0"?>\n' + el(version, "Executable", pkg_props, *body, attrs=attrs)


# --------------------------------------------------------------------------- projects


def manifest(name: str, packages: list[str], conmgrs: list[str] = ()) -> str:
    """An ``SSIS:Project`` manifest (``@Project.manifest``, embedded in a ``.dtproj``)."""
    pkgs = "".join(f'<SSIS:Package SSIS:Name="{p}" SSIS:EntryPoint="1"/>' for p in packages)
    cms = "".join(f'<SSIS:ConnectionManager SSIS:Name="{c}"/>' for c in conmgrs)
    return (f'<SSIS:Project SSIS:ProtectionLevel="DontSaveSensitive" xmlns:SSIS="{SSIS_NS}">'
            f'<SSIS:Properties><SSIS:Property SSIS:Name="Name">{name}</SSIS:Property>'
            f"</SSIS:Properties><SSIS:Packages>{pkgs}</SSIS:Packages>"
            f"<SSIS:ConnectionManagers>{cms}</SSIS:ConnectionManagers></SSIS:Project>")


def dtproj(name: str, packages: list[str], conmgrs: list[str] = ()) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns:xsi='
            '"http://www.w3.org/2001/XMLSchema-instance"><DeploymentModel>Project'
            "</DeploymentModel><DeploymentModelSpecificContent><Manifest>"
            f"{manifest(name, packages, conmgrs)}</Manifest></DeploymentModelSpecificContent>"
            "</Project>\n")


def project_params(*params: tuple[str, int, str, bool, bool]) -> str:
    """``(name, .NET TypeCode, value, required, sensitive)`` -> ``Project.params``."""
    items = []
    for name, type_code, value, required, sensitive in params:
        items.append(
            f'<SSIS:Parameter SSIS:Name="{name}"><SSIS:Properties>'
            f'<SSIS:Property SSIS:Name="ID">{guid("pp", name)}</SSIS:Property>'
            f'<SSIS:Property SSIS:Name="Required">{int(required)}</SSIS:Property>'
            f'<SSIS:Property SSIS:Name="Sensitive">{int(sensitive)}</SSIS:Property>'
            f'<SSIS:Property SSIS:Name="Value">{escape(value)}</SSIS:Property>'
            f'<SSIS:Property SSIS:Name="DataType">{type_code}</SSIS:Property>'
            "</SSIS:Properties></SSIS:Parameter>")
    return (f'<?xml version="1.0"?>\n<SSIS:Parameters xmlns:SSIS="{SSIS_NS}">'
            f'{"".join(items)}</SSIS:Parameters>\n')


def conmgr(name: str, creation: str, connection_string: str, dtsid: str) -> str:
    """A ``.conmgr`` file: one stand-alone (v8) connection manager."""
    return '<?xml version="1.0"?>\n' + connection_manager(
        8, name, creation, connection_string, dtsid=dtsid, project=True) + "\n"
