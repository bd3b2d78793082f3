"""When a persona is due for a tick — one definition shared by `claim` and `due`.

Due means: the persona's user is a live persona, no runner holds an unexpired lease, and its
cadence says it is time — hourly: last active more than 1 h ago; daily: more than 24 h ago;
weekdays: Monday–Friday (UTC) and more than 24 h ago. A never-active persona is due at once
(a weekdays persona only on a weekday) and comes first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from mana.auth.models import User
from mana.personas.models import Persona

CADENCE_INTERVALS: dict[str, timedelta] = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(hours=24),
    "weekdays": timedelta(hours=24),
}
WEEKDAY_ONLY = frozenset({"weekdays"})


def is_weekday(now: datetime) -> bool:
    return now.astimezone(UTC).weekday() < 5


def due_condition(now: datetime) -> ColumnElement[bool]:
    """SQL predicate over `Persona` joined with its `User`. The weekday test is decided here,
    in Python, so the SQL stays identical on both backends (no dialect date functions)."""
    by_cadence = [
        sa.and_(
            Persona.tick_cadence == cadence,
            sa.or_(Persona.last_active_at.is_(None), Persona.last_active_at < now - interval),
        )
        for cadence, interval in CADENCE_INTERVALS.items()
        if cadence not in WEEKDAY_ONLY or is_weekday(now)
    ]
    return sa.and_(
        sa.or_(*by_cadence),
        sa.or_(Persona.leased_until.is_(None), Persona.leased_until <= now),
        User.kind == "persona",
        User.deleted_at.is_(None),
    )


def due_order() -> tuple[UnaryExpression[Any], ...]:
    """Never-active first, then the longest idle; ties broken by a stable key."""
    return (
        Persona.last_active_at.asc().nulls_first(),
        Persona.created_at.asc(),
        Persona.user_id.asc(),
    )
