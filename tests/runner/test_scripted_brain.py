"""The scripted brain on a deterministic in-memory product: same seed, same day; modules from
the persona's mix; every call recorded with the hash of its canonical arguments; ratings only
for what was used, from what happened, in the persona's voice."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import uuid
from datetime import date, datetime
from typing import Any

import pytest

from mana.kit.clock import Clock
from mana.personas.catalog import load_catalog
from mana.personas.contract import Story
from mana.runner.brains.base import DayContext, ToolOutcome
from mana.runner.brains.scripted import ScriptedBrain
from mana.runner.expectations import Checker
from mana.runner.recording import RecordingToolBox, summarize_experience
from mana.runner.toolmap import ToolMap
from mana.runner.types import ActionRecord, PersonaProfile, PersonaSpace, RatingOutcome, ToolInfo
from mana.tools.registry import exposed_tools

pytestmark = pytest.mark.anyio

CATALOG = load_catalog()
TODAY = date(2025, 5, 14)
TOOLS = [
    ToolInfo(
        name=s.name,
        description=s.description,
        input_schema=s.input_schema,
        output_schema=s.output_schema,
        read_only=s.policy == "read",
    )
    for s in exposed_tools().values()
]


class ProductDouble:
    """A tiny deterministic stand-in for the product: ids count up, lists show what was
    created, and the mistakes a newbie makes are refused the way the real tools refuse them."""

    def __init__(self, *, vague: bool = False) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.vague = vague

    def call(self, name: str, args: dict[str, Any]) -> tuple[bool, Any]:
        failed, answer = self._answer(name, args)
        if failed and self.vague:
            return True, "invalid input"
        return failed, answer

    def _answer(self, name: str, args: dict[str, Any]) -> tuple[bool, Any]:
        module, verb = name.split(".")
        rows = self.rows.setdefault(module, [])
        if verb in ("list", "search", "recent"):
            return False, {"items": list(rows[: args.get("limit", 20)]), "nextCursor": None}
        if verb in ("complete", "update"):
            if not any(r["id"] == args["id"] for r in rows):
                return True, f"{module} {args['id']} not found"
            return False, {"id": args["id"]}
        if name == "habits.log":
            return False, {"alreadyLogged": False, "habit": {"id": args["habitId"]}}
        if name == "todo.create" and not args.get("title"):
            return True, "title: must not be empty"
        if name == "todo.create" and "due" in args:
            try:
                date.fromisoformat(args["due"])
            except ValueError:
                return True, "due: not a date (YYYY-MM-DD)"
        if name == "mood.log" and not 1 <= args["score"] <= 10:
            return True, "score: must be 1-10"
        if name == "calendar.create" and args["end"] <= args["start"]:
            return True, "end must be after start"
        if name == "contacts.create" and "@" not in (args.get("email") or "@"):
            return True, "email: not an email address"
        if name == "notes.search":
            return (True, "query: must not be empty") if not args["query"] else (False, {})
        row = {"id": f"{module}-{next(self._ids)}", **args}
        rows.append(row)
        return False, row


class Recorder:
    """The real RecordingToolBox over the double, plus the raw (name, arguments) of each call."""

    def __init__(self, *, vague: bool = False) -> None:
        self.product = ProductDouble(vague=vague)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.box = RecordingToolBox(TOOLS, self._raw, Clock())

    @property
    def tools(self) -> list[ToolInfo]:
        return self.box.tools

    @property
    def records(self) -> list[ActionRecord]:
        return self.box.records

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        self.calls.append((name, json.loads(json.dumps(arguments))))
        return await self.box.call(name, arguments)

    async def _raw(self, name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
        return self.product.call(name, arguments)


def profile(email: str, *, space_type: str = "personal") -> PersonaProfile:
    entry = CATALOG.by_email(email)
    assert entry is not None
    space = PersonaSpace(id=uuid.UUID(int=1), name="space", type=space_type, role="owner")
    return PersonaProfile(
        user_id=uuid.UUID(int=2),
        email=entry.email,
        name=entry.name,
        archetype=entry.archetype,
        system_prompt=entry.system_prompt,
        module_mix=dict(entry.module_mix),
        spaces=[space],
    )


async def play(
    email: str, seed: int, *, space_type: str = "personal", vague: bool = False
) -> tuple[Recorder, RatingOutcome]:
    persona = profile(email, space_type=space_type)
    day = DayContext(
        persona=persona, space=persona.spaces[0], today=TODAY, seed=seed, rng=random.Random(seed)
    )
    brain = ScriptedBrain(CATALOG)
    recorder = Recorder(vague=vague)
    await brain.run_day(day, recorder)
    checker = Checker(
        ToolMap.of(TOOLS),
        story=Story(),
        space_id=day.space.id,
        personal=space_type == "personal",
        persona_id=persona.user_id,
    )
    observations = checker.run(recorder.records)
    return recorder, await brain.rate(day, summarize_experience(recorder.records, observations))


@pytest.mark.parametrize("email", [p.email for p in CATALOG.personas])
async def test_the_same_seed_gives_the_same_day_and_the_same_ratings(email: str) -> None:
    first, first_rating = await play(email, seed=20250514)
    second, second_rating = await play(email, seed=20250514)
    assert first.calls
    assert first.calls == second.calls
    assert first_rating == second_rating


async def test_different_seeds_give_different_days() -> None:
    days = [(await play("persona.kai@mana.test", seed))[0].calls for seed in range(6)]
    assert len({json.dumps(d, sort_keys=True) for d in days}) > 1


async def test_a_day_only_visits_modules_of_the_personas_mix() -> None:
    for entry in CATALOG.personas:
        for seed in range(5):
            recorder, _ = await play(entry.email, seed)
            used = {name.split(".")[0] for name, _ in recorder.calls}
            assert used <= set(entry.module_mix), (entry.email, used)


async def test_a_day_in_a_shared_space_starts_by_looking_around() -> None:
    recorder, _ = await play("persona.priya@mana.test", 3, space_type="team")
    assert recorder.calls[0] == ("spaces.list", {})


async def test_every_call_is_recorded_with_the_sha256_of_its_canonical_arguments() -> None:
    recorder, _ = await play("persona.doris@mana.test", 11)
    records = recorder.records
    assert [r.seq for r in records] == list(range(len(recorder.calls)))
    for record, (name, args) in zip(records, recorder.calls, strict=True):
        canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert record.tool_name == name
        assert record.input_hash == hashlib.sha256(canonical.encode()).hexdigest()
        assert record.latency_ms >= 0
        assert isinstance(record.created_at, datetime)
        if record.result == "error":
            assert record.error_message
        else:
            assert record.result == "ok" and record.error_message is None


async def test_an_overwhelmed_newbie_makes_mistakes_the_product_refuses() -> None:
    errors = []
    for seed in range(8):
        recorder, _ = await play("persona.doris@mana.test", seed)
        errors += [r.error_message for r in recorder.records if r.result == "error"]
    assert errors, "eight days without a single blunder"
    # Someone who is not a newbie makes none of those mistakes.
    for seed in range(8):
        recorder, _ = await play("persona.priya@mana.test", seed)
        assert all(r.result == "ok" for r in recorder.records)


async def test_a_clear_refusal_of_the_personas_own_mistake_costs_nothing() -> None:
    for seed in range(8):
        recorder, outcome = await play("persona.doris@mana.test", seed)
        used = {r.module for r in recorder.records}
        assert outcome.problem is None
        assert {r.module for r in outcome.ratings} == used
        # The double refuses each blunder naming the field and the rule: nothing to complain
        # about, and no note invents a problem.
        assert all(r.rating == 5 for r in outcome.ratings), outcome.ratings


async def test_a_vague_refusal_costs_a_point_and_the_note_names_the_call() -> None:
    complained = 0
    for seed in range(8):
        recorder, outcome = await play("persona.doris@mana.test", seed, vague=True)
        for rating in outcome.ratings:
            refused = [
                r for r in recorder.records if r.module == rating.module and r.result == "error"
            ]
            if not refused:
                assert rating.rating == 5
                continue
            complained += 1
            assert rating.rating == 4
            assert f"{refused[0].tool_name}, call {refused[0].seq}" in rating.notes
            assert "invalid input" in rating.notes
    assert complained, "eight days without a single blunder"


async def test_notes_are_written_in_the_personas_language_and_style() -> None:
    _, german = await play("persona.henrik@mana.test", 5)  # formal, German
    assert german.ratings
    assert all(r.notes.startswith("Zu ") and "von 5" in r.notes for r in german.ratings)
    _, terse = await play("persona.claire@mana.test", 5)  # terse, English
    assert terse.ratings
    assert all(
        r.notes.startswith(f"{r.module}: ") and r.notes.endswith(f"{r.rating}/5.")
        for r in terse.ratings
    )
