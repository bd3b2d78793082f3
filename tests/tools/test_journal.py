"""Journal: dated entries, today by default, ranges inclusive on both ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)


async def test_an_entry_is_dated_today_in_utc_by_default(product: Product, alice: Person) -> None:
    entry = await product.call("journal.add", {"body": "Late night thoughts"}, user=alice, now=NOW)
    assert entry["date"] == "2026-03-10"
    # Tomorrow is accepted (the writer may be east of UTC), later is not: see test_validation.
    ahead = await product.call(
        "journal.add", {"body": "Already tomorrow here", "date": "2026-03-11"}, user=alice, now=NOW
    )
    assert ahead["date"] == "2026-03-11"


async def test_range_bounds_are_inclusive_and_entries_of_a_day_newest_first(
    product: Product, alice: Person
) -> None:
    for i, day in enumerate(["2026-03-01", "2026-03-05", "2026-03-05", "2026-03-09"]):
        await product.call(
            "journal.add",
            {"body": f"{day} #{i}", "date": day},
            user=alice,
            now=NOW + timedelta(minutes=i),
        )
    page = await product.call(
        "journal.list", {"from": "2026-03-05", "to": "2026-03-09"}, user=alice
    )
    assert [e["body"] for e in page["items"]] == ["2026-03-09 #3", "2026-03-05 #2", "2026-03-05 #1"]
    only = await product.call(
        "journal.list", {"from": "2026-03-01", "to": "2026-03-01"}, user=alice
    )
    assert [e["body"] for e in only["items"]] == ["2026-03-01 #0"]
    since = await product.call("journal.list", {"from": "2026-03-06"}, user=alice)
    assert [e["body"] for e in since["items"]] == ["2026-03-09 #3"]


async def test_update_rewrites_the_body_and_keeps_the_date(product: Product, alice: Person) -> None:
    entry = await product.call(
        "journal.add", {"body": "first draft", "date": "2026-03-02"}, user=alice, now=NOW
    )
    later = NOW + timedelta(hours=1)
    out = await product.call(
        "journal.update", {"id": entry["id"], "body": "second draft"}, user=alice, now=later
    )
    assert (out["body"], out["date"]) == ("second draft", "2026-03-02")
    assert out["updatedAt"] == "2026-03-11T00:30:00Z" and out["createdAt"] == entry["createdAt"]
    assert await product.call("journal.get", {"id": entry["id"]}, user=alice) == out
