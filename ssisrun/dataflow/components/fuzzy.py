"""Fuzzy Lookup and Fuzzy Grouping, with ssisrun's own matching algorithm.

SSIS's scoring is not published, so the similarities and confidences here are not SSIS's
numbers: the matches should be the ones a person expects, the scores will differ. The
algorithm (``docs/dataflow-fuzzy.md`` has the whole story):

* **Text.** A value is folded with its column's ``FuzzyComparisonFlags`` (IgnoreCase 1,
  IgnoreNonSpace 2 = accents, IgnoreKanaType 0x10000, IgnoreWidth 0x20000), split into
  tokens on the ``Delimiters`` characters, and IgnoreSymbols 4 strips punctuation and
  symbols inside each token. NULL is an empty value.
* **Token weights.** A token weighs ``ln(1 + (N + 1) / (df + 1))``: ``N`` reference rows,
  ``df`` of them with the token in that column, so rare tokens count more. A token the
  reference does not have weighs what its closest reference token weighs (a misspelling of
  "Street" is not a rare word), or the most a token can weigh when nothing is close.
* **Token similarity.** The Dice coefficient of the tokens' 3-grams, padded with two
  start and two end marks: ``2 |A n B| / (|A| + |B|)``; 1 for equal tokens.
* **Column similarity.** Every token of each side finds its best counterpart on the other
  side; the column's similarity is the weighted mean of those best token similarities
  over the tokens of both sides. Word order does not matter; a token missing on one side
  costs its weight. Both sides empty: 1; one side empty: 0. With NumeralsOptions
  (Fuzzy Grouping), leading and/or trailing numbers that differ make the column's
  similarity 0.
* **Record similarity** (``_Similarity``, ``_score``): the mean of the fuzzy columns'
  similarities weighted by the total token weight of each column, so a column with rare
  words counts more. Exact columns (``JoinType`` / ``ExactFuzzy`` 1) must be equal (strings
  after the column's comparison flags); they filter, they do not score. A candidate whose
  column similarity is below that column's ``MinSimilarity`` is no match.
* **Confidence.** For the candidates ``j`` whose similarity is at least half the best
  one's: ``_Confidence(i) = s_i * s_i**4 / sum(s_j**4)``. One clear winner keeps its
  similarity as confidence; two equal winners get half of it each.

Finding candidates never scans the reference table (unless ``Exhaustive`` is True): an
index built once per run maps each column's tokens to the rows holding them and each
3-gram to the tokens holding it. An input token found in the reference uses its own rows;
an unknown token (a misspelling) is replaced by the reference tokens sharing enough
3-grams with it. Rows are scored by the weights of the tokens they share with the input
(rare tokens first; a very common token only adds to rows already found), and the best
``_CANDIDATES`` of them are compared in full.

Fuzzy Lookup reads its reference table (``ReferenceTableName``) through its connection
once, before the first row (SQLite, PostgreSQL or SQL Server). Every ``MatchIndexOptions``
works the same way: ssisrun rebuilds its index in memory on every run and writes no
table into the database, so ``MatchIndexName``, ``DropExistingMatchIndex``,
``CopyReferenceTable`` (the table is read once: a snapshot, as with a copy),
``WarmCaches`` and ``MaxMemoryUsage`` change nothing here. Fuzzy Grouping is blocking:
it keeps every input row until its input ends (SSIS writes them to temporary tables on
its connection; ssisrun keeps them in memory and does not use the connection), groups
them, and emits them all with ``_key_in``, ``_key_out``, ``_score``, the ``_clean``
columns and the column similarities.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from ssisrun.dataflow import types as dft
from ssisrun.dataflow.buffer import Batch
from ssisrun.dataflow.components.database import quote_table, read_query
from ssisrun.dataflow.engine import Component, ComponentError, Emissions
from ssisrun.dataflow.model import Input, Output, OutputColumn, as_bool, as_int
from ssisrun.dtsx.reader import decode_xml_name_escapes
from ssisrun.expressions.types import DataType

#: FuzzyComparisonFlags (the FoldString / CompareString NORM_ flags)
IGNORE_CASE = 0x1
IGNORE_NONSPACE = 0x2
IGNORE_SYMBOLS = 0x4
IGNORE_KANATYPE = 0x10000
IGNORE_WIDTH = 0x20000

#: SSIS's default token delimiters
DEFAULT_DELIMITERS = " \t\r\n,.;:-\"'&/\\@!?()<>[]{}|#*^%"

#: JoinType / ExactFuzzy
EXACT = 1
FUZZY = 2

#: MatchIndexOptions
REUSE_EXISTING_INDEX = 0
GENERATE_NEW_INDEX = 1
GENERATE_AND_PERSIST_NEW_INDEX = 2
GENERATE_AND_MAINTAIN_NEW_INDEX = 3
_INDEX_OPTIONS = {0: "ReuseExistingIndex", 1: "GenerateNewIndex",
                  2: "GenerateAndPersistNewIndex", 3: "GenerateAndMaintainNewIndex"}

#: NumeralsOptions (LeadingTrailingNumeralsSignificant): bit 1 leading, bit 2 trailing
LEADING_NUMERALS = 1
TRAILING_NUMERALS = 2

#: candidate rows compared in full per input row (at least)
_CANDIDATES = 16
#: ... among those scoring at least this share of the best candidate's token score
_CANDIDATE_FLOOR = 0.25
#: an unknown token stands for the reference tokens this similar to it (the closest few)
_TOKEN_EXPANSION = 0.4
_EXPANSIONS = 8
#: a token in more rows than this only scores rows that rarer tokens found
_COMMON_POSTINGS = 256
_MEMO_LIMIT = 500_000

_HIRAGANA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)} | {0x309D: 0x30FD,
                                                               0x309E: 0x30FE}
_WIDE = {cp: unicodedata.normalize("NFKC", chr(cp)) for cp in range(0xFF01, 0xFFEF)
         if unicodedata.normalize("NFKC", chr(cp)) != chr(cp)} | {0x3000: " "}
_LEADING = re.compile(r"^\s*(\d+)")
_TRAILING = re.compile(r"(\d+)\s*$")


# --------------------------------------------------------------------------- text


def fold(text: str, flags: int) -> str:
    """``text`` folded with FuzzyComparisonFlags (all but IgnoreSymbols, which applies to
    tokens so that a symbol between words still separates them)."""
    if flags & IGNORE_WIDTH:
        text = unicodedata.normalize("NFC", text.translate(_WIDE))
    if flags & IGNORE_KANATYPE:
        text = text.translate(_HIRAGANA)
    if flags & IGNORE_NONSPACE:
        text = unicodedata.normalize(
            "NFC", "".join(c for c in unicodedata.normalize("NFD", text)
                           if not unicodedata.combining(c)))
    if flags & IGNORE_CASE:
        text = text.casefold()
    return text


def _strip_symbols(token: str) -> str:
    return "".join(c for c in token if unicodedata.category(c)[0] not in "PS")


class Tokenizer:
    """Values -> tuples of distinct folded tokens (in order of first appearance)."""

    def __init__(self, delimiters: str) -> None:
        chars = "".join(dict.fromkeys(delimiters or DEFAULT_DELIMITERS))
        self.split = re.compile("[" + re.escape(chars) + "]+").split

    def tokens(self, value: Any, flags: int) -> tuple[str, ...]:
        if value is None:
            return ()
        text = fold(value if isinstance(value, str) else str(value), flags)
        parts: Iterable[str] = self.split(text)
        if flags & IGNORE_SYMBOLS:
            parts = (_strip_symbols(p) for p in parts)
        return tuple(dict.fromkeys(p for p in parts if p))


def grams(token: str) -> frozenset[str]:
    """The token's 3-grams, padded with two start and two end marks."""
    padded = "\x02\x02" + token + "\x03\x03"
    return frozenset(padded[i:i + 3] for i in range(len(padded) - 2))


