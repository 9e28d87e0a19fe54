"""The README's two set-up commands are real: this runs them, so the README cannot drift.

The first command installs ssisrun and runs the example; the install part needs the
package registry, which tests never reach (they talk to loopback only), so this test
runs everything after the install, with ``python3`` being this interpreter, where
ssisrun is installed. ``.ci/run`` runs the second command literally, install included,
in a fresh virtual environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def setup_commands() -> dict[str, str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    found = dict(re.findall(r"<!-- setup:(\w+) -->\s*```sh\n(.*?)\n```", text, re.S))
    return found


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = setup_commands()
    assert set(commands) == {"run", "test"}
    for cmd in commands.values():
        assert "\n" not in cmd.strip(), "each set-up command is one line"
    assert commands["run"].startswith("python3 -m pip install . && ")
    assert commands["test"] == "python3 -m pip install '.[test]' && python3 -m pytest"


def _shell_with_this_python(tmp_path: Path) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_readme_run_command_works(tmp_path: Path) -> None:
    cmd = setup_commands()["run"]
    after_install = cmd.split(" && ", 1)[1]
    work = tmp_path / "checkout"
    shutil.copytree(REPO / "examples", work / "examples",
                    ignore=shutil.ignore_patterns("output", "archive"))
    result = subprocess.run(
        ["bash", "-c", after_install],
        cwd=work,
        env=_shell_with_this_python(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    # the example fails one task on purpose and recovers: one Error block, success
    assert result.stdout.count("End Error") == 1
    assert "Source: Divide by zero" in result.stdout
    assert result.stdout.count("DTExec: The package execution returned DTSER_SUCCESS (0).") == 2
    # the ETL example loaded its CSV into SQLite and archived the input
    assert (work / "examples" / "etl" / "output" / "customers.db").is_file()
    assert any((work / "examples" / "etl" / "archive").iterdir())


def test_ci_script_runs_the_readme_test_command() -> None:
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "setup:test" in script and "venv" in script
    assert os.access(REPO / ".ci" / "run", os.X_OK)
