"""Rewriting Windows path literals in C# source so that they go through the run's path map.

A literal such as ``"C:\\\\data\\\\in.csv"`` is wrapped in
``global::SsisRun.Shim.HostServices.MapPath(...)``: at run time it gives the path that
``--path-map`` gives, as for every other path of the package. A small lexer skips comments,
character literals and the insides of strings (regular, verbatim ``@"..."`` and interpolated
``$"..."``). Literals that must stay constant are left alone: ``case`` labels, attribute
arguments and default parameter values. A ``const`` that holds a path becomes ``static
readonly`` in a class and a plain local in a method. When the result does not compile, the
compiler falls back on the original source.
"""

from __future__ import annotations

import re

MAP_CALL = "global::SsisRun.Shim.HostServices.MapPath"

_PATH_REGULAR = re.compile(r'^\$?"(?:[A-Za-z]:(?:\\\\|/)|\\\\\\\\[A-Za-z0-9_.$-])')
_PATH_VERBATIM = re.compile(r'^(?:@\$?|\$@)"(?:[A-Za-z]:[\\/]|\\\\[A-Za-z0-9_.$-])')
_TYPE_KEYWORDS = frozenset({"class", "struct", "interface", "namespace", "enum"})


def is_path_literal(literal: str) -> bool:
    """Whether a C# string literal (as written in the source) starts with a Windows path."""
    return bool(_PATH_REGULAR.match(literal) or _PATH_VERBATIM.match(literal))


def _skip_string(src: str, i: int) -> int:
    """The index just after the string literal starting at ``i``."""
    j = i
    verbatim = interpolated = False
    while src[j] in "@$":
        verbatim |= src[j] == "@"
        interpolated |= src[j] == "$"
        j += 1
    j += 1  # the opening quote
    n = len(src)
    while j < n:
        c = src[j]
        if verbatim and c == '"':
            if j + 1 < n and src[j + 1] == '"':
                j += 2
                continue
            return j + 1
        if not verbatim and c == "\\":
            j += 2
            continue
        if not verbatim and c == '"':
            return j + 1
        if not verbatim and c == "\n":
            return j  # unterminated: stop at the line's end
        if interpolated and c == "{":
            if j + 1 < n and src[j + 1] == "{":
                j += 2
                continue
            depth = 1
            j += 1
            while j < n and depth:
                if src[j] == '"' or (src[j] in "@$" and j + 1 < n and src[j + 1] in '"@$'):
                    j = _skip_string(src, j)
                    continue
                if src[j] == "{":
                    depth += 1
                elif src[j] == "}":
                    depth -= 1
                j += 1
            continue
        j += 1
    return n


def rewrite_paths(src: str) -> tuple[str, int]:
    """(the rewritten source, how many literals were wrapped)."""
    out: list[str] = []
    count = 0
    i = 0
    n = len(src)
    blocks: list[bool] = []       # for each open brace: is it a type's body?
    brackets: list[bool] = []     # for each open square bracket: is it an attribute?
    parens: list[bool] = []       # for each open parenthesis: a declaration's parameters?
    statement: list[str] = []     # identifiers since the last ; { }
    const_at: int | None = None   # index in ``out`` of this statement's ``const``
    last_word = ""
    while i < n:
        c = src[i]
        nxt = src[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            end = src.find("\n", i)
            end = n if end < 0 else end
            out.append(src[i:end])
            i = end
            continue
        if c == "/" and nxt == "*":
            end = src.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(src[i:end])
            i = end
            continue
        if c == "'":
            j = i + 1
            while j < n and src[j] != "'" and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
            continue
        if c == '"' or (c in "@$" and (nxt == '"' or (nxt in "@$" and src[i + 2:i + 3] == '"'))):
            j = _skip_string(src, i)
            literal = src[i:j]
            constant = (last_word == "case" or any(brackets)
                        or (parens and parens[-1] and bool(blocks) and blocks[-1]))
            if is_path_literal(literal) and not constant:
                if const_at is not None:
                    out[const_at] = "static readonly" if (not blocks or blocks[-1]) else ""
                    const_at = None
                out.append(f"{MAP_CALL}({literal})")
                count += 1
            else:
                out.append(literal)
            last_word = ""
            i = j
            continue
        if c.isalpha() or c == "_":
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            word = src[i:j]
            if word == "const":
                const_at = len(out)
            out.append(word)
            statement.append(word)
            last_word = word
            i = j
            continue
        if c == "{":
            blocks.append(any(w in _TYPE_KEYWORDS for w in statement))
            statement = []
            const_at = None
        elif c == "}":
            if blocks:
                blocks.pop()
            statement = []
            const_at = None
        elif c == ";":
            statement = []
            const_at = None
        elif c == "[":
            brackets.append(not statement)
        elif c == "]":
            if brackets:
                brackets.pop()
        elif c == "(":
            parens.append(bool(blocks) and blocks[-1] and not parens)
        elif c == ")":
            if parens:
                parens.pop()
        if not c.isspace():
            last_word = "" if c not in ":" else last_word
        out.append(c)
        i += 1
    return "".join(out), count
