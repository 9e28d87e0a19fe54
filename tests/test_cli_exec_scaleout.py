"""`ssisrun exec A B C --scale-out`: several packages on local workers, recorded in the
catalog."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from ssisrun.cli import cli

REPO = Path(__file__).resolve().parents[1]


def _copies(tmp: Path, n: int) -> list[Path]:
    text = (REPO / "examples" / "hello.dtsx").read_text()
    files = []
    for i in range(n):
        body = text.replace('DTS:ObjectName="Hello"', f'DTS:ObjectName="Hello{i}"', 1).replace(
            "{6C1E4F0A-2B7D-4C3E-9A51-0D8E2F6B7A10}", f"{{6C1E4F0A-2B7D-4C3E-9A51-0D8E2F6B7A2{i}}}")
        file = tmp / f"h{i}.dtsx"
        file.write_text(body)
        files.append(file)
    return files


def test_exec_scale_out_runs_every_package_and_records_them(tmp_path: Path) -> None:
    files = _copies(tmp_path, 3)
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", *map(str, files), "--scale-out",
         "--workers", "2"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 execution(s): 3 succeeded" in proc.stdout
    listing = subprocess.run([sys.executable, "-m", "ssisrun", "catalog", "executions"],
                             capture_output=True, text=True, timeout=60, env=env)
    assert listing.returncode == 0
    for i in range(3):
        assert f"Hello{i}" in listing.stdout
    assert listing.stdout.count("succeeded") == 3


def test_more_than_one_package_needs_scale_out(tmp_path: Path) -> None:
    files = _copies(tmp_path, 2)
    result = CliRunner().invoke(cli, ["exec", str(files[0]), str(files[1])])
    assert result.exit_code == 6
    assert "needs --scale-out" in result.output
