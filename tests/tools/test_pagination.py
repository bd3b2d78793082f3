"""Every list tool pages with a keyset cursor: all rows exactly once, in the documented order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
COUNT = 25


async def _page_through(
    product: Product, who: Person, tool: str, args: dict[str, Any], limit: int = 10
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    cursor = None
    while True:
        page = await product.call(
            tool, {**args, "limit": limit, "cursor": cursor}, user=who, now=NOW
        )
        items.extend(page["items"])
        sizes.append(len(page["items"]))
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert len(sizes) < 10, "pagination does not end"
    assert sizes == [10, 10, 5]
    return items


Maker = Callable[[Product, Person, int], Awaitable[None]]


async def _todos(p: Product, who: Person, i: int) -> None:
    await p.call("todo.create", {"title": f"item {i:02}"}, user=who, now=NOW + timedelta(seconds=i))


async def _journal(p: Product, who: Person, i: int) -> None:
    # Five entries a day over five days: order is by day, then by time written.
    day = (NOW - timedelta(days=4 - i // 5)).date().isoformat()
    await p.call(
        "journal.add",
        {"body": f"item {i:02}", "date": day},
        user=who,
        now=NOW + timedelta(seconds=i),
    )


async def _notes(p: Product, who: Person, i: int) -> None:
    await p.call(
        "notes.create",
        {"title": f"item {i:02}", "body": "searchable"},
        user=who,
        now=NOW + timedelta(seconds=i),
    )


async def _habits(p: Product, who: Person, i: int) -> None:
    await p.call(
        "habits.create", {"name": f"item {i:02}"}, user=who, now=NOW + timedelta(seconds=i)
    )


async def _events(p: Product, who: Person, i: int) -> None:
    # Created in reverse of their start order, so creation order cannot pass for start order.
    start = NOW + timedelta(hours=COUNT - i)
    await p.call(
        "calendar.create",
        {
            "title": f"item {i:02}",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
        },
        user=who,
    )


async def _contacts(p: Product, who: Person, i: int) -> None:
    # Created in a shuffled order; listed alphabetically.
    await p.call(
        "contacts.create", {"name": f"Item {(i * 7) % COUNT:02}", "note": "searchable"}, user=who
    )


newest_first = [f"item {i:02}" for i in reversed(range(COUNT))]
CASES: list[tuple[str, dict[str, Any], Maker, str, list[str]]] = [
    ("todo.list", {}, _todos, "title", newest_first),
    ("journal.list", {}, _journal, "body", newest_first),
    ("notes.list", {}, _notes, "title", newest_first),
    ("notes.search", {"query": "SEARCHABLE"}, _notes, "title", newest_first),
    ("habits.list", {}, _habits, "name", newest_first),
    (
        "calendar.list",
        {"from": "2026-03-10", "to": "2026-03-12"},
        _events,
        "title",
        newest_first,  # the last created starts first
    ),
    ("contacts.list", {}, _contacts, "name", [f"Item {i:02}" for i in range(COUNT)]),
    (
        "contacts.search",
        {"query": "search"},
        _contacts,
        "name",
        [f"Item {i:02}" for i in range(COUNT)],
    ),
]


@pytest.mark.parametrize(
    ("tool", "args", "make", "field", "expected"), CASES, ids=[c[0] for c in CASES]
)
async def test_paging_through_25_rows_returns_each_once_in_order(
    product: Product,
    alice: Person,
    tool: str,
    args: dict[str, Any],
    make: Maker,
    field: str,
    expected: list[str],
) -> None:
    for i in range(COUNT):
        await make(product, alice, i)
    items = await _page_through(product, alice, tool, args)
    assert len({item["id"] for item in items}) == COUNT
    assert [item[field] for item in items] == expected


async def test_rows_with_identical_timestamps_are_neither_skipped_nor_repeated(
    product: Product, alice: Person
) -> None:
    for i in range(COUNT):
        await product.call("todo.create", {"title": f"same {i}"}, user=alice, now=NOW)
    items = await _page_through(product, alice, "todo.list", {})
    assert len({item["id"] for item in items}) == COUNT


async def test_a_row_written_while_paging_does_not_shift_later_pages(
    product: Product, alice: Person
) -> None:
    for i in range(COUNT):
        await _todos(product, alice, i)
    first = await product.call("todo.list", {"limit": 10}, user=alice, now=NOW)
    await product.call(
        "todo.create", {"title": "newcomer"}, user=alice, now=NOW + timedelta(hours=1)
    )
    second = await product.call(
        "todo.list", {"limit": 10, "cursor": first["nextCursor"]}, user=alice, now=NOW
    )
    assert [t["title"] for t in second["items"]] == newest_first[10:20]
