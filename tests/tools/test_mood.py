"""Mood: 1-10 check-ins, a window of UTC days, average over the whole window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


async def test_recent_covers_whole_utc_days_and_averages_them(
    product: Product, alice: Person
) -> None:
    async def log(score: int, at: datetime) -> None:
        await product.call("mood.log", {"score": score}, user=alice, now=at)

    await log(2, NOW - timedelta(days=7))  # outside a 7-day window
    await log(5, datetime(2026, 3, 4, 0, 0, tzinfo=UTC))  # first minute of the window
    await log(6, NOW - timedelta(hours=1))
    await log(10, NOW)

    week = await product.call("mood.recent", {}, user=alice, now=NOW)
    assert week["since"] == "2026-03-04T00:00:00Z"
    assert [e["score"] for e in week["entries"]] == [10, 6, 5]
    assert (week["count"], week["average"], week["lowest"], week["highest"]) == (3, 7.0, 5, 10)

    today = await product.call("mood.recent", {"days": 1}, user=alice, now=NOW)
    assert (today["count"], today["average"]) == (2, 8.0)


async def test_an_empty_window_has_no_average(product: Product, alice: Person) -> None:
    out = await product.call("mood.recent", {"days": 90}, user=alice, now=NOW)
    assert (out["count"], out["average"], out["lowest"], out["entries"]) == (0, None, None, [])


async def test_the_average_is_rounded_to_two_decimals(product: Product, alice: Person) -> None:
    for score in (7, 7, 8):
        await product.call("mood.log", {"score": score}, user=alice, now=NOW)
    out = await product.call("mood.recent", {}, user=alice, now=NOW)
    assert out["average"] == 7.33
