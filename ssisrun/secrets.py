"""Keeping secrets out of output: passwords and Sensitive values are never printed."""

from __future__ import annotations

import re

MASK = "********"

_SECRET_KEYS = re.compile(
    r"""(?ix)
    (?P<key>\b(?:password|pwd|accountkey|sharedaccesskey|secret|client\s*secret|token)\s*=\s*)
    (?P<value>"[^"]*"|'[^']*'|[^;]*)
    """
)


def mask_connection_string(text: str) -> str:
    """``Data Source=x;Password=abc;`` -> ``Data Source=x;Password=********;``."""
    return _SECRET_KEYS.sub(lambda m: m.group("key") + (MASK if m.group("value") else ""), text)