def _deletions(token: str) -> set[str]:
    """The token with one letter left out, each way (tokens of one letter: none)."""
    if len(token) < 2:
        return set()
    return {token[:i] + token[i + 1:] for i in range(len(token))}


def dice(a: frozenset[str], b: frozenset[str]) -> float:
    return 2.0 * len(a & b) / (len(a) + len(b))


def numerals_differ(a: Any, b: Any, options: int) -> bool:
    """Whether leading / trailing numbers that NumeralsOptions makes significant differ."""
    x = "" if a is None else str(a)
    y = "" if b is None else str(b)
    for bit, pattern in ((LEADING_NUMERALS, _LEADING), (TRAILING_NUMERALS, _TRAILING)):
        if options & bit:
            mx, my = pattern.search(x), pattern.search(y)
            if (mx.group(1) if mx else None) != (my.group(1) if my else None):
                return True
    return False


# --------------------------------------------------------------------------- matching


@dataclass(slots=True)
class MatchColumn:
    """One column that takes part in matching."""

    name: str  # for messages
    exact: bool
    flags: int
    min_similarity: float = 0.0
    numerals: int = 0


@dataclass(slots=True)
class Match:
    row: int
    similarity: float
    columns: list[float]  # per match column (exact ones: 1.0)
    confidence: float = 0.0


