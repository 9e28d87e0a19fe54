"""SQL text as the Execute SQL and Bulk Insert tasks need it: ``GO`` batches, statements,
parameter markers and names, without being fooled by strings, quoted names or comments."""

from __future__ import annotations

import re
from dataclasses import dataclass

_GO = re.compile(r"^[ \t]*GO(?:[ \t]+(\d+))?[ \t]*;?[ \t]*$", re.IGNORECASE | re.MULTILINE)
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_NAME = re.compile(r"[@$]([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(slots=True)
class Token:
    #: "code", "text" (a string, quoted name or comment), "marker" (``?``), "name"
    #: (``@name``) or "end" (``;``)
    kind: str
    text: str


def split_batches(sql: str) -> list[str]:
    """Split on ``GO`` lines (any case, alone on their line, ``GO 3`` repeats the batch)."""
    batches: list[str] = []
    start = 0
    for match in _GO.finditer(sql):
        batch = sql[start:match.start()]
        repeat = int(match.group(1)) if match.group(1) else 1
        if batch.strip():
            batches.extend([batch] * repeat)
        start = match.end()
    rest = sql[start:]
    if rest.strip():
        batches.append(rest)
    return batches


def tokenize(sql: str, *, names: bool = False, translated: bool = False) -> list[Token]:
    """Tokens of ``sql``. ``names``: ``@name`` is a parameter name (ADO.NET). ``translated``:
    the text came from sqlglot, which writes markers as ``%s`` and names as ``$name``."""
    tokens: list[Token] = []
    code: list[str] = []
    i, n = 0, len(sql)

    def flush() -> None:
        if code:
            tokens.append(Token("code", "".join(code)))
            code.clear()

    while i < n:
        ch = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        end = -1
        if ch in "'\"[" or (ch == "`"):
            close = "]" if ch == "[" else ch
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            end = min(j + 1, n)
        elif ch == "-" and nxt == "-":
            j = sql.find("\n", i)
            end = n if j < 0 else j
        elif ch == "/" and nxt == "*":
            j = sql.find("*/", i + 2)
            end = n if j < 0 else j + 2
        elif ch == "$" and (m := _DOLLAR.match(sql, i)) and not translated:
            j = sql.find(m.group(0), m.end())
            end = n if j < 0 else j + len(m.group(0))
        if end >= 0:
            flush()
            tokens.append(Token("text", sql[i:end]))
            i = end
            continue
        if ch == "?" or (translated and ch == "%" and nxt == "s"):
            flush()
            tokens.append(Token("marker", "?"))
            i += 2 if ch == "%" else 1
            continue
        if ch == ";":
            flush()
            tokens.append(Token("end", ";"))
            i += 1
            continue
        if (names or translated) and ch in "@$" and (not code or not _word(code[-1])):
            m = _NAME.match(sql, i)
            if m and (ch == "@" or translated) and not (i + 1 < n and sql[i + 1] == "@"):
                flush()
                tokens.append(Token("name", "@" + m.group(1)))
                i = m.end()
                continue
        code.append(ch)
        i += 1
    flush()
    return tokens


def _word(ch: str) -> bool:
    return ch.isalnum() or ch in "_@#$"


def statements(tokens: list[Token]) -> list[list[Token]]:
    """Split tokens into statements on ``;`` (empty statements dropped)."""
    result: list[list[Token]] = []
    current: list[Token] = []
    for token in tokens:
        if token.kind == "end":
            if any(t.kind != "text" and t.text.strip() for t in current) or any(
                    t.kind == "text" and not t.text.startswith(("--", "/*")) for t in current):
                result.append(current)
            current = []
        else:
            current.append(token)
    if any(t.text.strip() for t in current if t.kind != "text" or not
           t.text.startswith(("--", "/*"))):
        result.append(current)
    return result


def text_of(tokens: list[Token]) -> str:
    return "".join(t.text for t in tokens)


def split_name(name: str) -> list[str]:
    """``[dbo].[My Table]`` / ``"s"."t"`` / ``s.t`` -> its parts, unquoted."""
    parts: list[str] = []
    i, n = 0, len(name.strip())
    name = name.strip()
    while i < n:
        ch = name[i]
        if ch in "[\"`":
            close = "]" if ch == "[" else ch
            j = i + 1
            out = []
            while j < n:
                if name[j] == close:
                    if j + 1 < n and name[j + 1] == close:
                        out.append(close)
                        j += 2
                        continue
                    break
                out.append(name[j])
                j += 1
            parts.append("".join(out))
            i = j + 1
        else:
            j = name.find(".", i)
            j = n if j < 0 else j
            parts.append(name[i:j].strip())
            i = j
        if i < n and name[i] == ".":
            i += 1
    return parts
