"""The Data Profiling task: computes the profiles its ``ProfileInput`` requests on tables of
a database and writes them as a ``DataProfile`` XML document (the DataProfile.xsd schema,
namespace ``http://schemas.microsoft.com/sqlserver/2008/DataDebugger/``) to a file or a
String variable.

Its settings are the attributes of ``DataProfilingTaskData`` (a property expression under
the same name replaces one): ``DestinationType`` (``FileConnection``, the default, or
``Variable``), ``Destination`` (a FILE connection manager, its path mapped with
``--path-map``, or a variable) and ``OverwriteDestination`` (False by default: an existing
file makes the task fail before anything is computed; a variable is always replaced). The
child element ``ProfileInput`` holds the requests (``ProfileInputXml`` as a property
expression).

Each request's ``DataSourceID`` is the ID of a ``DtsDataSource`` of the input (whose
``DtsConnectionManagerID`` names the connection manager) or the connection manager's own
DTSID or name. The connection manager (ADO.NET, OLE DB or ODBC; ``--conn`` replaces its
connection string) reaches SQL Server, PostgreSQL or SQLite. A DataSourceID that names no
connection manager of the package can be given with ``--conn '{ID}=...'``.

The profiles, the type classes that decide where they apply, and every choice made where
SSIS's documentation is silent are described in ``docs/tasks/data-profiling.md``.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from lxml import etree

from ssisrun.connections import DATABASE_KINDS, connection_url
from ssisrun.errors import SsisrunError
from ssisrun.model import ConnectionManager, ExecResult, normalize_guid
from ssisrun.tasks import Task, TaskOutcome, object_data_body
from ssisrun.tasks._files import (
    E_FOLLOWING_MESSAGE,
    TaskSetupError,
    as_bool,
    as_choice,
    file_connection_path,
    report_failure,
    setting,
)
from ssisrun.tasks.profiling.profiles import XSD, XSI, Profiler, el, sub
from ssisrun.tasks.profiling.request import NS, ProfileInput, parse_profile_input
from ssisrun.tasks.profiling.source import ProfileError, Source

if TYPE_CHECKING:
    from ssisrun.runtime.context import TaskContext

DESTINATION_TYPES = ("FileConnection", "Variable")
#: variable data types the profile can be stored in: String, Object
_TEXT_VARIABLE_TYPES = (8, 13)


class DataProfilingTask(Task):
    def execute(self, ctx: TaskContext) -> TaskOutcome:
        body = object_data_body(self.host)

        def get(attr: str, default: str = "") -> Any:
            return setting(ctx, body, attr, default=default)

        try:
            kind = as_choice("DestinationType", get("DestinationType", "FileConnection"),
                             DESTINATION_TYPES)
            destination = str(get("Destination") or "").strip()
            overwrite = as_bool("OverwriteDestination", get("OverwriteDestination", "False"),
                                E_FOLLOWING_MESSAGE)
            if not destination:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, "no Destination is set (the "
                                     "file connection manager or variable for the profile "
                                     "output)")
            target = self._target(ctx, kind, destination, overwrite)
            profile_input = parse_profile_input(self._input_text(ctx, body))
            document = self._profile(ctx, profile_input)
            if kind == "Variable":
                ctx.scope.set(destination, etree.tostring(document, encoding="unicode"))
            else:
                self._write(target, document)
            ctx.information(0, f"the data profile ({len(document[-1][0])} profiles) was "
                            f"written to {target if kind == 'FileConnection' else destination}")
        except (SsisrunError, OSError) as exc:
            return report_failure(ctx, exc)
        return TaskOutcome(ExecResult.Success)

    # ---------------------------------------------------------------- settings

    @staticmethod
    def _input_text(ctx: TaskContext, body: Any) -> str:
        for name in ("ProfileInputXml", "ProfileInput"):
            if name in ctx.properties:
                return str(ctx.properties[name] or "")
        if body is None:
            return ""
        for child in body:
            if isinstance(child.tag, str) and etree.QName(child).localname == "ProfileInput":
                return child.text or ""
        return body.get("ProfileInput") or ""

    @staticmethod
    def _target(ctx: TaskContext, kind: str, destination: str, overwrite: bool) -> str:
        """Where the output goes, checked before anything is computed."""
        if kind == "Variable":
            var = ctx.scope.find(destination)
            if var is None:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f'Variable "{destination}" does '
                                     f"not exist in the scope of {ctx.host.path}")
            if var.data_type not in _TEXT_VARIABLE_TYPES:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f'the destination variable '
                                     f'"{destination}" is not a String variable')
            if var.read_only:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f'the destination variable '
                                     f'"{destination}" is read-only')
            return destination
        path = file_connection_path(ctx, destination, code=E_FOLLOWING_MESSAGE,
                                    not_file=E_FOLLOWING_MESSAGE)
        if os.path.exists(path.path) and not overwrite:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"the output file {path.quoted} "
                                 f"(from {path.origin}) already exists and "
                                 "OverwriteDestination is False")
        folder = os.path.dirname(os.path.abspath(path.path))
        if not os.path.isdir(folder):
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f'the destination folder "{folder}" '
                                 f"does not exist (destination {path}, from {path.origin})")
        return path.path

    @staticmethod
    def _write(path: str, document: etree._Element) -> None:
        data = etree.tostring(document, xml_declaration=True, encoding="utf-8",
                              pretty_print=True)
        folder = os.path.dirname(os.path.abspath(path))
        fd, temp = tempfile.mkstemp(prefix=".ssisrun-", suffix=".xml", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, path)
        finally:
            if os.path.exists(temp):
                os.unlink(temp)

    # ---------------------------------------------------------------- profiling

    def _profile(self, ctx: TaskContext, profile_input: ProfileInput) -> etree._Element:
        deadline = time.monotonic() + profile_input.timeout if profile_input.timeout else None

        def check() -> None:
            if ctx.cancelled.is_set():
                raise ProfileError("the run was cancelled")
            if deadline is not None and time.monotonic() > deadline:
                raise ProfileError(f"the profiles were not computed within the Timeout of "
                                   f"{profile_input.timeout} seconds")

        nsmap: dict[Any, str] = {None: NS, "xsi": XSI, "xsd": XSD}
        root = etree.Element(f"{{{NS}}}DataProfile", nsmap=nsmap)
        sub(root, "ProfileVersion", "1.0")
        sources_node = sub(root, "DataSources")
        source_input = next((c for c in profile_input.root
                             if isinstance(c.tag, str)
                             and etree.QName(c).localname == "DataProfileInput"), None)
        root.append(copy.deepcopy(source_input) if source_input is not None
                    else el("DataProfileInput"))
        profiles = sub(sub(root, "DataProfileOutput"), "Profiles")
        profilers: dict[str, Profiler] = {}
        total = len(profile_input.requests)
        with ExitStack() as stack:
            for index, req in enumerate(profile_input.requests):
                key = req.data_source.lower()
                profiler = profilers.get(key)
                if profiler is None:
                    profiler = self._open(ctx, stack, profile_input, req.data_source, check)
                    profilers[key] = profiler
                    cm_id, name = self._data_source_names(ctx, profile_input, req.data_source)
                    node = sub(sources_node, "DtsDataSource", ID=req.data_source, Name=name)
                    sub(node, "DtsConnectionManagerID", cm_id)
                try:
                    found = profiler.profile(req)
                except ProfileError as exc:
                    text = str(exc)
                    if not text.startswith("request '"):
                        text = f"{req.title}: {text}"
                    raise ProfileError(text) from None
                if not found and profiler.source.row_count(profiler.table(req.table)) == 0:
                    ctx.information(0, f"{req.title}: the table {req.table} is empty, so no "
                                "profile is computed")
                for node in found:
                    profiles.append(node)
                ctx.progress(f"Finish Computing Request {req.id}",
                             int((index + 1) * 100 / total))
        return root

    @staticmethod
    def _connection_ref(profile_input: ProfileInput, data_source: str) -> str:
        known = profile_input.data_sources.get(data_source.lower())
        return known.connection if known is not None else data_source

    def _data_source_names(self, ctx: TaskContext, profile_input: ProfileInput,
                           data_source: str) -> tuple[str, str]:
        ref = self._connection_ref(profile_input, data_source)
        cm = ctx.engine.package.find_connection_manager(ref)
        if cm is None:
            return ref, ref
        return cm.dtsid or ref, cm.name

    @staticmethod
    def _override(ctx: TaskContext, ref: str) -> str | None:
        """The ``--conn`` value given for a reference that names no connection manager of
        the package (by the same text or GUID)."""
        guid = normalize_guid(ref)
        for key, text in ctx.engine.request.connections.items():
            if key == ref or (guid and normalize_guid(key) == guid):
                return text
        return None

    def _open(self, ctx: TaskContext, stack: ExitStack, profile_input: ProfileInput,
              data_source: str, check: Any) -> Profiler:
        ref = self._connection_ref(profile_input, data_source)
        cm = ctx.engine.package.find_connection_manager(ref)
        if cm is None:
            text = self._override(ctx, ref)
            if text is None:
                raise ProfileError(f"the data source {data_source} names no connection "
                                   "manager of the package; give its connection with --conn "
                                   f"'{ref}=...'")
            cm = ConnectionManager(name=ref, dtsid=ref,
                                   creation_name="ADO.NET:System.Data.SqlClient.SqlConnection",
                                   connection_string=text)
            db = stack.enter_context(ctx.engine.connections.open(cm, text, ctx.map_path))
        else:
            if cm.kind not in DATABASE_KINDS:
                raise ProfileError(f"the data source {data_source} is the connection manager "
                                   f"'{cm.name}' of type {cm.kind or '?'}, not a database "
                                   "connection (ADO.NET, OLE DB or ODBC)")
            cm, text = ctx.connection(ref)
            db = stack.enter_context(ctx.database(ref))
        url = connection_url(cm, text, ctx.map_path)
        if url.get_backend_name() == "sqlite":
            server, database = url.database or ":memory:", "main"
        else:
            server, database = url.host or "", url.database or ""
        source = Source(db, f"connection manager '{cm.name}'", server, database, check)
        return Profiler(source, data_source)


def static_problems(body: Any, package: Any,
                    connections: Any) -> list[tuple[str, str]]:
    """What ``ssisrun validate`` can tell about a Data Profiling task without running it:
    ``(severity, message)`` for a ProfileInput that cannot be read and for each data source
    that names no database connection manager of the package (an error unless ``--conn``
    gives it)."""
    if body is None:
        return [("error", "the Data Profiling task has no settings (no ObjectData)")]
    text = ""
    for child in body:
        if isinstance(child.tag, str) and etree.QName(child).localname == "ProfileInput":
            text = child.text or ""
    try:
        profile_input = parse_profile_input(text)
    except SsisrunError as exc:
        return [("error", str(exc))]
    problems: list[tuple[str, str]] = []
    for data_source in dict.fromkeys(r.data_source for r in profile_input.requests):
        ref = DataProfilingTask._connection_ref(profile_input, data_source)
        cm = package.find_connection_manager(ref)
        if cm is None:
            guid = normalize_guid(ref)
            if not any(k == ref or (guid and normalize_guid(k) == guid) for k in connections):
                problems.append(("error", f"the data source {data_source} names no "
                                 "connection manager of the package; give its connection "
                                 f"with --conn '{ref}=...'"))
        elif cm.kind not in DATABASE_KINDS:
            problems.append(("error", f"the data source {data_source} is the connection "
                             f"manager '{cm.name}' of type {cm.kind or '?'}, not a database "
                             "connection"))
    return problems