@dataclass
class _ColumnIndex:
    """Tokens of one fuzzy column over the indexed rows."""

    tokens: list[tuple[str, ...]] = field(default_factory=list)
    postings: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    df: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_gram: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    weight: dict[str, float] = field(default_factory=dict)
    max_weight: float = 1.0
    sets: dict[str, frozenset[int]] = field(default_factory=dict)
    gram_sets: dict[str, frozenset[str]] = field(default_factory=dict)
    #: one-letter deletion -> the tokens it comes from
    deletions: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def posting_set(self, token: str) -> frozenset[int]:
        found = self.sets.get(token)
        if found is None:
            found = self.sets[token] = frozenset(self.postings[token])
        return found


class Matcher:
    """The index over a set of rows (a reference table, or Fuzzy Grouping's own rows) and
    the similarity of a probe to them. ``values`` are, per row, the values of the match
    columns in order; ``counts`` how many rows each indexed row stands for (identical
    rows indexed once)."""

    def __init__(self, columns: Sequence[MatchColumn], delimiters: str,
                 values: Sequence[Sequence[Any]], counts: Sequence[int] | None = None,
                 exhaustive: bool = False, expand_known: bool = False) -> None:
        self.columns = list(columns)
        #: look for similar tokens also when the indexed rows have the probe's token
        #: (Fuzzy Grouping: the probes are the indexed rows)
        self.expand_known = expand_known
        self.tokenizer = Tokenizer(delimiters)
        self.exhaustive = exhaustive
        self.size = len(values)
        self.fuzzy = [i for i, c in enumerate(self.columns) if not c.exact]
        self.exact = [i for i, c in enumerate(self.columns) if c.exact]
        self.values = values
        self.index = {i: _ColumnIndex() for i in self.fuzzy}
        self.by_key: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        self._grams: dict[str, frozenset[str]] = {}
        self._pairs: dict[tuple[str, str], float] = {}
        self._expanded: dict[tuple[int, str], list[tuple[str, float]]] = {}
        total = 0
        for r, row in enumerate(values):
            count = counts[r] if counts is not None else 1
            total += count
            if self.exact:
                self.by_key[self.exact_key(row)].append(r)
            for i in self.fuzzy:
                ci = self.index[i]
                toks = self.tokenizer.tokens(row[i], self.columns[i].flags)
                ci.tokens.append(toks)
                for t in toks:
                    ci.postings[t].append(r)
                    ci.df[t] += count
        for ci in self.index.values():
            ci.max_weight = _weight(total, 0)
            ci.weight = {t: _weight(total, n) for t, n in ci.df.items()}
            for t in ci.df:
                token_grams = ci.gram_sets[t] = grams(t)
                for g in token_grams:
                    ci.by_gram[g].append(t)
                for variant in _deletions(t):
                    ci.deletions[variant].append(t)

    # ---- pieces

    def grams(self, token: str) -> frozenset[str]:
        found = self._grams.get(token)
        if found is None:
            if len(self._grams) > _MEMO_LIMIT:
                self._grams.clear()
            found = self._grams[token] = grams(token)
        return found

    def token_similarity(self, a: str, b: str) -> float:
        if a == b:
            return 1.0
        key = (a, b) if a < b else (b, a)
        found = self._pairs.get(key)
        if found is None:
            if len(self._pairs) > _MEMO_LIMIT:
                self._pairs.clear()
            found = self._pairs[key] = dice(self.grams(a), self.grams(b))
        return found

    def exact_key(self, row: Sequence[Any]) -> tuple[Any, ...]:
        key = []
        for i in self.exact:
            value = row[i]
            if isinstance(value, str):
                value = fold(value, self.columns[i].flags)
                if self.columns[i].flags & IGNORE_SYMBOLS:
                    value = _strip_symbols(value)
            key.append(value)
        return tuple(key)

    def expand(self, column: int, token: str) -> list[tuple[str, float]]:
        """The reference tokens a probe token stands for: itself when the reference has
        it; else the tokens one edit away (a letter dropped, added, changed, or two
        swapped: found through the index of one-letter deletions); else the tokens
        sharing enough 3-grams with it (Dice >= _TOKEN_EXPANSION). The closest
        _EXPANSIONS, with their 3-gram similarity."""
        ci = self.index[column]
        known = token in ci.df
        if known and not self.expand_known:
            return [(token, 1.0)]
        key = (column, token)
        found = self._expanded.get(key)
        if found is not None:
            return found
        mine = self.grams(token)
        near: set[str] = set(ci.deletions.get(token, ()))
        for variant in _deletions(token):
            if variant in ci.df:
                near.add(variant)
            near.update(ci.deletions.get(variant, ()))
        near.discard(token)
        if near:
            scored = [(other, dice(mine, ci.gram_sets[other])) for other in near]
            if known:
                scored.append((token, 1.0))
        else:  # (a known token finds itself here too)
            scored = self._gram_neighbours(ci, mine)
        found = heapq.nsmallest(_EXPANSIONS, scored, key=lambda p: (-p[1], p[0]))
        if len(self._expanded) > _MEMO_LIMIT:
            self._expanded.clear()
        self._expanded[key] = found
        return found

    @staticmethod
    def _gram_neighbours(ci: _ColumnIndex, mine: frozenset[str]) -> list[tuple[str, float]]:
        """Tokens whose 3-gram Dice with ``mine`` is at least _TOKEN_EXPANSION. Prefix
        filtering: a token that similar shares at least ``least`` 3-grams, so it shares
        one of the ``size - least + 1`` rarest of ``mine``; only those are looked up."""
        size = len(mine)
        least = max(1, math.ceil(_TOKEN_EXPANSION * size / (2.0 - _TOKEN_EXPANSION)))
        by_gram = ci.by_gram
        rare = sorted(mine, key=lambda g: (len(by_gram.get(g, ())), g))[:size - least + 1]
        scored = []
        for other in set(chain.from_iterable(by_gram.get(g, ()) for g in rare)):
            sim = dice(mine, ci.gram_sets[other])
            if sim >= _TOKEN_EXPANSION:
                scored.append((other, sim))
        return scored

    def probe_weight(self, column: int, token: str) -> float:
        ci = self.index[column]
        weight = ci.weight.get(token)
        if weight is not None:
            return weight
        near = self.expand(column, token)
        return ci.weight[near[0][0]] if near else ci.max_weight

    # ---- similarity

    def column_similarity(self, column: int, probe: tuple[str, ...],
                          ref: tuple[str, ...]) -> tuple[float, float]:
        """(similarity, total weight) of two token tuples of one column."""
        if not probe and not ref:
            return 1.0, 0.0
        ci = self.index[column]
        if probe == ref:
            return 1.0, 2.0 * sum(self.probe_weight(column, t) for t in probe)
        num = den = 0.0
        ref_set = set(ref)
        for t in probe:
            w = self.probe_weight(column, t)
            den += w
            if t in ref_set:
                num += w
            elif ref:
                num += w * max(self.token_similarity(t, u) for u in ref)
        probe_set = set(probe)
        for u in ref:
            w = ci.weight.get(u, ci.max_weight)
            den += w
            if u in probe_set:
                num += w
            elif probe:
                num += w * max(self.token_similarity(t, u) for t in probe)
        return (num / den if den else 0.0), den

    def compare(self, probe_values: Sequence[Any], probe_tokens: dict[int, tuple[str, ...]],
                r: int) -> Match | None:
        """The probe against indexed row ``r``: None when an exact column differs or a
        column is below its MinSimilarity."""
        ref_values = self.values[r]
        sims: list[float] = []
        num = den = 0.0
        for i, col in enumerate(self.columns):
            if col.exact:
                sims.append(1.0)
                continue
            if col.numerals and numerals_differ(probe_values[i], ref_values[i], col.numerals):
                sim, weight = 0.0, 1.0
            else:
                sim, weight = self.column_similarity(i, probe_tokens[i],
                                                     self.index[i].tokens[r])
            if sim < col.min_similarity:
                return None
            sims.append(sim)
            num += sim * weight
            den += weight
        return Match(r, num / den if den else 1.0, sims)

    def probe_tokens(self, values: Sequence[Any]) -> dict[int, tuple[str, ...]]:
        return {i: self.tokenizer.tokens(values[i], self.columns[i].flags)
                for i in self.fuzzy}

    def candidates(self, values: Sequence[Any], tokens: dict[int, tuple[str, ...]],
                   limit: int) -> Iterable[int]:
        allowed: list[int] | None = None
        if self.exact:
            allowed = self.by_key.get(self.exact_key(values), [])
            if not allowed:
                return ()
        if self.exhaustive:
            return allowed if allowed is not None else range(self.size)
        if allowed is not None and len(allowed) <= limit:
            return allowed
        hits: list[tuple[float, int, str]] = []
        for i, toks in tokens.items():
            ci = self.index[i]
            for t in toks:
                for u, sim in self.expand(i, t):
                    hits.append((ci.weight[u] * sim, i, u))
        hits.sort(key=lambda h: (-h[0], h[1], h[2]))
        score: dict[int, float] = defaultdict(float)
        for gain, i, u in hits:
            ci = self.index[i]
            rows = ci.postings[u]
            if len(rows) <= _COMMON_POSTINGS or not score:
                for r in rows:
                    score[r] += gain
            else:
                members = ci.posting_set(u)
                for r in score:
                    if r in members:
                        score[r] += gain
        if allowed is not None:
            keep = set(allowed)
            score = defaultdict(float, {r: s for r, s in score.items() if r in keep})
        best = heapq.nsmallest(limit, score.items(), key=lambda p: (-p[1], p[0]))
        floor = best[0][1] * _CANDIDATE_FLOOR if best else 0.0
        return [r for r, gain in best if gain >= floor]

    def matches(self, values: Sequence[Any], limit: int = _CANDIDATES,
                skip: int | None = None) -> list[Match]:
        """Every candidate that passes the exact and per-column tests, best first (ties:
        the lower row number first), with confidences."""
        tokens = self.probe_tokens(values)
        found = []
        for r in self.candidates(values, tokens, limit):
            if r == skip:
                continue
            match = self.compare(values, tokens, r)
            if match is not None:
                found.append(match)
        found.sort(key=lambda m: (-m.similarity, m.row))
        set_confidence(found)
        return found


