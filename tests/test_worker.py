"""``ssisrun worker`` and ``catalog init`` without a PostgreSQL server: what they say about a
SQLite catalog. (Workers on PostgreSQL: test_scaleout_postgres.py.)"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ssisrun.cli import cli


def test_a_worker_needs_a_postgresql_catalog(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["worker", "--catalog", f"sqlite:///{tmp_path / 'c.db'}",
                                 "--agent-id", "w1"])
    assert result.exit_code == 1
    assert "needs a PostgreSQL catalog" in result.output and "Traceback" not in result.output


def test_a_worker_needs_its_agent_id(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["worker", "--catalog", "postgresql://u@127.0.0.1:1/x"])
    assert result.exit_code == 6 and "--agent-id" in result.output


def test_catalog_init_on_sqlite(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["catalog", "--catalog", f"sqlite:///{tmp_path / 'c.db'}",
                                 "init"])
    assert result.exit_code == 0, result.output
    assert "readable by its owner only" in result.output
