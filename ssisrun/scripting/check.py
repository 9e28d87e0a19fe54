"""What keeps a C# Script Task from running on this machine, found without running it
(for ``ssisrun validate``): Mono missing, Office COM interop, an assembly that neither Mono nor
the package has, OLE DB (Mono has none), a never-edited task, a Visual Basic task."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ssisrun.model import Package, TaskHost
from ssisrun.scripting.compiler import (
    DESIGN_ONLY_REFERENCES,
    INSTALL_HINT,
    STANDIN_REFERENCES,
    mono_available,
    mono_has,
    mono_library_dir,
)
from ssisrun.scripting.connections import is_sql_server_oledb, oledb_provider
from ssisrun.scripting.project import CSharpProject

_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_OFFICE = re.compile(r"\bMicrosoft\.Office\.(?:Interop\.)?\w+")
_OLEDB = re.compile(r"\bOleDb(?:Connection|Command|DataAdapter|DataReader)\b")
_NAMED_CONNECTION = re.compile(r"Dts\.Connections\s*\[\s*\"([^\"]+)\"\s*\]")


@dataclass(frozen=True, slots=True)
class Blocker:
    """One reason a C# script cannot run here."""

    reason: str


def code_of(project: CSharpProject) -> str:
    """The project's C# without comments (the templates' help comments name ``Dts.`` APIs)."""
    return "\n".join(_COMMENT.sub("", text) for text in project.sources.values())


def blockers(project: CSharpProject, package: Package | None = None,
             check_mono: bool = True) -> list[Blocker]:
    """Everything that keeps this C# project from running through Mono here."""
    found: list[Blocker] = []
    if project.is_empty:
        return [Blocker("it has no code (a Script task that was never edited); SSIS fails it "
                        "with \"The binary code for the script is not found\"")]
    if check_mono and not mono_available():
        found.append(Blocker(f"C# Script Tasks run through Mono, which is not installed: "
                             f"{INSTALL_HINT}"))
    code = code_of(project)
    office = sorted({m.group(0) for m in _OFFICE.finditer(code)}
                    | {r.name for r in project.references
                       if r.com or r.name.lower().startswith("microsoft.office")})
    if office:
        found.append(Blocker(f"it uses Office COM interop ({', '.join(office)}), which needs "
                             "Windows with Office installed"))
    missing = [r.name for r in project.references
               if not r.com and not r.name.lower().startswith("microsoft.office")
               and r.name.lower() not in STANDIN_REFERENCES
               and r.name.lower() not in DESIGN_ONLY_REFERENCES
               and mono_library_dir() is not None and not mono_has(r.name)]
    if missing:
        found.append(Blocker(f"it references {', '.join(missing)}, which the package does not "
                             "hold and Mono's class libraries do not have"))
    oledb = sorted({m.group(0) for m in _OLEDB.finditer(code)})
    if oledb:
        found.append(Blocker(f"it uses OLE DB ({', '.join(oledb)}), which Mono does not "
                             "implement"))
    if package is not None and "AcquireConnection" in code:
        for name in sorted({m.group(1) for m in _NAMED_CONNECTION.finditer(code)}):
            cm = package.find_connection_manager(name)
            if cm is not None and cm.kind == "OLEDB" and \
                    not is_sql_server_oledb(cm.connection_string):
                provider = oledb_provider(cm.connection_string) or "an unknown provider"
                found.append(Blocker(f"it acquires the OLE DB connection '{name}' "
                                     f"({provider}); Mono has no OLE DB, and only SQL Server "
                                     "connections can be turned into SqlClient ones"))
    return found


def csharp_task_problem(package: Package, host: TaskHost, project: CSharpProject,
                        way_out: str) -> str | None:
    """The validate message for a C# Script task without a Python replacement (None when
    it can run through Mono). ``way_out`` says how to give a Python replacement."""
    found = blockers(project, package)
    if not found:
        return None
    reasons = "; ".join(b.reason for b in found)
    return f"the C# Script Task {host.path} cannot run here: {reasons}. {way_out}"


_NETWORK = re.compile(r"\b(?:WebClient|HttpWebRequest|FtpWebRequest|WebRequest|HttpClient|"
                      r"SmtpClient|TcpClient|UdpClient|Socket|SqlConnection|OleDbConnection|"
                      r"AcquireConnection|MessageQueue|Dns)\b")


def network_apis(project: CSharpProject) -> list[str]:
    """The .NET networking and database APIs a script names (it may reach other machines)."""
    return sorted({m.group(0) for m in _NETWORK.finditer(code_of(project))})
