"""The catalog's reports, as SSMS shows them for SSISDB (spec 4.4): **All Executions**
(one row per execution) and **Overview** (one execution: its information, the parameter
values used, each executable's duration and result, its messages), as plain data that the
command prints as text or JSON, and as a self-contained HTML page with a timeline of the
executables."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from ssisrun.catalog.schema import LoggingLevel, MessageType, Status
from ssisrun.catalog.store import Catalog, Execution

RESULTS = {0: "Success", 1: "Failure", 2: "Completion", 3: "Canceled"}
_TYPE_NAMES = {int(t): t.name.replace("_", " ").title().replace(" ", "") for t in MessageType}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone().isoformat(timespec="milliseconds")


def execution_row(execution: Execution) -> dict[str, Any]:
    """All Executions' columns of one execution."""
    duration = execution.duration()
    return {
        "execution_id": execution.execution_id,
        "package_name": execution.package_name,
        "package_path": execution.package_path,
        "status": execution.status,
        "status_name": execution.status_name,
        "created_time": _iso(execution.created_time),
        "start_time": _iso(execution.start_time),
        "end_time": _iso(execution.end_time),
        "duration": None if duration is None else round(duration, 3),
        "worker_agent_id": execution.worker_agent_id,
        "attempts": execution.executed_count,
        "retry_count": execution.retry_count,
    }


def all_executions(catalog: Catalog, *, limit: int | None = None,
                   status: int | None = None) -> list[dict[str, Any]]:
    return [execution_row(e) for e in catalog.executions(limit=limit, status=status)]


