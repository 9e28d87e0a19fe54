"""``ssisrun validate`` and transactions: a transaction that would need two-phase commit on
a database that lacks it is an error naming the connections; tasks whose work cannot be
rolled back get a warning; checkpoints with transactions warn unless --exactly-once; the
corpus's transaction demo packages validate with their connection mapped to a test
database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from builders import Exe, package
from click.testing import CliRunner
from sqltest import database, sql_task
from test_transactions import NOT_SUPPORTED, REQUIRED, seq

from ssisrun.cli import cli
from ssisrun.dtsx import load_package_bytes
from ssisrun.validate import validate_package

CH15 = "lucmilot+SSIS_2014_Book/850879_c15_download/ProSSIS/Code/Ch15"
SQLITE = "Data Source=/tmp/x.db;Provider=SQLite;"
PG_A = "postgresql://u@h/a"
PG_B = "postgresql://u@h/b"


def problems(executables: list[Exe], managers: dict[str, str],
             **kwargs: object) -> list[tuple[str, str, str]]:
    cms = [database(name, text) for name, text in managers.items()]
    xml = package(8, executables, connections=cms,
                  props=kwargs.pop("props", None))  # type: ignore[arg-type]
    pkg = load_package_bytes(xml.encode(), "t.dtsx")
    result = validate_package(pkg, **kwargs)  # type: ignore[arg-type]
    return [(p.severity, p.path, p.message) for p in result.problems]


def two(a: str, b: str) -> list[Exe]:
    return [seq("Load", [sql_task("A", "x", connection="A"), sql_task("B", "x", connection="B")],
                REQUIRED)]


def test_sqlite_in_a_transaction_with_another_database_is_an_error() -> None:
    found = problems(two("A", "B"), {"A": PG_A, "B": SQLITE})
    errors = [p for p in found if p[0] == "error"]
    assert len(errors) == 1
    _, path, message = errors[0]
    assert path == "\\Package\\Load"
    assert "'A' (postgresql)" in message and "'B' (sqlite)" in message
    assert "two-phase commit" in message


def test_two_postgres_databases_or_one_sqlite_file_are_fine() -> None:
    assert problems(two("A", "B"), {"A": PG_A, "B": PG_B}) == []
    assert problems(two("A", "B"), {"A": SQLITE, "B": SQLITE}) == []


def test_not_supported_tasks_are_outside_the_transaction() -> None:
    outside = Exe("B", "sql", props=NOT_SUPPORTED,
                  object_data=sql_task("B", "x", connection="B").object_data)
    executables = [seq("Load", [sql_task("A", "x", connection="A"), outside], REQUIRED)]
    assert problems(executables, {"A": PG_A, "B": SQLITE}) == []


def test_conn_overrides_decide_which_database() -> None:
    found = problems(two("A", "B"), {"A": PG_A, "B": PG_B}, connections={"B": SQLITE})
    assert [p[0] for p in found] == ["error"]


def test_tasks_that_cannot_take_part_get_a_warning() -> None:
    from test_task_execute_process import sh

    executables = [seq("Load", [sql_task("A", "x", connection="A"), sh("true", name="Run"),
                                Exe("Copy", "filesystem")], REQUIRED)]
    found = problems(executables, {"A": SQLITE})
    warned = {path: message for severity, path, message in found if severity == "warning"}
    assert "\\Package\\Load\\Run" in warned and "\\Package\\Load\\Copy" in warned
    assert "not rolled back" in warned["\\Package\\Load\\Run"]
    assert "\\Package\\Load\\A" not in warned


def test_checkpoints_with_transactions_warn_unless_exactly_once() -> None:
    executables = [seq("Load", [sql_task("A", "x", connection="A")], REQUIRED)]
    props = {"SaveCheckpoints": True}
    found = problems(executables, {"A": SQLITE}, props=props)
    message = next(m for s, p, m in found if p == "\\Package\\Load")
    assert "--exactly-once" in message
    found = problems(executables, {"A": SQLITE}, props=props, exactly_once=True)
    assert not [m for s, p, m in found if p == "\\Package\\Load"]


@pytest.mark.parametrize("name", ["04_TransactionDemo", "05_MultipleTransactionDemo",
                                  "06_TransactionParent", "06_TransactionChild"])
def test_corpus_transaction_demos_validate(corpus: Path, tmp_path: Path, name: str) -> None:
    project = tmp_path / "Ch15"
    shutil.copytree(corpus / "other" / CH15, project,
                    ignore=shutil.ignore_patterns("bin"))
    for dtsx in (corpus / "dtsx" / CH15).glob("0[4-7]_*.dtsx"):
        shutil.copy(dtsx, project)
    result = CliRunner().invoke(cli, [
        "validate", "--project", str(project), "--package", f"{name}.dtsx",
        "--conn", f"AdventureWorksDW=Data Source={tmp_path / 'aw.db'};Provider=SQLite;"])
    assert result.exit_code == 0, result.output
    assert "error" not in result.output.split("Result:")[0]