def set_confidence(found: list[Match]) -> None:
    """``s_i * s_i**4 / sum(s_j**4)`` over the candidates at least half as similar as the
    best one (the plausible alternatives)."""
    if not found:
        return
    floor = found[0].similarity / 2
    total = sum(m.similarity ** 4 for m in found if m.similarity >= floor)
    for m in found:
        m.confidence = m.similarity ** 5 / total if total else 0.0


def _weight(total: int, df: int) -> float:
    return math.log(1.0 + (total + 1.0) / (df + 1.0))


# --------------------------------------------------------------------------- settings


def _text(value: str) -> str:
    return decode_xml_name_escapes(value or "")


def _float(component: Component, value: str, what: str) -> float:
    text = (value or "").strip()
    if not text:
        return 0.0
    try:
        number = float(text)
    except ValueError:
        raise ComponentError(f"{component.meta.name}: {what} is {text!r}, not a number "
                             "between 0 and 1") from None
    if not 0.0 <= number <= 1.0:
        raise ComponentError(f"{component.meta.name}: {what} is {number}, not between 0 "
                             "and 1")
    return number


def _column_type(col: OutputColumn, names: dict[str, int], column_similarity: int,
                 other: int) -> int:
    """The output column's ColumnType; without the property, its default name decides
    (``_Similarity_<col>`` is a column similarity, ``<col>_clean`` a clean column)."""
    text = col.properties.get("ColumnType", "").strip()
    if text:
        return as_int(text, 0)
    if col.name in names:
        return names[col.name]
    if col.name.startswith("_Similarity_"):
        return column_similarity
    if other == 5 and col.name.endswith("_clean"):
        return 6
    return other


