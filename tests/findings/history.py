"""Realistic persona history written straight through the ORM, dated over N days.

About ten personas, each using three modules once a day: a tick, two calls of each of the
module's two main tools (a few ordinary validation errors, latencies of tens of ms), one rating
per module with a note, and — where a fault is switched on — failures whose messages carry ids,
low ratings, and a `not_applied` observation. Everything is seeded: the same arguments write
the same history.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth.models import User
from mana.personas.models import (
    Persona,
    PersonaAction,
    PersonaFeedback,
    PersonaObservation,
    PersonaTick,
)

MODULE_TOOLS = {
    "calendar": ("calendar.create", "calendar.list"),
    "contacts": ("contacts.create", "contacts.list"),
    "habits": ("habits.log", "habits.list"),
    "journal": ("journal.add", "journal.list"),
    "mood": ("mood.log", "mood.recent"),
    "notes": ("notes.create", "notes.list"),
    "todo": ("todo.create", "todo.list"),
}
MODULES = tuple(MODULE_TOOLS)
# The ordinary mistakes of a clean build: a validation error now and then on the write tools.
ORDINARY_ERROR = "title must not be empty"
ORDINARY_ERROR_RATE = 0.05
GOOD_RATINGS = (3, 4, 4, 4, 5, 5)
BAD_RATINGS = (1, 1, 2, 2, 3)


@dataclass(frozen=True)
class Fault:
    """From day `first` (0-based) until day `last` (exclusive; None: to the end) the module's
    write tool fails most of the time and its personas rate it low."""

    module: str
    first: int
    last: int | None = None

    def active(self, day: int) -> bool:
        return day >= self.first and (self.last is None or day < self.last)


@dataclass
class History:
    start: date
    days: int
    persona_ids: list[uuid.UUID]
    emails: list[str]
    tick_ids: list[uuid.UUID] = field(default_factory=list)

    def day_end(self, day: int) -> datetime:
        """Just before midnight after day `day` (0-based): where a daily evaluation runs."""
        return datetime.combine(self.start + timedelta(days=day + 1), time(0), tzinfo=UTC) - (
            timedelta(minutes=1)
        )


def far_start() -> date:
    """A start date of its own, far from now and from other tests' histories."""
    return date(2031, 1, 1) + timedelta(days=60 * random.randrange(0, 5000))


async def write_personas(session: AsyncSession, count: int) -> tuple[list[uuid.UUID], list[str]]:
    ids, emails = [], []
    for n in range(count):
        user_id = uuid.uuid4()
        email = f"findings.{user_id.hex[:12]}@mana.test"
        session.add(
            User(
                id=user_id,
                email=email,
                name=f"Findings Persona {n}",
                password_hash="not-a-real-hash",
                kind="persona",
            )
        )
        ids.append(user_id)
        emails.append(email)
    await session.flush()
    for user_id in ids:
        session.add(
            Persona(
                user_id=user_id,
                archetype="solo-dev",
                system_prompt="A persona of the findings tests, using three modules a day.",
                module_mix={"todo": 1},
                tick_cadence="daily",
            )
        )
    await session.flush()
    return ids, emails


async def write_history(
    session: AsyncSession,
    *,
    start: date,
    days: int,
    personas: int = 10,
    faults: tuple[Fault, ...] = (),
    seed: int = 1,
    first_day: int = 0,
    history: History | None = None,
) -> History:
    """Write days `first_day` .. `first_day + days - 1`; pass `history` to continue one."""
    rng = random.Random(seed * 1_000_003 + first_day)
    if history is None:
        ids, emails = await write_personas(session, personas)
        history = History(start=start, days=0, persona_ids=ids, emails=emails)
    ticks: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    for day in range(first_day, first_day + days):
        midnight = datetime.combine(history.start + timedelta(days=day), time(0), tzinfo=UTC)
        for n, persona_id in enumerate(history.persona_ids):
            began = midnight + timedelta(hours=8, minutes=7 * n + rng.randrange(0, 5))
            tick_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            history.tick_ids.append(tick_id)
            modules = [MODULES[(n + k * 2) % len(MODULES)] for k in range(3)]
            seq = 0
            errors = 0
            observed = 0
            for module in modules:
                fault = next((f for f in faults if f.module == module and f.active(day)), None)
                write_tool, read_tool = MODULE_TOOLS[module]
                for tool in (read_tool, write_tool, read_tool, write_tool):
                    at = began + timedelta(seconds=seq * 3)
                    error: str | None = None
                    if fault is not None and tool == write_tool and rng.random() < 0.8:
                        item = uuid.UUID(int=rng.getrandbits(128), version=4)
                        error = f"could not save {module} item {item}: storage timeout after {rng.randrange(2000, 9000)} ms"
                    elif tool == write_tool and rng.random() < ORDINARY_ERROR_RATE:
                        error = ORDINARY_ERROR
                    errors += error is not None
                    actions.append(
                        {
                            "persona_id": persona_id,
                            "tick_id": tick_id,
                            "seq": seq,
                            "tool_name": tool,
                            "input_hash": hashlib.sha256(f"{tick_id}{seq}".encode()).hexdigest(),
                            "result": "error" if error else "ok",
                            "error_message": error,
                            "latency_ms": rng.randrange(15, 90),
                            "created_at": at,
                        }
                    )
                    seq += 1
                rating = rng.choice(BAD_RATINGS if fault else GOOD_RATINGS)
                feedback.append(
                    {
                        "persona_id": persona_id,
                        "tick_id": tick_id,
                        "module": module,
                        "rating": rating,
                        "notes": (
                            f"my {module} entries did not save"
                            if fault
                            else f"{module} worked fine"
                        ),
                        "created_at": began + timedelta(minutes=10),
                    }
                )
                if fault is not None:
                    observations.append(
                        {
                            "persona_id": persona_id,
                            "tick_id": tick_id,
                            "seq": observed,
                            "kind": "not_applied",
                            "module": module,
                            "tool_name": write_tool,
                            "action_seq": seq - 1,
                            "item_id": None,
                            "evidence": f"{write_tool} said ok yesterday, the item is not there",
                            "created_at": began + timedelta(minutes=9),
                        }
                    )
                    observed += 1
            ticks.append(
                {
                    "id": tick_id,
                    "persona_id": persona_id,
                    "runner_id": "findings-history",
                    "brain": "scripted",
                    "status": "ok",
                    "started_at": began,
                    "finished_at": began + timedelta(minutes=10),
                    "tool_calls": seq,
                    "errors": errors,
                }
            )
    await session.execute(sa.insert(PersonaTick), ticks)
    await session.execute(sa.insert(PersonaAction), actions)
    await session.execute(sa.insert(PersonaFeedback), feedback)
    if observations:
        await session.execute(sa.insert(PersonaObservation), observations)
    history.days = max(history.days, first_day + days)
    return history
