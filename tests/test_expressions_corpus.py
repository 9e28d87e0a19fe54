"""The 3,008 expressions of real packages (../shared/corpus/expressions.tsv) parse and
type-check against their package's variables and parameters.

Skipped when the corpus is absent. Data-flow columns have no metadata here, so a data-flow
expression's columns are typed UNKNOWN (checked leniently); ``$Project::`` parameters missing
from the project's Project.params are too. Every expression that does not compile is listed
with its reason; each is a genuinely invalid expression, documented in docs/expressions.md.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from ssisrun.errors import ExpressionError
from ssisrun.expressions import compile_assignment, compile_expression

expression_corpus = pytest.importorskip("expression_corpus")

if not expression_corpus.CORPUS.is_dir():  # pragma: no cover - depends on the machine
    pytest.skip("../shared/corpus is absent", allow_module_level=True)

Outcome = tuple[list[Any], list[tuple[Any, ExpressionError]]]

#: (package path, start of the expression) -> why SSIS rejects it too.
KNOWN_INVALID: dict[tuple[str, str], str] = {
    ("Package.dtsx", '" SELECT \'" +  (DT_WSTR, 4) @[User::Count]'):
        "undefined variable: the package defines no User::Count (only EnableStep6)",
    ("Package.dtsx", '" SELECT  \'" +  @[User::currentUNCrimeFileName]'):
        "undefined variable: the package defines no User::currentUNCrimeFileName",
    ("Package.dtsx", "@Count=0"): "undefined variable: the package defines no Count",
    ("Package.dtsx", "@Count<10"): "undefined variable: the package defines no Count",
    ("Package.dtsx", "@Count=@Count+1"): "undefined variable: the package defines no Count",
    ("Package.dtsx", "@System::PackageName"):
        "a namespace-qualified variable must be bracketed: @[System::PackageName]",
}


def _compile(item: Any) -> None:
    if item.mode == "assignment":
        compile_assignment(item.text, item.scope)
    else:
        compile_expression(item.text, item.scope, boolean=item.mode == "boolean")


@pytest.fixture(scope="module")
def outcome() -> Outcome:
    items = expression_corpus.load()
    failures = []
    for item in items:
        try:
            _compile(item)
        except ExpressionError as exc:
            failures.append((item, exc))
    return items, failures


def test_the_corpus_has_3008_expressions(outcome: Outcome) -> None:
    items, _ = outcome
    assert len(items) == 3008
    kinds = Counter(i.mode for i in items)
    assert kinds["boolean"] > 300 and kinds["assignment"] > 50


def test_at_least_99_5_percent_compile(outcome: Outcome) -> None:
    items, failures = outcome
    report = "\n".join(
        f"- {item.where}: {exc.message}\n    {item.text[:160]!r}" for item, exc in failures
    )
    print(f"\n{len(items) - len(failures)}/{len(items)} compile; failures:\n{report}")
    assert (len(items) - len(failures)) / len(items) >= 0.995, report


def test_every_failure_is_a_known_invalid_expression(outcome: Outcome) -> None:
    _, failures = outcome
    unexplained = []
    for item, exc in failures:
        name = item.path.rsplit("/", 1)[-1]
        if not any(name == path and item.text.startswith(start)
                   for path, start in KNOWN_INVALID):
            unexplained.append(f"{item.where}: {exc}")
    assert not unexplained, "\n".join(unexplained)


def test_known_invalid_expressions_still_fail(outcome: Outcome) -> None:
    """The list above is not stale: each entry is still rejected."""
    _, failures = outcome
    failing = {(i.path.rsplit("/", 1)[-1], i.text) for i, _ in failures}
    for path, start in KNOWN_INVALID:
        assert any(p == path and text.startswith(start) for p, text in failing), start


def test_texts_recovered_from_the_packages(outcome: Outcome) -> None:
    """expressions.tsv lost the quotes of expressions starting with a string literal; the
    loader takes those texts from the .dtsx (see tests/expression_corpus.py)."""
    items, _ = outcome
    recovered = [i for i in items if i.recovered]
    assert len(recovered) > 400
    key = expression_corpus._key
    assert all(key(i.text) == key(i.tsv_text) and i.text != i.tsv_text for i in recovered)