def _chunks(out: Output, columns: dict[str, list[Any]], n: int, size: int) -> Emissions:
    batch = Batch(columns, n)
    if n <= size:
        return [(out, batch)] if n else []
    return [(out, batch.slice(i, i + size)) for i in range(0, n, size)]


_FLOATS = frozenset({DataType.DT_R4, DataType.DT_R8})


def _score(value: float, col: OutputColumn) -> Any:
    """A similarity written to its output column (r4 columns: rounded like a float32)."""
    if col.type.dtype in _FLOATS:
        return round(value, 6)
    return dft.coerce(value, col.type)


# --------------------------------------------------------------------------- Fuzzy Lookup


class FuzzyLookup(Component):
    """Fuzzy Lookup: each input row gets up to ``MaxOutputMatchesPerInput`` output rows
    (best first) with the copied reference columns, ``_Similarity``, ``_Confidence`` and
    the per-column ``_Similarity_<col>``. A row with no match at or above MinSimilarity
    gets one output row with NULL reference columns and similarity and confidence 0."""

    def pre_execute(self) -> None:
        name = self.meta.name
        inp = self.input
        self.min_similarity = _float(self, self.ctx.property("MinSimilarity"), "MinSimilarity")
        self.max_matches = as_int(self.ctx.property("MaxOutputMatchesPerInput", "1"), 1)
        if self.max_matches < 0:
            raise ComponentError(f"{name}: MaxOutputMatchesPerInput is {self.max_matches}")
        if self.max_matches == 0:
            self.ctx.warning("MaxOutputMatchesPerInput is 0: no results will be produced.")
        self.exhaustive = as_bool(self.ctx.property("Exhaustive"), False)
        self.delimiters = _text(self.ctx.property("Delimiters")) or DEFAULT_DELIMITERS
        self.table = _text(self.ctx.property("ReferenceTableName")).strip()
        option = as_int(self.ctx.property("MatchIndexOptions", "1"), 1)
        if option not in _INDEX_OPTIONS:
            raise ComponentError(f"{name}: MatchIndexOptions is {option}; it takes 0 "
                                 "(ReuseExistingIndex) to 3 (GenerateAndMaintainNewIndex)")
        index_name = _text(self.ctx.property("MatchIndexName")).strip()
        if not self.table:
            raise ComponentError(
                f"{name}: ReferenceTableName is empty (MatchIndexOptions "
                f"{_INDEX_OPTIONS[option]}{' ' + index_name if index_name else ''}): ssisrun "
                "builds its match index from the reference table on every run and needs it")
        if option in (REUSE_EXISTING_INDEX, GENERATE_AND_PERSIST_NEW_INDEX,
                      GENERATE_AND_MAINTAIN_NEW_INDEX):
            self.ctx.information(f"MatchIndexOptions {_INDEX_OPTIONS[option]}: ssisrun "
                                 f"rebuilds the match index in memory from {self.table} on "
                                 "every run; no index table is read or written")
        # join columns
        self.join: list[tuple[str, str, MatchColumn]] = []  # (input lineage, ref col, spec)
        for col in inp.columns:
            ref = _text(col.properties.get("JoinToReferenceColumn", "")).strip()
            if not ref:
                continue
            join_type = as_int(col.properties.get("JoinType"), FUZZY)
            label = self.ctx.column_name(col) or col.name
            spec = MatchColumn(
                name=label, exact=join_type == EXACT,
                flags=as_int(col.properties.get("FuzzyComparisonFlags"), IGNORE_CASE),
                min_similarity=_float(self, col.properties.get("MinSimilarity", ""),
                                      f"the MinSimilarity of the column {label}"))
            self.join.append((col.lineage_id, ref, spec))
        if not self.join:
            raise ComponentError(f"{name} joins on no column (no input column has "
                                 "JoinToReferenceColumn)")
        if all(spec.exact for _, _, spec in self.join):
            raise ComponentError(f"{name}: every join column is exact (JoinType 1); Fuzzy "
                                 "Lookup needs at least one fuzzy join column")
        self.in_types = {c.lineage_id: self.ctx.column_type(c) for c in inp.columns}
        # outputs
        self.out = self.output
        self.plan: list[tuple[str, str, Any]] = []  # (output lineage, kind, argument)
        position = {lid: k for k, (lid, _, _) in enumerate(self.join)}
        copies: list[str] = []
        for out_col in self.out.columns:
            kind = _column_type(out_col, {"_Similarity": 1, "_Confidence": 2}, 3, 0)
            source = out_col.properties.get("SourceInputColumnLineageID", "").strip()
            copy = _text(out_col.properties.get("CopyFromReferenceColumn", "")).strip()
            if kind == 1:
                self.plan.append((out_col.lineage_id, "similarity", out_col))
            elif kind == 2:
                self.plan.append((out_col.lineage_id, "confidence", out_col))
            elif kind == 3:
                lineage = self.ctx.resolve(source)
                if lineage not in position:
                    raise ComponentError(f"{name}: the output column {out_col.name} is the "
                                         "similarity of a column that is no join column")
                self.plan.append((out_col.lineage_id, "column", (position[lineage], out_col)))
            elif copy:
                self.plan.append((out_col.lineage_id, "reference", (len(copies), out_col)))
                copies.append(copy)
            elif source:
                lineage = self.ctx.resolve(source)
                self.plan.append((out_col.lineage_id, "input", lineage))
            else:
                raise ComponentError(f"{name}: the output column {out_col.name} copies neither "
                                     "an input column nor a reference column")
        self.copies = copies
        self._load()

    def _load(self) -> None:
        name = self.meta.name
        names, rows = read_query(
            self, lambda db: f"SELECT * FROM {quote_table(db, self.table)}",
            f"the reference table {self.table} cannot be read (ReferenceTableName)",
            lambda names, chunks: (names, [row for chunk in chunks for row in chunk]))

        def at(column: str) -> int:
            if column.lower() not in names:
                raise ComponentError(f"{name}: the reference table {self.table} has no "
                                     f"column {column}")
            return names.index(column.lower())

        join_at = [at(ref) for _, ref, _ in self.join]
        copy_at = [at(ref) for ref in self.copies]
        exact_types = [self.in_types.get(lid) if spec.exact else None
                       for lid, _, spec in self.join]
        values = []
        for row in rows:
            values.append(tuple(
                dft.coerce(row[i], t) if t is not None and row[i] is not None else row[i]
                for i, t in zip(join_at, exact_types, strict=True)))
        self.reference = [tuple(row[i] for i in copy_at) for row in rows]
        self.matcher = Matcher([spec for _, _, spec in self.join], self.delimiters, values,
                               exhaustive=self.exhaustive)
        self.ctx.information(f"the match index holds {len(values)} reference rows")

    def process(self, inp: Input, batch: Batch) -> Emissions:
        if self.max_matches == 0:
            return []
        probes = batch.rows([lid for lid, _, _ in self.join])
        limit = max(_CANDIDATES, 2 * self.max_matches + 8)
        picks: list[tuple[int, Match | None]] = []
        for n, values in enumerate(probes):
            found = [m for m in self.matcher.matches(values, limit)
                     if m.similarity >= self.min_similarity][:self.max_matches]
            if not found:
                picks.append((n, None))
            picks.extend((n, m) for m in found)
        columns: dict[str, list[Any]] = {}
        rows = [n for n, _ in picks]
        for lineage, kind, arg in self.plan:
            if kind == "input":
                source = batch.columns[arg]
                columns[lineage] = [source[n] for n in rows]
            elif kind == "reference":
                k, col = arg
                columns[lineage] = [
                    None if m is None or self.reference[m.row][k] is None
                    else dft.coerce(self.reference[m.row][k], col.type) for _, m in picks]
            elif kind == "similarity":
                columns[lineage] = [_score(m.similarity if m else 0.0, arg) for _, m in picks]
            elif kind == "confidence":
                columns[lineage] = [_score(m.confidence if m else 0.0, arg) for _, m in picks]
            else:
                k, col = arg
                columns[lineage] = [_score(m.columns[k] if m else 0.0, col) for _, m in picks]
        return _chunks(self.out, columns, len(picks), self.ctx.buffer_rows)