def overview(catalog: Catalog, execution_id: int) -> dict[str, Any]:
    """The Overview report of one execution."""
    execution = catalog.execution(execution_id)
    params = catalog.parameters(execution_id)
    level = next((p.parameter_value for p in params
                  if p.object_type == 50 and p.parameter_name == "LOGGING_LEVEL"), None)
    info = execution_row(execution)
    info.update({
        "project_name": execution.project_name,
        "caller_name": execution.caller_name,
        "stopped_by_name": execution.stopped_by_name,
        "machine_name": execution.machine_name,
        "use_any_worker": execution.use_any_worker,
        "allowed_workers": catalog.allowed_workers(execution_id),
        "logging_level": LoggingLevel(int(level)).name.replace("_", " ").title()
        if level is not None else None,
    })
    return {
        "execution": info,
        "attempts": [{
            "attempt": a.attempt, "worker_agent_id": a.worker_agent_id,
            "machine_name": a.machine_name, "process_id": a.process_id,
            "status": a.status, "status_name": Status(a.status).label,
            "exit_code": a.exit_code, "start_time": _iso(a.start_time),
            "end_time": _iso(a.end_time)} for a in catalog.attempts(execution_id)],
        "parameters": [{
            "object_type": p.object_type, "parameter_name": p.parameter_name,
            "parameter_data_type": p.parameter_data_type,
            "parameter_value": None if p.sensitive else p.parameter_value,
            "sensitive": p.sensitive, "required": p.required, "value_set": p.value_set,
            "runtime_override": p.runtime_override} for p in params],
        "executables": [{
            "attempt": s.attempt, "executable_name": s.executable_name,
            "execution_path": s.execution_path, "start_time": _iso(s.start_time),
            "end_time": _iso(s.end_time), "execution_duration": s.execution_duration,
            "execution_result": s.execution_result,
            "result_name": RESULTS.get(s.execution_result, str(s.execution_result))}
            for s in catalog.statistics(execution_id)],
        "messages": [{
            "attempt": m.attempt, "message_time": _iso(m.message_time),
            "message_type": m.message_type,
            "message_type_name": _TYPE_NAMES.get(m.message_type, str(m.message_type)),
            "message_source_type": m.message_source_type, "event_name": m.event_name,
            "message_source_name": m.message_source_name, "package_path": m.package_path,
            "message": m.message} for m in catalog.messages(execution_id)],
    }


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}
.s7,.s9,.r0{color:#1a7f37}.s4,.s6,.r1{color:#c62828}.s3,.r3{color:#b26a00}
.timeline{position:relative;border:1px solid #ccc;margin:.5em 0;background:#fafafa}
.row{position:relative;height:22px;border-bottom:1px solid #eee}
.label{position:absolute;left:4px;top:2px;font-size:12px;white-space:nowrap;z-index:1}
.bar{position:absolute;top:3px;height:16px;border-radius:3px;opacity:.75}
.bar.r0,.bar.r2{background:#4caf50}.bar.r1{background:#e53935}.bar.r3{background:#ffb300}
.m120{color:#c62828}.m110{color:#b26a00}
"""


def html_page(report: dict[str, Any]) -> str:
    """A self-contained page (no scripts, no links out) with the Overview and a timeline."""
    info = report["execution"]
    title = f"Execution {info['execution_id']}: {info['package_name']}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{escape(title)}</h1>", "<h2>Execution Information</h2><table>"]
    for key in ("execution_id", "package_name", "package_path", "status_name", "start_time",
                "end_time", "duration", "attempts", "retry_count", "worker_agent_id",
                "caller_name", "logging_level"):
        value = info.get(key)
        css = f" class='s{info['status']}'" if key == "status_name" else ""
        parts.append(f"<tr><th>{escape(key.replace('_', ' '))}</th><td{css}>"
                     f"{escape('' if value is None else str(value))}</td></tr>")
    parts.append("</table>")
    stats = report["executables"]
    parts.append("<h2>Timeline</h2>")
    if stats:
        starts = [datetime.fromisoformat(s["start_time"]) for s in stats]
        ends = [datetime.fromisoformat(s["end_time"]) for s in stats]
        t0, t1 = min(starts), max(ends)
        span = max((t1 - t0).total_seconds(), 0.001)
        parts.append("<div class='timeline'>")
        for s, begin, end in zip(stats, starts, ends, strict=True):
            left = (begin - t0).total_seconds() / span * 100
            width = max((end - begin).total_seconds() / span * 100, 0.5)
            label = f"{s['execution_path']} (attempt {s['attempt']}, " \
                    f"{s['execution_duration']} ms, {s['result_name']})"
            parts.append(f"<div class='row' title='{escape(label)}'><span class='label'>"
                         f"{escape(label)}</span><div class='bar r{s['execution_result']}' "
                         f"style='left:{left:.2f}%;width:{width:.2f}%'></div></div>")
        parts.append("</div>")
    else:
        parts.append("<p>No executable statistics (logging level None, or not run).</p>")
    parts.append("<h2>Attempts</h2><table><tr><th>attempt</th><th>worker</th><th>pid</th>"
                 "<th>status</th><th>exit code</th><th>start</th><th>end</th></tr>")
    for a in report["attempts"]:
        parts.append("<tr>" + "".join(f"<td>{escape('' if a[k] is None else str(a[k]))}</td>"
                                      for k in ("attempt", "worker_agent_id", "process_id",
                                                "status_name", "exit_code", "start_time",
                                                "end_time")) + "</tr>")
    parts.append("</table><h2>Parameters Used</h2><table><tr><th>object type</th><th>name</th>"
                 "<th>value</th></tr>")
    for p in report["parameters"]:
        value = "********" if p["sensitive"] else p["parameter_value"]
        parts.append(f"<tr><td>{p['object_type']}</td><td>{escape(p['parameter_name'])}</td>"
                     f"<td>{escape('' if value is None else str(value))}</td></tr>")
    parts.append("</table><h2>Executables</h2><table><tr><th>attempt</th><th>path</th>"
                 "<th>start</th><th>duration (ms)</th><th>result</th></tr>")
    for s in stats:
        parts.append(f"<tr><td>{s['attempt']}</td><td>{escape(s['execution_path'])}</td>"
                     f"<td>{escape(s['start_time'])}</td><td>{s['execution_duration']}</td>"
                     f"<td class='r{s['execution_result']}'>{s['result_name']}</td></tr>")
    parts.append("</table><h2>Messages</h2><table><tr><th>attempt</th><th>time</th>"
                 "<th>type</th><th>source</th><th>message</th></tr>")
    for m in report["messages"]:
        parts.append(f"<tr class='m{m['message_type']}'><td>{m['attempt']}</td>"
                     f"<td>{escape(m['message_time'] or '')}</td>"
                     f"<td>{escape(m['message_type_name'])}</td>"
                     f"<td>{escape(m['message_source_name'] or '')}</td>"
                     f"<td>{escape(m['message'])}</td></tr>")
    parts.append("</table></body></html>\n")
    return "\n".join(parts)
