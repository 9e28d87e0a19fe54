"""The Column Pattern profile's regular expressions.

Each value is tokenized as SSIS's documentation describes: delimiters (space, tab, CR,
LF and any added) become one space, written ``\\ ``; symbols are kept as literal
characters (escaped as .NET's ``Regex.Escape`` does); runs of letters become ``\\p{L}``
(``\\p{Lu}``/``\\p{Ll}`` when CaseSensitive), runs of digits ``\\d``; any other character
is kept as a literal. A word (letters and digits between delimiters and symbols) that is a
Term of the tag table becomes ``LookupTag=<Tag>``.

A run is first written with its exact length (``\\d{5}``, one character without a
quantifier). When at most MaxNumberOfPatterns such exact patterns cover
PercentageDataCoverageDesired of the values, those are the profile. Otherwise patterns that
differ only in run lengths are merged, a run whose length varies becoming ``+``
(``\\d+``), and the most frequent merged patterns are taken until the coverage is reached
(or MaxNumberOfPatterns are taken).

Memory is bounded: at most :data:`CAP` distinct exact shapes and :data:`CAP` merged shapes
are counted; values of further shapes count as not covered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CAP = 100_000
#: characters .NET's Regex.Escape escapes (besides white space)
_REGEX_SPECIAL = set("\\*+?|{[()^$.#")

Run = tuple[str, object]  # ("d", 5), ("L", 3), ("lit", "-"), ("sp", ""), ("tag", "Street")
#: run kinds written as they are (the others are character classes with a length)
_FIXED = ("lit", "sp", "tag")


@dataclass
class _Merged:
    count: int
    #: per run position: the length shared by every value, or "+" once it varies
    lengths: list[object]


def _escape(char: str) -> str:
    if char in _REGEX_SPECIAL:
        return "\\" + char
    if char == " ":
        return "\\ "
    if char == "\t":
        return "\\t"
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    return char


def _class_of(char: str, case_sensitive: bool) -> str | None:
    if char.isdecimal():
        return "d"
    if char.isalpha():
        if case_sensitive:
            if char.isupper():
                return "Lu"
            if char.islower():
                return "Ll"
        return "L"
    return None


@dataclass
class PatternFinder:
    delimiters: str
    symbols: str
    case_sensitive: bool = False
    #: term -> tag (terms lower-cased unless case_sensitive)
    tags: dict[str, str] = field(default_factory=dict)
    total: int = 0
    exact: dict[tuple[Run, ...], int] = field(default_factory=dict)
    #: skeleton (the shape without run lengths) -> its count and lengths
    merged: dict[tuple[Run, ...], _Merged] = field(default_factory=dict)
    exact_overflow: int = 0
    merged_overflow: int = 0

    def shape(self, value: str) -> tuple[Run, ...]:
        runs: list[Run] = []
        word: list[str] = []

        def flush() -> None:
            if not word:
                return
            text = "".join(word)
            word.clear()
            key = text if self.case_sensitive else text.lower()
            tag = self.tags.get(key)
            if tag is not None:
                runs.append(("tag", tag))
                return
            kind, length = "", 0
            for ch in text:
                cls = _class_of(ch, self.case_sensitive) or "L"
                if cls == kind:
                    length += 1
                    continue
                if kind:
                    runs.append((kind, length))
                kind, length = cls, 1
            if kind:
                runs.append((kind, length))

        for ch in value:
            if ch in self.delimiters:
                flush()
                if not runs or runs[-1][0] != "sp":
                    runs.append(("sp", ""))
            elif ch in self.symbols or _class_of(ch, self.case_sensitive) is None:
                flush()
                runs.append(("lit", ch))
            else:
                word.append(ch)
        flush()
        return tuple(runs)

    def add(self, value: str, count: int = 1) -> None:
        self.total += count
        shape = self.shape(value)
        if shape in self.exact or len(self.exact) < CAP:
            self.exact[shape] = self.exact.get(shape, 0) + count
        else:
            self.exact_overflow += count
        skeleton = tuple((k, v if k in _FIXED else "") for k, v in shape)
        entry = self.merged.get(skeleton)
        if entry is None:
            if len(self.merged) >= CAP:
                self.merged_overflow += count
                return
            entry = _Merged(0, [v if k not in _FIXED else "" for k, v in shape])
            self.merged[skeleton] = entry
        entry.count += count
        for i, (k, v) in enumerate(shape):
            if k not in _FIXED and entry.lengths[i] != v:
                entry.lengths[i] = "+"

    def patterns(self, max_patterns: int, coverage: float) -> list[tuple[str, int]]:
        """The profile's (regex, count) pairs, most frequent first."""
        if not self.total:
            return []
        goal = coverage / 100.0 * self.total
        exact = sorted(((render(s), n) for s, n in self.exact.items()),
                       key=lambda item: (-item[1], item[0]))
        chosen = _take(exact, max_patterns, goal)
        if sum(n for _r, n in chosen) >= goal and not self.exact_overflow:
            return chosen
        merged = sorted(((render(tuple((k, e.lengths[i] if k not in _FIXED else v)
                                       for i, (k, v) in enumerate(skeleton))), e.count)
                         for skeleton, e in self.merged.items()),
                        key=lambda item: (-item[1], item[0]))
        best = _take(merged, max_patterns, goal)
        if sum(n for _r, n in best) >= sum(n for _r, n in chosen):
            return best
        return chosen



def _take(items: list[tuple[str, int]], limit: int, goal: float) -> list[tuple[str, int]]:
    taken: list[tuple[str, int]] = []
    covered = 0
    for regex, count in items:
        if len(taken) >= limit or covered >= goal:
            break
        taken.append((regex, count))
        covered += count
    return taken


def render(shape: tuple[tuple[str, object], ...]) -> str:
    out: list[str] = []
    for kind, value in shape:
        if kind == "sp":
            out.append("\\ ")
        elif kind == "lit":
            out.append(_escape(str(value)))
        elif kind == "tag":
            out.append(f"LookupTag={value}")
        else:
            base = {"d": "\\d", "L": "\\p{L}", "Lu": "\\p{Lu}", "Ll": "\\p{Ll}"}[kind]
            if value == "+":
                out.append(base + "+")
            elif value == 1:
                out.append(base)
            else:
                out.append(f"{base}{{{value}}}")
    return "".join(out)