# --------------------------------------------------------------------------- Fuzzy Grouping


class FuzzyGrouping(Component):
    """Fuzzy Grouping: blocking; groups similar rows, picks a canonical row per group.

    The canonical row of a group: Microsoft's documentation says only that it scores 1,
    that its exact duplicates score 1 too and that ``_key_out`` is its ``_key_in``. ssisrun
    takes, among rows not yet grouped, the value shared by the most rows (exact
    duplicates after the comparison flags), then the most central one (the highest sum of
    similarities to its similar rows), then the first to arrive; its group is every
    ungrouped row at least MinSimilarity similar to it. Each row's ``_score`` is its
    similarity to the canonical row, so it is never below MinSimilarity."""

    def pre_execute(self) -> None:
        name = self.meta.name
        inp = self.input
        self.min_similarity = _float(self, self.ctx.property("MinSimilarity"), "MinSimilarity")
        self.exhaustive = as_bool(self.ctx.property("Exhaustive"), False)
        self.delimiters = _text(self.ctx.property("Delimiters")) or DEFAULT_DELIMITERS
        self.in_ids = [c.lineage_id for c in inp.columns]
        self.specs: list[MatchColumn] = []
        self.match_ids: list[str] = []
        for col in inp.columns:
            if not as_bool(col.properties.get("ToBeCleaned"), False):
                continue
            label = self.ctx.column_name(col) or col.name
            exact = as_int(col.properties.get("ExactFuzzy"), FUZZY) == EXACT
            self.specs.append(MatchColumn(
                name=label, exact=exact,
                flags=as_int(col.properties.get("FuzzyComparisonFlags"), IGNORE_CASE),
                min_similarity=_float(self, col.properties.get("MinSimilarity", ""),
                                      f"the MinSimilarity of the column {label}"),
                numerals=as_int(col.properties.get("LeadingTrailingNumeralsSignificant",
                                                   col.properties.get("NumeralsOptions")), 0)))
            self.match_ids.append(col.lineage_id)
        if not self.specs:
            raise ComponentError(f"{name}: no input column is to be cleaned (ToBeCleaned)")
        if all(s.exact for s in self.specs):
            raise ComponentError(f"{name}: every column to be cleaned is exact (ExactFuzzy "
                                 "1); Fuzzy Grouping needs at least one fuzzy column")
        self.out = self.output
        position = {lid: k for k, lid in enumerate(self.match_ids)}
        self.plan: list[tuple[str, str, Any]] = []
        for out_col in self.out.columns:
            kind = _column_type(out_col, {"_key_in": 1, "_key_out": 2, "_score": 3}, 4, 5)
            source = self.ctx.resolve(out_col.properties.get("InputId", ""))
            if kind == 1:
                self.plan.append((out_col.lineage_id, "key_in", out_col))
            elif kind == 2:
                self.plan.append((out_col.lineage_id, "key_out", out_col))
            elif kind == 3:
                self.plan.append((out_col.lineage_id, "score", out_col))
            elif kind in (4, 6):
                if source not in position:
                    raise ComponentError(f"{name}: the output column {out_col.name} belongs to "
                                         "an input column that is not to be cleaned")
                self.plan.append((out_col.lineage_id, "column" if kind == 4 else "clean",
                                  (position[source], source, out_col)))
            else:
                if source not in self.in_ids:
                    raise ComponentError(f"{name}: the output column {out_col.name} passes "
                                         "through no input column (InputId)")
                self.plan.append((out_col.lineage_id, "input", source))
        self.batches: list[Batch] = []

    def process(self, inp: Input, batch: Batch) -> Emissions:
        self.batches.append(batch)
        return []

    def finish(self) -> Emissions:
        rows: list[tuple[Any, ...]] = []
        for batch in self.batches:
            rows.extend(batch.rows(self.in_ids))
        self.batches = []
        n = len(rows)
        at = {lid: k for k, lid in enumerate(self.in_ids)}
        match_at = [at[lid] for lid in self.match_ids]
        groups = group_rows([tuple(r[k] for k in match_at) for r in rows], self.specs,
                            self.delimiters, self.min_similarity, self.exhaustive)
        columns: dict[str, list[Any]] = {}
        for lineage, kind, arg in self.plan:
            if kind == "key_in":
                columns[lineage] = list(range(1, n + 1))
            elif kind == "key_out":
                columns[lineage] = [g.key_out for g in groups]
            elif kind == "score":
                columns[lineage] = [_score(g.score, arg) for g in groups]
            elif kind == "input":
                k = at[arg]
                columns[lineage] = [r[k] for r in rows]
            else:
                position, source, col = arg
                if kind == "column":
                    columns[lineage] = [_score(g.columns[position], col) for g in groups]
                else:
                    k = at[source]
                    columns[lineage] = [rows[g.key_out - 1][k] for g in groups]
        self.ctx.information(f"{n} rows in {len({g.key_out for g in groups})} groups")
        return _chunks(self.out, columns, n, self.ctx.buffer_rows)


