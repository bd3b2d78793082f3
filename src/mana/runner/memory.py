"""The persona's story so far, on the runner's side: what it read at tick start, what it
remembers after the tick, and the compact text an LLM brain gets.

Bounds (documented in README): a fact the persona has not touched for `MEMORY_DAYS` days ages
out, at most `MAX_ITEMS` items (newest touched first) and `MAX_DAYS` day lines are kept. When
an item is dropped, `knownSince` moves past its creation, so an old item the persona no longer
remembers is never mistaken for a stranger's.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from mana.personas.contract import (
    MAX_DAYS,
    MAX_EXPECTED_FIELDS,
    MAX_ITEMS,
    MEMORY_DAYS,
    DayLine,
    RememberedItem,
    Story,
)
from mana.runner.toolmap import FINISHED_FIELDS, ToolMap, created_at, finishing, label_of
from mana.runner.types import ActionRecord, Observation

# Longer texts are remembered by their digest: the story stays small, the check stays exact.
MAX_REMEMBERED_TEXT = 200
DIGEST_PREFIX = "sha256:"
NOT_REMEMBERED = {"id", "cursor", "limit"}
COMPACT_ITEMS = 12
COMPACT_DAYS = 5


@dataclass
class Memory:
    """What a tick read. `loaded` is False when the read failed: the tick then checks nothing
    that needs the story and does not write one (it would erase what it could not read)."""

    story: Story
    base_tick_id: uuid.UUID | None
    loaded: bool = True

    @classmethod
    def of(cls, data: dict[str, Any]) -> Memory:
        tick = data.get("tickId")
        return cls(
            story=Story.model_validate(data.get("story") or {}),
            base_tick_id=uuid.UUID(tick) if tick else None,
        )

    @classmethod
    def unavailable(cls) -> Memory:
        return cls(story=Story(), base_tick_id=None, loaded=False)


def remembered_value(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_REMEMBERED_TEXT:
            return DIGEST_PREFIX + hashlib.sha256(text.encode()).hexdigest()
        return text
    if value is None or isinstance(value, bool | int | float):
        return value
    return None  # lists and objects are not remembered


def in_space(story: Story, space_id: uuid.UUID | None) -> dict[str, RememberedItem]:
    return {i.item_id: i for i in story.items if i.space_id == space_id}


def expectation_of(record: ActionRecord) -> dict[str, Any]:
    """What a successful write set, as the answer showed it: the fields it was asked to set
    (when the answer has them) and, for a finishing verb, the item being finished."""
    output = record.output if isinstance(record.output, dict) else {}
    arguments = record.arguments if isinstance(record.arguments, dict) else {}
    expect: dict[str, Any] = {}
    for name in arguments:
        if name in NOT_REMEMBERED or name not in output:
            continue
        value = remembered_value(output[name])
        if value is not None or output[name] is None:
            expect[name] = value
    if finishing(record.tool_name):
        for name in FINISHED_FIELDS:
            if name in output:
                expect[name] = True
    return dict(list(expect.items())[:MAX_EXPECTED_FIELDS])


def _aware(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else None


def after_tick(
    story: Story,
    records: list[ActionRecord],
    observations: list[Observation],
    toolmap: ToolMap,
    *,
    space_id: uuid.UUID | None,
    now: datetime,
    today: date,
    tick_started: datetime,
) -> Story:
    """The story after this tick: the writes it made remembered, old facts aged out, a line
    for the day. A pure function of its inputs, so a retried write sends the same story."""
    items = {(i.space_id, i.item_id): i for i in story.items}
    for record in sorted(records, key=lambda r: r.seq):
        kind = toolmap.kind(record.tool_name)
        output = record.output
        if (
            record.result != "ok"
            or kind not in ("create", "change")
            or not isinstance(output, dict)
        ):
            continue
        item_id = str(output.get("id") or "")
        if not item_id:
            continue
        key = (space_id, item_id)
        previous = items.get(key)
        expect = dict(previous.expect) if previous else {}
        expect.update(expectation_of(record))
        items[key] = RememberedItem(
            module=record.module,
            item_id=item_id[:120],
            space_id=space_id,
            label=label_of(output)[:300]
            if kind == "create" or previous is None
            else previous.label,
            tool=record.tool_name,
            expect=dict(list(expect.items())[:MAX_EXPECTED_FIELDS]),
            created_at=_aware(created_at(output)) or (previous.created_at if previous else None),
            touched_at=record.created_at,
        )
    known_since = story.known_since or tick_started
    horizon = now - timedelta(days=MEMORY_DAYS)
    ordered = sorted(items.values(), key=lambda i: (i.touched_at, i.item_id), reverse=True)
    kept = [i for i in ordered if i.touched_at >= horizon][:MAX_ITEMS]
    kept_ids = {(i.space_id, i.item_id) for i in kept}
    for dropped in ordered:
        if (dropped.space_id, dropped.item_id) not in kept_ids and dropped.created_at:
            known_since = max(known_since, dropped.created_at)
    days = [d for d in story.days if d.day >= (today - timedelta(days=MEMORY_DAYS)).isoformat()]
    line = day_line(records, observations, toolmap)
    if days and days[-1].day == today.isoformat():
        days[-1] = DayLine(day=days[-1].day, text=f"{days[-1].text} | {line}"[-500:])
    else:
        days.append(DayLine(day=today.isoformat(), text=line[:500]))
    return Story(known_since=known_since, items=kept, days=days[-MAX_DAYS:])


def day_line(records: list[ActionRecord], observations: list[Observation], toolmap: ToolMap) -> str:
    """One line about the day: what was done per module, and what was noticed."""
    done: dict[str, Counter[str]] = {}
    for record in records:
        if record.result == "ok":
            done.setdefault(record.module, Counter())[toolmap.kind(record.tool_name) or "read"] += 1
    parts = []
    for module in sorted(done):
        counts = done[module]
        words = [f"{n} {k}" for k, n in sorted(counts.items())]
        parts.append(f"{module}: {', '.join(words)}")
    text = "; ".join(parts) or "nothing done"
    if observations:
        kinds = Counter(f"{o.kind} ({o.module})" for o in observations)
        text += ". Noticed: " + ", ".join(f"{n}x {k}" for k, n in sorted(kinds.items()))
    return text


def compact(story: Story, space_id: uuid.UUID | None) -> str:
    """The story in a few lines, for an LLM brain's prompt."""
    mine = sorted(in_space(story, space_id).values(), key=lambda i: i.touched_at, reverse=True)
    lines = []
    for item in mine[:COMPACT_ITEMS]:
        state = ", ".join(
            f"{k}={v}" for k, v in item.expect.items() if not str(v).startswith(DIGEST_PREFIX)
        )
        lines.append(f"- {item.module} '{item.label}' (id {item.item_id}): {state}"[:240])
    if len(mine) > COMPACT_ITEMS:
        lines.append(f"- and {len(mine) - COMPACT_ITEMS} older items")
    days = [f"- {d.day}: {d.text}"[:300] for d in story.days[-COMPACT_DAYS:]]
    if not lines and not days:
        return "This is your first day here: you have not created anything yet."
    text = ""
    if lines:
        text += "Things you created or changed here (they should still be as you left them):\n"
        text += "\n".join(lines)
    if days:
        text += ("\n" if text else "") + "Your last days:\n" + "\n".join(days)
    return text
