"""Compiling C# Script Tasks with Mono's ``mcs`` against ssisrun's stand-in object model.

The stand-in (``standin/*.cs``: SSIS's ``Microsoft.SqlServer.Dts.Runtime`` and
``Microsoft.SqlServer.Dts.Tasks.ScriptTask``, a display-free ``System.Windows.Forms``, the
``System.AddIn`` attribute and the script host) ships as source and is built on first use.
Everything built lives in the user's cache folder (``$XDG_CACHE_HOME/ssisrun``, else
``~/.cache/ssisrun``): the stand-in under ``standin/<version>/`` and each script under
``scripts/<key>/``, where the key hashes the script's files, its references, the stand-in's
version and the compiler's. A package's second run therefore compiles nothing; a script that
does not compile is remembered too.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ssisrun.errors import SsisrunError
from ssisrun.scripting.project import CSharpProject
from ssisrun.scripting.rewrite import rewrite_paths

STANDIN_SOURCES = Path(__file__).with_name("standin")
HOST_EXE = "ssisrun-scripthost.exe"

#: what to install when Mono is missing
INSTALL_HINT = ("apt-get install mono-mcs mono-runtime libmono-system-data4.0-cil "
                "(Debian/Ubuntu; elsewhere the platform's Mono packages)")

#: references the stand-in replaces (lower case)
STANDIN_REFERENCES = frozenset({
    "microsoft.sqlserver.manageddts", "microsoft.sqlserver.scripttask",
    "system.windows.forms", "system.addin", "mscorlib",
})
#: references that only the designer needs (their types are never used by scripts)
DESIGN_ONLY_REFERENCES = frozenset({
    "microsoft.sqlserver.dtsruntimewrap", "microsoft.sqlserver.dtspipelinewrap",
    "microsoft.sqlserver.pipelinehost", "microsoft.sqlserver.txscript",
    "microsoft.sqlserver.vstaintegration",
})
#: what every script is compiled with (those of them that Mono has here)
BASE_REFERENCES = (
    "System", "System.Core", "System.Data", "System.Xml", "System.Configuration",
    "System.Xml.Linq", "System.Data.DataSetExtensions", "Microsoft.CSharp",
)

#: how many times ``mcs`` ran in this process (tests read it)
compile_count = 0


class MonoMissingError(SsisrunError):
    """``mcs`` or ``mono`` is not installed."""


class CompileError(SsisrunError):
    """A script (or the stand-in) does not compile."""

    def __init__(self, message: str, diagnostics: list[str] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


# --------------------------------------------------------------------------- toolchain


def mcs_path() -> str | None:
    return shutil.which("mcs")


def mono_path() -> str | None:
    return shutil.which("mono")


def mono_available() -> bool:
    """Whether both Mono's C# compiler and its runtime are on PATH."""
    return mcs_path() is not None and mono_path() is not None


def require_mono() -> tuple[str, str]:
    mcs, mono = mcs_path(), mono_path()
    if mcs is None or mono is None:
        missing = " and ".join(n for n, p in (("mcs", mcs), ("mono", mono)) if p is None)
        raise MonoMissingError(f"C# Script Tasks need Mono ({missing} not found on PATH): "
                               f"{INSTALL_HINT}")
    return mcs, mono


