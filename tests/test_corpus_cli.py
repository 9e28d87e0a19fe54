"""`ssisrun validate` and `ssisrun show` work on every real package without a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ssisrun.cli import cli

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
PACKAGES = (
    sorted(p for p in (CORPUS / "dtsx").rglob("*") if p.suffix.lower() == ".dtsx")
    if CORPUS.is_dir()
    else []
)
ENCRYPTED = {"avgrishin+Dts2008/LoadParticipantMICEX.dtsx"}

pytestmark = pytest.mark.skipif(not PACKAGES, reason="../shared/corpus is absent")


def _id(path: Path) -> str:
    return path.relative_to(CORPUS / "dtsx").as_posix()


@pytest.mark.parametrize("path", PACKAGES, ids=_id)
def test_validate_and_show_every_package(path: Path) -> None:
    runner = CliRunner()
    expected_load = 5 if _id(path) in ENCRYPTED else None
    result = runner.invoke(cli, ["validate", "--format", "json", "--no-project", str(path)])
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    assert "Traceback" not in result.output
    if expected_load:
        assert result.exit_code == expected_load
        assert "encrypted" in result.output
        return
    assert result.exit_code in (0, 1)
    report = json.loads(result.output)
    assert report["valid"] == (result.exit_code == 0)
    assert report["errors"] == sum(1 for p in report["problems"] if p["severity"] == "error")
    shown = runner.invoke(cli, ["show", "--no-project", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "Traceback" not in shown.output
    assert report["name"] in shown.output
    # passwords written in clear in connection strings are masked
    assert not re.search(r"(?i)\b(password|pwd)\s*=\s*[^*;\s│]", shown.output)
