"""Calendar: times normalised to UTC, listing by overlap with whole UTC days."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


async def _event(product: Product, who: Person, title: str, start: str, end: str) -> dict[str, Any]:
    return await product.call(
        "calendar.create", {"title": title, "start": start, "end": end}, user=who, now=NOW
    )


async def test_naive_times_are_utc_and_offsets_are_converted(
    product: Product, alice: Person
) -> None:
    naive = await _event(product, alice, "Naive", "2026-03-10T10:00:00", "2026-03-10T11:00")
    assert (naive["start"], naive["end"]) == ("2026-03-10T10:00:00Z", "2026-03-10T11:00:00Z")
    zoned = await _event(
        product, alice, "Zoned", "2026-03-10T10:00:00-05:00", "2026-03-10T10:30:00-05:00"
    )
    assert zoned["start"] == "2026-03-10T15:00:00Z"


async def test_list_returns_events_overlapping_the_days_ordered_by_start(
    product: Product, alice: Person
) -> None:
    await _event(product, alice, "Trip", "2026-03-08T08:00:00Z", "2026-03-12T18:00:00Z")
    await _event(product, alice, "Ends at midnight", "2026-03-09T22:00:00Z", "2026-03-10T00:00:00Z")
    await _event(product, alice, "Late", "2026-03-10T23:00:00Z", "2026-03-11T01:00:00Z")
    await _event(product, alice, "Morning", "2026-03-10T08:00:00Z", "2026-03-10T09:00:00Z")
    await _event(product, alice, "Next day", "2026-03-11T00:00:00Z", "2026-03-11T01:00:00Z")

    page = await product.call(
        "calendar.list", {"from": "2026-03-10", "to": "2026-03-10"}, user=alice, now=NOW
    )
    assert (page["from"], page["to"]) == ("2026-03-10", "2026-03-10")
    assert [e["title"] for e in page["items"]] == ["Trip", "Morning", "Late"]


async def test_list_defaults_to_the_seven_days_from_today(product: Product, alice: Person) -> None:
    await _event(product, alice, "Yesterday", "2026-03-09T10:00:00Z", "2026-03-09T11:00:00Z")
    await _event(product, alice, "In six days", "2026-03-16T23:00:00Z", "2026-03-16T23:30:00Z")
    await _event(product, alice, "In a week", "2026-03-17T00:00:00Z", "2026-03-17T01:00:00Z")
    page = await product.call("calendar.list", {}, user=alice, now=NOW)
    assert [e["title"] for e in page["items"]] == ["In six days"]


async def test_an_event_may_last_exactly_fourteen_days(product: Product, alice: Person) -> None:
    out = await _event(product, alice, "Sabbatical", "2026-04-01T00:00:00Z", "2026-04-15T00:00:00Z")
    assert out["end"] == "2026-04-15T00:00:00Z"
    late = await product.call(
        "calendar.list", {"from": "2026-04-14", "to": "2026-04-20"}, user=alice, now=NOW
    )
    assert [e["title"] for e in late["items"]] == ["Sabbatical"]


async def test_update_moves_renames_and_clears_optional_fields(
    product: Product, alice: Person
) -> None:
    event = await product.call(
        "calendar.create",
        {
            "title": "Call",
            "start": "2026-03-10T10:00:00Z",
            "end": "2026-03-10T10:30:00Z",
            "location": "Zoom",
            "notes": "agenda",
        },
        user=alice,
    )
    out = await product.call(
        "calendar.update",
        {"id": event["id"], "start": "2026-03-10T09:00:00+01:00", "location": None},
        user=alice,
    )
    assert (out["start"], out["end"]) == ("2026-03-10T08:00:00Z", "2026-03-10T10:30:00Z")
    assert (out["location"], out["notes"], out["title"]) == (None, "agenda", "Call")