@lru_cache(maxsize=4)
def _mcs_version(mcs: str) -> str:
    try:
        proc = subprocess.run([mcs, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return proc.stdout.strip() or "unknown"


def mono_library_dir() -> Path | None:
    """Mono's 4.5 class-library folder (where ``System.Data.dll`` and friends are)."""
    candidates = []
    mcs = mcs_path()
    if mcs:
        candidates.append(Path(os.path.realpath(mcs)).parent.parent / "lib" / "mono" / "4.5")
    candidates += [Path("/usr/lib/mono/4.5"), Path("/usr/local/lib/mono/4.5"),
                   Path("/Library/Frameworks/Mono.framework/Versions/Current/lib/mono/4.5")]
    for candidate in candidates:
        if (candidate / "mscorlib.dll").is_file():
            return candidate
    return None


def mono_has(assembly: str) -> bool:
    """Whether Mono's class libraries here include ``assembly`` (a simple name)."""
    lib = mono_library_dir()
    if lib is None:
        return False
    return (lib / f"{assembly}.dll").is_file() or (lib / "Facades" / f"{assembly}.dll").is_file()


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ssisrun"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_mcs(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    global compile_count
    mcs, _ = require_mono()
    compile_count += 1
    try:
        return subprocess.run([mcs, *args], cwd=cwd, capture_output=True, text=True,
                              timeout=300, errors="replace")
    except subprocess.TimeoutExpired:
        raise CompileError("mcs did not finish within 300 seconds") from None
    except OSError as exc:
        raise MonoMissingError(f"cannot run mcs: {exc}") from None


# --------------------------------------------------------------------------- the stand-in


def standin_version() -> str:
    """A hash of the stand-in's sources and the compiler's version."""
    mcs, _ = require_mono()
    digest = hashlib.sha256(_mcs_version(mcs).encode())
    for source in sorted(STANDIN_SOURCES.glob("*.cs")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:20]


_STANDIN_BUILD = (
    ("Microsoft.SqlServer.ManagedDTS.dll", "library", ("ManagedDTS.cs",), ()),
    ("Microsoft.SqlServer.ScriptTask.dll", "library", ("ScriptTask.cs",),
     ("Microsoft.SqlServer.ManagedDTS.dll",)),
    ("SsisRun.Headless.dll", "library", ("Headless.cs",), ()),
    (HOST_EXE, "exe", ("Host.cs",),
     ("System.Data.dll", "System.Core.dll", "System.Xml.dll",
      "Microsoft.SqlServer.ManagedDTS.dll", "Microsoft.SqlServer.ScriptTask.dll",
      "SsisRun.Headless.dll")),
)


def build_standin() -> Path:
    """The folder with the built stand-in assemblies and script host (built once)."""
    folder = cache_root() / "standin" / standin_version()
    if (folder / HOST_EXE).is_file():
        return folder
    with _locked(cache_root() / "standin" / ".lock"):
        if (folder / HOST_EXE).is_file():
            return folder
        work = Path(tempfile.mkdtemp(prefix="build-", dir=folder.parent))
        try:
            for out, target, sources, refs in _STANDIN_BUILD:
                args = ["-noconfig", "-nologo", f"-target:{target}", "-optimize+", "-warn:0",
                        "-r:System.dll", *(f"-r:{r}" for r in refs), f"-out:{out}",
                        *(str(STANDIN_SOURCES / s) for s in sources)]
                proc = _run_mcs(args, work)
                if proc.returncode != 0:
                    raise CompileError(f"ssisrun's C# stand-in ({out}) does not compile with this "
                                       f"Mono: {(proc.stdout + proc.stderr).strip()[-2000:]}")
            os.replace(work, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return folder


# --------------------------------------------------------------------------- scripts


@dataclass(slots=True)
class CompiledScript:
    """An assembly ready for the script host."""

    assembly: Path
    #: True for the package's own precompiled BinaryItem
    binary: bool = False
    #: True when this call ran mcs (False: from the cache)
    compiled_now: bool = False
    #: how many Windows path literals were rewritten
    rewritten: int = 0
    notes: list[str] = field(default_factory=list)


def resolve_references(project: CSharpProject) -> tuple[list[str], list[str]]:
    """(``-r:`` arguments, names of references Mono does not have)."""
    args: list[str] = []
    missing: list[str] = []
    names: list[str] = [name for name in BASE_REFERENCES if mono_has(name)]
    for ref in project.references:
        lowered = ref.name.lower()
        if lowered in STANDIN_REFERENCES or lowered in DESIGN_ONLY_REFERENCES:
            continue
        if ref.com:
            missing.append(ref.name)
        elif mono_has(ref.name):
            if ref.name not in names:
                names.append(ref.name)
        else:
            missing.append(ref.name)
    args = [f"-r:{name}.dll" for name in names]
    return args, missing


_DIAGNOSTIC = re.compile(r"^(?P<file>[^(]+)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>CS\d+): "
                         r"(?P<text>.*)$")


def _file_name(index: int, item: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", item.replace("\\", "/").strip("/").rsplit("/", 1)[-1])
    return f"{index:02d}_{base or 'item.cs'}"


def _compile_sources(sources: dict[str, str], refs: list[str], standin: Path,
                     out: Path) -> list[str]:
    """Run mcs; an empty list when it worked, else the diagnostics (item:line: text)."""
    with tempfile.TemporaryDirectory(prefix="ssisrun-mcs-") as tmp:
        work = Path(tmp)
        files: dict[str, str] = {}
        for index, (item, text) in enumerate(sorted(sources.items())):
            name = _file_name(index, item)
            (work / name).write_text(text, encoding="utf-8")
            files[name] = item
        args = ["-noconfig", "-nologo", "-target:library", "-optimize+", "-warn:0",
                "-codepage:utf8", "-debug-", *refs,
                *(f"-r:{standin / dll}" for dll in ("Microsoft.SqlServer.ManagedDTS.dll",
                                                    "Microsoft.SqlServer.ScriptTask.dll",
                                                    "SsisRun.Headless.dll")),
                f"-out:{work / out.name}", *sorted(files)]
        proc = _run_mcs(args, work)
        if proc.returncode == 0 and (work / out.name).is_file():
            shutil.move(str(work / out.name), str(out))
            return []
        diagnostics = []
        for line in (proc.stdout + proc.stderr).splitlines():
            match = _DIAGNOSTIC.match(line.strip())
            if match:
                item = files.get(Path(match["file"]).name, match["file"])
                diagnostics.append(f"{item}:{match['line']}: {match['code']}: {match['text']}")
            elif "error" in line.lower() and line.strip():
                diagnostics.append(line.strip())
        return diagnostics or [(proc.stdout + proc.stderr).strip()[-500:] or "mcs failed"]


def cache_key(project: CSharpProject, refs: list[str], rewrite: bool) -> str:
    mcs, _ = require_mono()
    digest = hashlib.sha256()
    for part in (standin_version(), _mcs_version(mcs), "rewrite" if rewrite else "plain",
                 *refs, project.source_hash()):
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()[:32]


def compile_project(project: CSharpProject, *, rewrite: bool = True) -> CompiledScript:
    """The project's assembly, from the cache or compiled now. Windows path literals are
    rewritten to go through the run's path map (when the rewritten source does not compile,
    the original is used). Raises :class:`CompileError` with the diagnostics."""
    standin = build_standin()
    refs, missing = resolve_references(project)
    key = cache_key(project, refs, rewrite)
    folder = cache_root() / "scripts" / key
    dll = folder / f"ssisrun_{key[:16]}.dll"
    failed = folder / "errors.txt"
    if dll.is_file():
        return CompiledScript(dll, rewritten=_count_cached(folder))
    if failed.is_file():
        raise CompileError("the script does not compile",
                           failed.read_text(encoding="utf-8").splitlines())
    if not project.sources:
        raise CompileError("the Script task has no source code")
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        if dll.is_file():
            return CompiledScript(dll, rewritten=_count_cached(folder))
        sources = dict(project.sources)
        count = 0
        if rewrite:
            rewritten: dict[str, str] = {}
            for name, text in sources.items():
                new, n = rewrite_paths(text)
                rewritten[name] = new
                count += n
            if count:
                if not _compile_sources(rewritten, refs, standin, dll):
                    (folder / "rewritten.txt").write_text(str(count), encoding="utf-8")
                    return CompiledScript(dll, compiled_now=True, rewritten=count)
                count = 0
        diagnostics = _compile_sources(sources, refs, standin, dll)
        if diagnostics:
            if missing:
                diagnostics.insert(0, "references that Mono does not have: " + ", ".join(missing))
            failed.write_text("\n".join(diagnostics), encoding="utf-8")
            raise CompileError("the script does not compile", diagnostics)
        return CompiledScript(dll, compiled_now=True, rewritten=count)


def _count_cached(folder: Path) -> int:
    try:
        return int((folder / "rewritten.txt").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0


def binary_assembly(project: CSharpProject) -> CompiledScript | None:
    """The package's precompiled assembly (its BinaryItem), written into the cache."""
    if not project.binary:
        return None
    key = hashlib.sha256(project.binary).hexdigest()[:32]
    folder = cache_root() / "binaries"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.dll"
    if not path.is_file():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(project.binary)
        os.replace(tmp, path)
    return CompiledScript(path, binary=True)
