"""Real packages whose every executable this ssisrun supports run end to end, with their
Windows paths mapped into a temp folder (skipped when ../shared/corpus is absent).

Tests send network traffic to loopback only, and real packages name their authors' servers
(SMTP relays, database and FTP hosts on private addresses), and their C# scripts can do
anything. So only packages whose tasks work on local files and processes run here:
containers, Expression, Execute Process and File System tasks. Every drive letter is
mapped into the test's temp folder, so no package touches the machine's own files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ssisrun.dtsx import load_package
from ssisrun.errors import SsisrunError

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def _runnable() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted((CORPUS / "dtsx").rglob("*")):
        if path.suffix.lower() != ".dtsx":
            continue
        try:
            pkg = load_package(path)
        except SsisrunError:
            continue
        if all(e.executable_type in LOCAL_ONLY for e in pkg.walk()):
            found.append(path)
    return found


#: executable types that never reach the network
LOCAL_ONLY = frozenset({
    "Microsoft.Package", "STOCK:SEQUENCE", "STOCK:FORLOOP", "STOCK:FOREACHLOOP",
    "EventHandler", "Microsoft.ExpressionTask", "Microsoft.ExecuteProcess",
    "Microsoft.FileSystemTask",
})

RUNNABLE = _runnable()
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")


def test_some_real_packages_are_runnable() -> None:
    assert len(RUNNABLE) >= 10


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.relative_to(CORPUS / "dtsx").as_posix())
def test_runnable_real_package_runs(path: Path, tmp_path: Path) -> None:
    maps = [arg for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            for arg in ("--path-map", f"{letter}:\\={tmp_path}/{letter}/")]
    maps += ["--path-map", f"\\\\={tmp_path}/unc/"]
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", "--plain", "--no-project", *maps, str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert "DTExec: The package execution returned DTSER_" in proc.stdout
    # a failure must come with its reason, never silently
    if proc.returncode == 1:
        assert "Description:" in proc.stdout
