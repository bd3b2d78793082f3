"""Error-message normalisation for clusters (Sentry-style fingerprints).

Two failures belong to one cluster when they come from the same tool and their messages differ
only in ids, numbers, dates, e-mail addresses or quoted input. The same rules run as Python
(SQLite, tests) and as a chain of `regexp_replace` on PostgreSQL, so grouping happens in the
database there; the patterns are written in the subset both regex engines read alike (no
lookarounds, no word boundaries, disjoint alternatives).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import sqlalchemy as sa

MAX_MESSAGE = 300

# Order matters: a UUID or a date must be replaced before its digits are.
PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        "<id>",
    ),
    (
        "[0-9]{4}-[0-9]{2}-[0-9]{2}"
        "([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?",
        "<date>",
    ),
    ("[0-9a-fA-F]{16,}", "<id>"),
    ("[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+", "<email>"),
    ('"[^"]*"', '"<s>"'),
    ("[0-9]+", "<n>"),
)
_COMPILED = tuple((re.compile(pattern), replacement) for pattern, replacement in PATTERNS)


def normalise(message: str | None) -> str:
    text = message or ""
    for pattern, replacement in _COMPILED:
        text = pattern.sub(replacement, text)
    return text[:MAX_MESSAGE]


def normalise_sql(column: sa.ColumnElement[str | None] | Any) -> sa.ColumnElement[str]:
    """The same normalisation as a PostgreSQL expression."""
    text: sa.ColumnElement[str] = sa.func.coalesce(column, "")
    for pattern, replacement in PATTERNS:
        text = sa.func.regexp_replace(text, pattern, replacement, "g")
    return sa.func.left(text, MAX_MESSAGE)


def fingerprint(tool: str, normalised: str) -> str:
    return hashlib.sha256(f"{tool}\n{normalised}".encode()).hexdigest()[:16]
