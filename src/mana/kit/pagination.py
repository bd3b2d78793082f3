"""Keyset pagination: opaque cursors and the `{items, nextCursor}` page shape.

A cursor is the sort key of the last row a client has seen, base64url-encoded JSON. It is
opaque to clients (they pass it back unchanged) and cheap for the database (`WHERE key > :after`
walks an index instead of skipping OFFSET rows), so page N costs what page 1 costs.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query

from mana.kit.errors import InvalidInput
from mana.kit.schemas import ResponseModel

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
Cursor = Annotated[
    str | None,
    Query(max_length=1000, description="`nextCursor` of the previous page; omit for the first"),
]


def encode_cursor(key: dict[str, Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, required: tuple[str, ...]) -> dict[str, Any]:
    """The key inside a cursor, or 422 naming `cursor` when it was not made by encode_cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise _bad_cursor() from exc
    if not isinstance(key, dict) or any(not isinstance(key.get(name), str) for name in required):
        raise _bad_cursor()
    return key


def _bad_cursor() -> InvalidInput:
    return InvalidInput(
        "cursor: not a cursor returned by this endpoint",
        details=[{"field": "cursor", "message": "not a cursor returned by this endpoint"}],
    )


T = TypeVar("T")


class Page(ResponseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
