"""A C# Script Task's VSTA project, as ``ObjectData`` stores it.

Every format version keeps a ``ScriptProject`` element with the task's settings as attributes
(``Language``, ``EntryPoint``, ``ReadOnlyVariables``, ``ReadWriteVariables``) and the project's
files as children: ``ProjectItem`` (text, in CDATA) and ``BinaryItem`` (base64: the assembly
SSIS compiled). SSIS 2008 (format 3, VSTA 2.1) names items in lower case with a leading
backslash (``\\scriptmain.cs``, ``\\properties\\assemblyinfo.cs``, ``\\st_<guid>.csproj``,
``\\bin\\release\\st_<guid>.csproj.dll``); 2012 and later (formats 6 and 8) write
``ScriptMain.cs``, ``Properties\\AssemblyInfo.cs``, ``st_<guid>.csproj`` and ``<name>.dll``.
SSIS 2005 (format 2) stores VSA projects, always Visual Basic. A few 2008 packages keep a second
copy of the project under a temporary folder (``c:\\users\\...\\temp\\...``); those are skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ssisrun.tasks import object_data_body

if TYPE_CHECKING:
    from lxml import etree

    from ssisrun.model import TaskHost

_LANGUAGES = {
    "csharp": "C#", "microsoft visual c# .net": "C#", "microsoft visual c# 2008": "C#",
    "visualbasic": "VB", "microsoft visual basic .net": "VB",
    "microsoft visual basic 2008": "VB", "python": "Python",
}



def language_name(language: str) -> str:
    """A ScriptProject's Language as people say it: ``C#``, ``VB``, ``Python``, or as written."""
    return _LANGUAGES.get(language.strip().lower(), language or "unknown")


def entry_method(entry_point: str) -> str:
    """The .NET entry point: ``ScriptMain.Main`` (2008+ write the method in EntryPoint,
    2005 the class)."""
    entry = entry_point.strip()
    if not entry or entry == "ScriptMain":
        return "ScriptMain.Main"
    return entry if "." in entry else f"ScriptMain.{entry}"


_REFERENCE = re.compile(r"<Reference\s+Include\s*=\s*\"([^\"]+)\"(.*?)(?:/>|</Reference>)",
                        re.S | re.I)
_COM_REFERENCE = re.compile(r"<COMReference\s+Include\s*=\s*\"([^\"]+)\"", re.I)
_HINT = re.compile(r"<HintPath>([^<]+)</HintPath>", re.I)


@dataclass(frozen=True, slots=True)
class Reference:
    """An assembly the project references (from its ``.csproj``)."""

    #: simple name: ``System.Data``, ``Microsoft.Office.Interop.Excel``
    name: str
    hint_path: str = ""
    com: bool = False


@dataclass(slots=True)
class CSharpProject:
    """What a Script task's ``ScriptProject`` holds."""

    name: str = ""
    language: str = ""
    entry_point: str = ""
    read_only: list[str] = field(default_factory=list)
    read_write: list[str] = field(default_factory=list)
    #: the project's ``.cs`` files: item name -> source text
    sources: dict[str, str] = field(default_factory=dict)
    #: every other text item (``.csproj``, ``.resx``, ``.settings``, ``Project``)
    other_items: dict[str, str] = field(default_factory=dict)
    #: the assembly SSIS compiled (the ``BinaryItem`` ending in ``.dll``), if stored
    binary: bytes | None = None
    binary_name: str = ""
    references: list[Reference] = field(default_factory=list)

    @property
    def language_name(self) -> str:
        """``C#``, ``VB``, ``Python`` or the language as written."""
        return language_name(self.language)

    @property
    def is_csharp(self) -> bool:
        return self.language_name == "C#"

    @property
    def is_empty(self) -> bool:
        """A task dropped on the canvas and never edited: no code at all."""
        return not self.sources and self.binary is None

    @property
    def entry(self) -> str:
        """``ScriptMain.Main`` (2008+ write the method in EntryPoint, 2005 the class)."""
        return entry_method(self.entry_point)

    def source_hash(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.sources):
            digest.update(name.encode("utf-8") + b"\0" + self.sources[name].encode("utf-8") + b"\0")
        return digest.hexdigest()


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _is_temp_copy(name: str) -> bool:
    """Items that a 2008 designer saved a second time under a temporary folder."""
    lowered = name.replace("/", "\\").lower()
    return bool(re.match(r"^[a-z]:\\", lowered)) or "\\temp\\" in lowered


def read_references(csproj: str) -> list[Reference]:
    """The assemblies and COM libraries a ``.csproj`` references."""
    found: list[Reference] = []
    for match in _REFERENCE.finditer(csproj):
        name = match.group(1).split(",", 1)[0].strip()
        hint = _HINT.search(match.group(2) or "")
        found.append(Reference(name, hint.group(1).strip() if hint else ""))
    for match in _COM_REFERENCE.finditer(csproj):
        found.append(Reference(match.group(1).strip(), com=True))
    return found


def read_project(body: etree._Element | None) -> CSharpProject:
    """Read a ``ScriptProject`` element (any format version)."""
    if body is None:
        return CSharpProject()
    project = CSharpProject(
        name=body.get("Name") or "",
        language=body.get("Language") or "",
        entry_point=body.get("EntryPoint") or "",
        read_only=_names(body.get("ReadOnlyVariables") or ""),
        read_write=_names(body.get("ReadWriteVariables") or ""),
    )
    for item in body:
        if not isinstance(item.tag, str):
            continue
        kind = item.tag.rsplit("}", 1)[-1]
        name = item.get("Name") or ""
        if _is_temp_copy(name):
            continue
        if kind == "ProjectItem":
            text = item.text or ""
            if name.lower().endswith(".cs"):
                project.sources[name] = text
            else:
                project.other_items[name] = text
                if name.lower().endswith(".csproj") or (name == "Project" and "<Project" in text):
                    project.references.extend(read_references(text))
        elif kind == "BinaryItem" and name.lower().endswith(".dll") and project.binary is None:
            try:
                project.binary = base64.b64decode("".join((item.text or "").split()))
                project.binary_name = name.replace("\\", "/").rsplit("/", 1)[-1]
            except (binascii.Error, ValueError):
                project.binary = None
    seen: set[str] = set()
    unique = []
    for ref in project.references:
        if ref.name.lower() not in seen:
            seen.add(ref.name.lower())
            unique.append(ref)
    project.references = unique
    return project


def task_project(host: TaskHost) -> CSharpProject:
    """The project of a Script task."""
    return read_project(object_data_body(host))
