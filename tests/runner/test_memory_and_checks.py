"""The runner's side of memory and expectations, without servers: the story a tick leaves is
bounded and a pure function of what happened; the checks follow the tools as published, so a
module added later gets them with no new runner code; the LLM brains get the story."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mana.personas.contract import MAX_ITEMS, MEMORY_DAYS, RememberedItem, Story
from mana.runner.brains.base import DayContext
from mana.runner.brains.llm_common import day_system_prompt, experience_digest
from mana.runner.expectations import Checker, same
from mana.runner.memory import after_tick, compact
from mana.runner.recording import summarize_experience
from mana.runner.toolmap import ToolMap
from mana.runner.types import ActionRecord, Observation, PersonaProfile, PersonaSpace, ToolInfo

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
SPACE = uuid.UUID(int=7)
ME = uuid.UUID(int=8)

# A module that does not exist in the product today: plants, with their own words.
PLANT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "watered": {"type": "boolean"},
        "createdAt": {"type": "string", "format": "date-time"},
    },
}
PLANT_TOOLS = [
    ToolInfo(
        "plants.plant",
        "Plant something.",
        {
            "type": "object",
            "properties": {"name": {"type": "string", "maxLength": 50}},
            "required": ["name"],
        },
        output_schema=PLANT,
        read_only=False,
    ),
    ToolInfo(
        "plants.rename",
        "Rename a plant.",
        {
            "type": "object",
            "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            "required": ["id"],
        },
        output_schema=PLANT,
        read_only=False,
    ),
    ToolInfo(
        "plants.garden",
        "All plants.",
        {"type": "object", "properties": {"limit": {"type": "integer", "maximum": 50}}},
        output_schema={
            "type": "object",
            "$defs": {"Plant": PLANT},
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/$defs/Plant"}},
                "nextCursor": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
        },
        read_only=True,
    ),
]


def call(
    seq: int, tool: str, arguments: dict[str, Any], output: Any = None, error: str | None = None
) -> ActionRecord:
    return ActionRecord(
        seq=seq,
        tool_name=tool,
        input_hash="0" * 64,
        result="error" if error else "ok",
        error_message=error,
        latency_ms=5,
        created_at=NOW,
        output=output,
        arguments=arguments,
    )


def plant(item_id: str, name: str, created: datetime = NOW) -> dict[str, Any]:
    return {"id": item_id, "name": name, "watered": False, "createdAt": created.isoformat()}


def checker(story: Story | None) -> Checker:
    return Checker(
        ToolMap.of(PLANT_TOOLS), story=story, space_id=SPACE, personal=True, persona_id=ME
    )


def test_a_module_added_later_is_mapped_from_its_published_tools() -> None:
    toolmap = ToolMap.of(PLANT_TOOLS)
    entry = toolmap.modules["plants"]
    assert [t.name for t in entry.creates] == ["plants.plant"]
    assert [t.name for t in entry.changes] == ["plants.rename"]
    assert entry.lister is not None and entry.lister.name == "plants.garden"
    assert toolmap.look_arguments(entry.lister, date(2026, 12, 2)) == {"limit": 50}


def test_a_module_added_later_gets_the_write_and_read_back_checks() -> None:
    first_day = after_tick(
        Story(),
        [call(0, "plants.plant", {"name": "Fern"}, plant("p1", "Fern"))],
        [],
        ToolMap.of(PLANT_TOOLS),
        space_id=SPACE,
        now=NOW,
        today=NOW.date(),
        tick_started=NOW - timedelta(minutes=1),
    )
    later = NOW + timedelta(days=1)

    seen = checker(first_day).run(
        [
            # The answer does not carry what was asked...
            call(0, "plants.rename", {"id": "p1", "name": "Monstera"}, plant("p1", "Fern")),
            # ...and a stranger's plant shows up at home.
            call(1, "plants.garden", {"limit": 50}, {"items": [plant("x9", "Cactus", later)]}),
        ]
    )

    assert {(o.kind, o.item_id) for o in seen} == {("not_applied", "p1"), ("unexpected_item", "x9")}
    (wrong,) = [o for o in seen if o.kind == "not_applied"]
    assert "plants.rename (call 0) was asked name='Monstera' but answered name='Fern'" in (
        wrong.evidence
    )


def test_the_first_day_and_a_clean_answer_raise_nothing() -> None:
    created = [call(0, "plants.plant", {"name": "Fern"}, plant("p1", "Fern"))]
    assert checker(Story()).run([*created, call(1, "plants.garden", {}, {"items": []})]) == []
    assert checker(None).run(created) == []  # no memory: nothing to expect


def test_the_story_is_bounded_by_age_and_count_and_moves_known_since_past_what_it_drops() -> None:
    old = NOW - timedelta(days=MEMORY_DAYS + 1)
    items = [
        RememberedItem(
            module="plants",
            item_id=f"p{i}",
            space_id=SPACE,
            label=f"plant {i}",
            tool="plants.plant",
            expect={"name": f"plant {i}"},
            created_at=NOW - timedelta(minutes=i),
            touched_at=NOW - timedelta(minutes=i),
        )
        for i in range(MAX_ITEMS - 1)
    ]
    items.append(
        items[0].model_copy(update={"item_id": "ancient", "touched_at": old, "created_at": old})
    )
    story = Story(known_since=old - timedelta(days=1), items=items)
    records = [
        call(0, "plants.plant", {"name": "Fern"}, plant("new", "Fern")),
        call(1, "plants.plant", {"name": "Ivy"}, plant("newer", "Ivy")),
    ]

    after = after_tick(
        story,
        records,
        [],
        ToolMap.of(PLANT_TOOLS),
        space_id=SPACE,
        now=NOW,
        today=NOW.date(),
        tick_started=NOW,
    )
    again = after_tick(
        story,
        records,
        [],
        ToolMap.of(PLANT_TOOLS),
        space_id=SPACE,
        now=NOW,
        today=NOW.date(),
        tick_started=NOW,
    )

    assert len(after.items) == MAX_ITEMS
    ids = {i.item_id for i in after.items}
    # Too old, and one too many: the oldest touched goes.
    assert {"new", "newer"} <= ids and "ancient" not in ids and f"p{MAX_ITEMS - 2}" not in ids
    # An item it no longer remembers is never taken for a stranger's.
    assert after.known_since == NOW - timedelta(minutes=MAX_ITEMS - 2)
    assert after == again  # the same tick writes the same story (a retry changes nothing)
    assert after.days[-1].day == NOW.date().isoformat()


def test_llm_brains_get_the_story_in_their_prompt() -> None:
    story = after_tick(
        Story(),
        [call(0, "plants.plant", {"name": "Fern"}, plant("p1", "Fern"))],
        [],
        ToolMap.of(PLANT_TOOLS),
        space_id=SPACE,
        now=NOW,
        today=NOW.date(),
        tick_started=NOW,
    )
    persona = PersonaProfile(
        user_id=ME,
        email="p@mana.test",
        archetype="solo-dev",
        system_prompt="You are a gardener who checks every plant twice.",
        module_mix={"plants": 1},
    )
    day = DayContext(
        persona=persona,
        space=PersonaSpace(id=SPACE, name="home", type="personal"),
        today=NOW.date(),
        seed=1,
        rng=random.Random(1),
        story=compact(story, SPACE),
    )

    prompt = day_system_prompt(day)

    assert "What you remember" in prompt
    assert "plants 'Fern' (id p1): name=Fern" in prompt
    assert compact(Story(), SPACE).startswith("This is your first day here")


def test_answers_are_compared_as_a_person_reads_them() -> None:
    assert same("sam@example.com", "Sam@Example.com")  # addresses are stored lower-case
    assert same("2026-12-03T10:00:00Z", "2026-12-03T11:00:00+01:00")  # one instant
    assert same(3.0, 3) and same("  Fern ", "Fern")
    assert not same("buy milk", "Buy milk")  # a title is kept as typed
    assert not same(False, 0) and not same(None, "")


def test_llm_brains_are_told_what_was_noticed_when_they_rate() -> None:
    records = [call(0, "plants.garden", {}, {"items": []})]
    noticed = Observation(
        kind="missing",
        module="plants",
        evidence="plants 'Fern' (id p1) is not in plants.garden (call 0)",
        tool_name="plants.garden",
        action_seq=0,
    )

    digest = experience_digest(summarize_experience(records, [noticed]))

    assert "noticed missing: \"plants 'Fern' (id p1) is not in plants.garden (call 0)\"" in digest
