"""Every package in ``examples/`` runs: ``ssisrun exec`` as a real subprocess, from the root
of a temporary copy of the repository's examples (so the repository stays clean), as the
README tells users to run them; each test asserts what the user would see."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

#: the packages a user runs, and the ones that only run as a child of another
ENTRY_PACKAGES = ["hello.dtsx", "parent_child/Parent.dtsx", "etl/LoadCustomers.dtsx"]
CHILD_PACKAGES = {"parent_child/Child.dtsx": "parent_child/Parent.dtsx"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A folder holding a clean copy of ``examples/`` (what a run left there is ignored)."""
    shutil.copytree(EXAMPLES, tmp_path / "examples",
                    ignore=shutil.ignore_patterns("__pycache__", "output", "archive"))
    return tmp_path


def ssisrun_exec(root: Path, package: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", "--plain", "--reporting", "EWI",
         f"examples/{package}", *args],
        cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "DTExec: The package execution returned DTSER_SUCCESS (0)." in proc.stdout
    return proc


def test_every_package_in_examples_is_run_by_a_test() -> None:
    found = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*.dtsx")}
    assert found == set(ENTRY_PACKAGES) | set(CHILD_PACKAGES)
    assert set(CHILD_PACKAGES.values()) <= set(ENTRY_PACKAGES)


def test_hello(root: Path) -> None:
    proc = ssisrun_exec(root, "hello.dtsx")
    # one task fails on purpose and a Failure constraint recovers from it
    assert proc.stdout.count("End Error") == 1
    assert "Source: Divide by zero" in proc.stdout


def test_parent_runs_its_child(root: Path) -> None:
    proc = ssisrun_exec(root, "parent_child/Parent.dtsx")
    assert "Description: Hello from Parent: 3 files to load" in proc.stdout


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


def test_etl_loads_summarizes_loops_and_archives(root: Path) -> None:
    etl = root / "examples" / "etl"
    source = etl / "input" / "customers.csv"
    original = source.read_bytes()
    for _ in range(2):  # a second run starts again from empty tables
        proc = ssisrun_exec(root, "etl/LoadCustomers.dtsx")
        assert "20 row(s) loaded from examples/etl/input/customers.csv" in proc.stdout
        db = etl / "output" / "customers.db"
        # Bulk Insert: every row of the CSV, the header skipped
        assert rows(db, "SELECT COUNT(*), MIN(id), MAX(id) FROM customer") == [(20, 1, 20)]
        assert rows(db, "SELECT name, city, lifetime_value FROM customer WHERE id = 8") == [
            ("Hiro Tanaka", "Tokyo", 3120.0)]
        # Execute SQL: the aggregate
        assert rows(db, "SELECT * FROM country_summary WHERE country IN ('Japan', 'Norway') "
                        "ORDER BY country") == [("Japan", 3, 5160.4), ("Norway", 1, 1999.99)]
        # Foreach ADO loop: one line per row of the result set, in its order
        lines = [line for (line,) in rows(db, "SELECT line FROM report ORDER BY line_no")]
        assert len(lines) == 8
        assert lines[0] == "Japan: 3 customer(s), revenue 5160.4"
        assert lines[-1] == "Czechia: 1 customer(s), revenue 610"
    # File System: the input is archived, and stays where it was
    assert (etl / "archive" / "customers.csv").read_bytes() == original
    assert source.read_bytes() == original


def test_etl_runs_from_another_folder_with_the_folder_parameter(root: Path,
                                                                 tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = root / "examples" / "etl"
    proc = subprocess.run(
        [sys.executable, "-m", "ssisrun", "exec", "--plain", str(folder / "LoadCustomers.dtsx"),
         "--param", f"$Package::Folder={folder}"],
        cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rows(folder / "output" / "customers.db", "SELECT COUNT(*) FROM report") == [(8,)]
    assert list(elsewhere.iterdir()) == []


def test_the_readme_shows_how_to_run_each_example() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for package in ENTRY_PACKAGES:
        assert f"ssisrun exec examples/{package}" in readme, package
