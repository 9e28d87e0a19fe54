"""Benchmark the expression engine: compile the corpus, evaluate a compiled expression.

    python bench/expressions.py

Prints (1) the time to build the parser and to parse + type-check + compile every
expression of ../shared/corpus/expressions.tsv (target: under 2 s together), and (2) how many
times per second a compiled 10-node expression with variables, a cast, a function and a
conditional evaluates (target: 200,000/s), each beside an equivalent hand-written Python
lambda measured in the same run. Nothing here is asserted; tests never time anything.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from ssisrun.errors import ExpressionError  # noqa: E402
from ssisrun.expressions import (  # noqa: E402
    ExpressionScope,
    compile_assignment,
    compile_expression,
)
from ssisrun.expressions import types as t  # noqa: E402
from ssisrun.expressions.parser import get_parser  # noqa: E402

#: 10 nodes: ?:, >, @Count, 10, UPPER, (DT_WSTR,20), @Name, LEFT, @Name, 3
EXPRESSION = '@[User::Count] > 10 ? UPPER((DT_WSTR, 20) @[User::Name]) : LEFT(@[User::Name], 3)'


HAND_WRITTEN_SOURCE = (
    'lambda v: None if v["User::Count"] is None else (v["User::Name"][:20].upper() '
    'if v["User::Count"] > 10 else v["User::Name"][:3])'
)


def hand_written(v: Any) -> Any:
    count, name = v["User::Count"], v["User::Name"]
    if count is None:
        return None
    return name[:20].upper() if count > 10 else name[:3]


def bench_compile() -> None:
    started = time.perf_counter()
    get_parser()
    build = time.perf_counter() - started
    try:
        import expression_corpus
    except ImportError:  # pragma: no cover
        print("corpus helper not found; skipping the corpus compile benchmark")
        return
    if not expression_corpus.CORPUS.is_dir():
        print(f"{expression_corpus.CORPUS} is absent; skipping the corpus compile benchmark")
        return
    items = expression_corpus.load()
    started = time.perf_counter()
    failed = 0
    for item in items:
        try:
            if item.mode == "assignment":
                compile_assignment(item.text, item.scope)
            else:
                compile_expression(item.text, item.scope, boolean=item.mode == "boolean")
        except ExpressionError:
            failed += 1
    elapsed = time.perf_counter() - started
    # the yardstick: Python compiling the source of the equivalent hand-written lambda, as
    # many times as there are corpus expressions, beside ssisrun compiling EXPRESSION as often
    scope = ExpressionScope({"User::Count": t.I4, "User::Name": t.WSTR})
    started = time.perf_counter()
    for _ in items:
        compile_expression(EXPRESSION, scope)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    for _ in items:
        eval(compile(HAND_WRITTEN_SOURCE, "<lambda>", "eval"))
    python = time.perf_counter() - started
    print(f"parser build (cached LALR tables): {build * 1000:8.1f} ms")
    print(f"compile {len(items)} corpus expressions: {elapsed * 1000:8.1f} ms "
          f"({elapsed / len(items) * 1e6:.0f} us each, {failed} rejected); "
          f"together {(build + elapsed):.2f} s (target < 2 s)")
    print(f"compile the 10-node expression {len(items)} times: {ours * 1000:8.1f} ms; "
          f"Python compiling the equivalent lambda as often: {python * 1000:8.1f} ms")


def bench_evaluate(n: int = 300_000) -> None:
    scope = ExpressionScope({"User::Count": t.I4, "User::Name": t.WSTR})
    compiled = compile_expression(EXPRESSION, scope)
    rows = [{"User::Count": i % 20, "User::Name": f"name {i % 7}"} for i in range(64)]
    for row in rows:
        assert compiled.evaluate(row) == hand_written(row)
    evaluate = compiled.evaluate
    started = time.perf_counter()
    for i in range(n):
        evaluate(rows[i & 63])
    ours = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(n):
        hand_written(rows[i & 63])
    python = time.perf_counter() - started
    print(f"evaluate {EXPRESSION}")
    print(f"  compiled expression: {n / ours:12,.0f} evaluations/s (target >= 200,000)")
    print(f"  hand-written lambda: {n / python:12,.0f} evaluations/s "
          f"(the compiled expression is {ours / python:.1f}x slower)")


if __name__ == "__main__":
    bench_compile()
    bench_evaluate()
