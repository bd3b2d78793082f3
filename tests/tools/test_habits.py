"""Habits: one check-in per day (a repeat is answered, not failed), streaks, recent history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from mana.tools.habits import Habit, streak
from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 11, 8, 0, tzinfo=UTC)  # a Wednesday
TODAY = NOW.date()


async def _habit(product: Product, who: Person, **args: Any) -> dict[str, Any]:
    return await product.call("habits.create", {"name": "Run", **args}, user=who, now=NOW)


async def _log(product: Product, who: Person, habit: dict[str, Any], day: date) -> dict[str, Any]:
    args = {"habitId": habit["id"], "date": day.isoformat()}
    return await product.call("habits.log", args, user=who, now=NOW)


async def test_logging_the_same_day_twice_answers_already_logged(
    product: Product, alice: Person
) -> None:
    habit = await _habit(product, alice)
    first = await product.call(
        "habits.log", {"habitId": habit["id"], "note": "5 km"}, user=alice, now=NOW
    )
    again = await product.call(
        "habits.log", {"habitId": habit["id"], "note": "another"}, user=alice, now=NOW
    )
    assert first["alreadyLogged"] is False and again["alreadyLogged"] is True
    assert again["log"] == first["log"] and again["log"]["note"] == "5 km"
    assert "already logged on 2026-03-11; nothing changed" in again["message"]
    assert again["habit"]["streak"] == 1
    recent = await product.call("habits.recent", {"habitId": habit["id"]}, user=alice, now=NOW)
    assert len(recent["habits"][0]["logs"]) == 1


async def test_a_daily_streak_counts_back_from_today_or_yesterday(
    product: Product, alice: Person
) -> None:
    habit = await _habit(product, alice)
    for days_ago in (1, 2, 3, 5):
        await _log(product, alice, habit, TODAY - timedelta(days=days_ago))
    [listed] = (await product.call("habits.list", {}, user=alice, now=NOW))["items"]
    # Today is not over: the streak of the last three days is still alive.
    assert (listed["streak"], listed["loggedToday"]) == (3, False)
    assert listed["lastLogged"] == (TODAY - timedelta(days=1)).isoformat()
    out = await _log(product, alice, habit, TODAY)
    assert out["habit"]["streak"] == 4 and out["habit"]["loggedToday"] is True


async def test_a_weekly_streak_counts_weeks_that_met_the_target(
    product: Product, alice: Person
) -> None:
    habit = await _habit(product, alice, cadence="weekly", targetPerWeek=2)
    monday = TODAY - timedelta(days=TODAY.weekday())
    for week in (1, 2):  # two full weeks back, twice each
        for day in (0, 3):
            await _log(product, alice, habit, monday - timedelta(weeks=week) + timedelta(days=day))
    await _log(product, alice, habit, monday - timedelta(weeks=3))  # once: target missed
    [listed] = (await product.call("habits.list", {}, user=alice, now=NOW))["items"]
    assert (listed["streak"], listed["streakUnit"]) == (2, "weeks")
    await _log(product, alice, habit, monday)
    out = await _log(product, alice, habit, TODAY)
    assert out["habit"]["streak"] == 3


def test_streak_breaks_on_a_missed_day() -> None:
    habit = Habit(cadence="daily", target_per_week=7)
    days = {TODAY, TODAY - timedelta(days=1), TODAY - timedelta(days=3)}
    assert streak(habit, days, TODAY) == 2
    assert streak(habit, set(), TODAY) == 0
    assert streak(habit, {TODAY - timedelta(days=2)}, TODAY) == 0


async def test_recent_shows_the_window_for_every_habit(product: Product, alice: Person) -> None:
    run = await _habit(product, alice)
    read = await product.call("habits.create", {"name": "Read"}, user=alice, now=NOW)
    for days_ago in (0, 2, 9):
        await _log(product, alice, run, TODAY - timedelta(days=days_ago))
    out = await product.call("habits.recent", {"days": 3}, user=alice, now=NOW)
    assert (out["from"], out["to"]) == ("2026-03-09", "2026-03-11")
    by_name = {h["habit"]["name"]: h for h in out["habits"]}
    assert [log["date"] for log in by_name["Run"]["logs"]] == ["2026-03-11", "2026-03-09"]
    assert by_name["Read"]["logs"] == [] and by_name["Read"]["habit"]["id"] == read["id"]
    wide = await product.call(
        "habits.recent", {"days": 10, "habitId": run["id"]}, user=alice, now=NOW
    )
    assert len(wide["habits"]) == 1 and len(wide["habits"][0]["logs"]) == 3


async def test_target_per_week_defaults_follow_the_cadence(product: Product, alice: Person) -> None:
    daily = await product.call("habits.create", {"name": "Daily"}, user=alice)
    weekly = await product.call(
        "habits.create", {"name": "Weekly", "cadence": "weekly"}, user=alice
    )
    custom = await product.call(
        "habits.create", {"name": "Weekdays", "targetPerWeek": 5}, user=alice
    )
    assert [h["targetPerWeek"] for h in (daily, weekly, custom)] == [7, 1, 5]