@dataclass(slots=True)
class Grouped:
    key_out: int
    score: float
    columns: list[float]


def group_rows(values: Sequence[tuple[Any, ...]], specs: Sequence[MatchColumn],
               delimiters: str, min_similarity: float, exhaustive: bool = False
               ) -> list[Grouped]:
    """Fuzzy Grouping's groups for the rows' match-column ``values``: per row (in order),
    its ``_key_out`` (1-based), ``_score`` and column similarities to the canonical row."""
    probe = Matcher(specs, delimiters, [], exhaustive=exhaustive)
    tokenizer = probe.tokenizer
    # identical rows (after the comparison flags) are one unit
    unit_of: dict[tuple[Any, ...], int] = {}
    members: list[list[int]] = []
    for r, row in enumerate(values):
        signature = tuple(
            probe.exact_key(row)[probe.exact.index(i)] if spec.exact else
            (tokenizer.tokens(row[i], spec.flags), _numerals(row[i], spec.numerals))
            for i, spec in enumerate(specs))
        u = unit_of.setdefault(signature, len(members))
        if u == len(members):
            members.append([])
        members[u].append(r)
    units = [values[m[0]] for m in members]
    matcher = Matcher(specs, delimiters, units, counts=[len(m) for m in members],
                      exhaustive=exhaustive, expand_known=True)
    neighbours: list[dict[int, Match]] = [{} for _ in units]
    for u, row in enumerate(units):
        for m in matcher.matches(row, 2 * _CANDIDATES, skip=u):
            if m.similarity >= min_similarity:
                neighbours[u].setdefault(m.row, m)
                neighbours[m.row].setdefault(u, Match(u, m.similarity, m.columns))
    order = sorted(range(len(units)), key=lambda u: (
        -len(members[u]), -sum(m.similarity for m in neighbours[u].values()), members[u][0]))
    width = len(specs)
    result: list[Grouped | None] = [None] * len(values)
    done = [False] * len(units)
    for u in order:
        if done[u]:
            continue
        done[u] = True
        key_out = members[u][0] + 1
        for r in members[u]:
            result[r] = Grouped(key_out, 1.0, [1.0] * width)
        for v, m in sorted(neighbours[u].items()):
            if done[v]:
                continue
            done[v] = True
            for r in members[v]:
                result[r] = Grouped(key_out, m.similarity, list(m.columns))
    return [g for g in result if g is not None]


def _numerals(value: Any, options: int) -> tuple[str | None, str | None]:
    if not options or value is None:
        return (None, None)
    text = str(value)
    lead = _LEADING.search(text) if options & LEADING_NUMERALS else None
    trail = _TRAILING.search(text) if options & TRAILING_NUMERALS else None
    return (lead.group(1) if lead else None, trail.group(1) if trail else None)


__all__ = ["DEFAULT_DELIMITERS", "FuzzyGrouping", "FuzzyLookup", "MatchColumn", "Matcher", "fold",
           "group_rows"]
