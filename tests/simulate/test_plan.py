"""The simulation's schedule: cadences, the hourly cap, and who may tick side by side."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from mana.personas.catalog import load_catalog
from mana.runner.simulate.plan import FIRST_HOUR, SimulationError, plan_slots

FRIDAY = date(2026, 11, 27)


def test_cadences_are_kept_weekdays_skip_the_weekend_and_hourly_is_capped() -> None:
    catalog = load_catalog()
    slots = plan_slots(catalog, start=FRIDAY, days=3, hourly_cap=5)

    ticks: Counter[tuple[str, date]] = Counter()
    for slot in slots:
        for group in slot.groups:
            for email in group:
                ticks[email, slot.at.date()] += 1
    days = [date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 29)]
    for persona in catalog.personas:
        per_day = [ticks[persona.email, day] for day in days]
        expected = {"daily": [1, 1, 1], "weekdays": [1, 0, 0], "hourly": [5, 5, 5]}
        assert per_day == expected[persona.tick_cadence], persona.email
    assert [s.at for s in slots] == sorted(s.at for s in slots)
    assert all(FIRST_HOUR <= s.at.hour < FIRST_HOUR + 10 for s in slots)


def test_personas_sharing_a_space_are_never_in_two_groups_of_one_slot() -> None:
    catalog = load_catalog()
    sharing = {frozenset(space.members) for space in catalog.spaces}
    for slot in plan_slots(catalog, start=FRIDAY, days=7):
        for pair in sharing:
            holding = [g for g in slot.groups if pair & set(g)]
            assert len(holding) <= 1, (slot.at, pair, slot.groups)


def test_a_plan_is_the_same_every_time() -> None:
    catalog = load_catalog()
    assert plan_slots(catalog, start=FRIDAY, days=4) == plan_slots(catalog, start=FRIDAY, days=4)


@pytest.mark.parametrize(("days", "cap"), [(0, 8), (367, 8), (3, 0), (3, 17)])
def test_out_of_range_days_and_caps_are_refused(days: int, cap: int) -> None:
    with pytest.raises(SimulationError):
        plan_slots(load_catalog(), start=FRIDAY, days=days, hourly_cap=cap)
