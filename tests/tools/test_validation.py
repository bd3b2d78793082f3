"""Bad input is refused with a message a model can act on, never stored and never a crash.

Malformed arguments fail in the input model (pydantic ValidationError, naming the field); rules
that need the stored data fail in the handler (ToolError, one sentence saying what to do).
Both become isError tool results over MCP.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from mana.tools.registry import ToolError
from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)

MALFORMED: list[tuple[str, dict[str, Any], str, str]] = [
    # (tool, arguments, field, fragment of pydantic's message)
    ("todo.create", {"title": ""}, "title", "at least 1 character"),
    ("todo.create", {"title": "   "}, "title", "at least 1 character"),
    ("todo.create", {"title": "x" * 201}, "title", "at most 200 characters"),
    ("notes.create", {"title": ""}, "title", "at least 1 character"),
    (
        "calendar.create",
        {"title": "x" * 201, "start": "2026-03-10T10:00:00Z", "end": "2026-03-10T11:00:00Z"},
        "title",
        "at most 200",
    ),
    ("contacts.create", {"name": ""}, "name", "at least 1 character"),
    ("habits.create", {"name": "x" * 101}, "name", "at most 100 characters"),
    ("journal.add", {"body": ""}, "body", "at least 1 character"),
    ("notes.create", {"title": "a\x00b"}, "title", "NUL"),
    ("todo.create", {"title": "x", "due": "2026-02-30"}, "due", "valid date"),
    ("journal.add", {"body": "x", "date": "yesterday"}, "date", "valid date"),
    ("journal.add", {"body": "x", "date": "0001-01-01"}, "date", "year must be between"),
    ("journal.list", {"from": "03/10/2026"}, "from", "valid date"),
    (
        "calendar.create",
        {"title": "x", "start": "tomorrow 3pm", "end": "2026-03-10T11:00:00Z"},
        "start",
        "valid datetime",
    ),
    ("calendar.list", {"to": "2026-13-01"}, "to", "valid date"),
    ("mood.log", {"score": 0}, "score", "greater than or equal to 1"),
    ("mood.log", {"score": 11}, "score", "less than or equal to 10"),
    ("mood.log", {"score": "great"}, "score", "valid integer"),
    ("mood.recent", {"days": 91}, "days", "less than or equal to 90"),
    ("habits.recent", {"days": 0}, "days", "greater than or equal to 1"),
    ("habits.create", {"name": "Yoga", "cadence": "monthly"}, "cadence", "'daily' or 'weekly'"),
    ("habits.create", {"name": "Yoga", "targetPerWeek": 8}, "targetPerWeek", "less than or equal"),
    ("contacts.create", {"name": "Ana", "email": "not-an-email"}, "email", "email"),
    ("contacts.create", {"name": "Ana", "phone": "call me"}, "phone", "phone number"),
    ("notes.create", {"title": "x", "tags": ["two words"]}, "tags", "a tag is"),
    ("notes.create", {"title": "x", "tags": [f"t{i}" for i in range(21)]}, "tags", "at most 20"),
    ("notes.search", {"query": ""}, "query", "at least 1 character"),
    ("notes.search", {"query": "x" * 201}, "query", "at most 200 characters"),
    ("contacts.search", {}, "query", "Field required"),
    ("todo.list", {"limit": 0}, "limit", "greater than or equal to 1"),
    ("todo.list", {"limit": 101}, "limit", "less than or equal to 100"),
    ("todo.complete", {"id": "42"}, "id", "valid UUID"),
    ("todo.create", {"title": "x", "colour": "red"}, "colour", "Extra inputs are not permitted"),
    # A tool call can never pick its own space: the gateway sets it from the session.
    ("notes.create", {"title": "x", "spaceId": str(uuid.uuid4())}, "spaceId", "Extra inputs"),
    ("spaces.list", {"userId": str(uuid.uuid4())}, "userId", "Extra inputs"),
]


@pytest.mark.parametrize(
    ("tool", "args", "field", "message"),
    MALFORMED,
    ids=[f"{t}-{f}-{i}" for i, (t, _, f, _) in enumerate(MALFORMED)],
)
async def test_malformed_arguments_are_refused_naming_the_field(
    product: Product, alice: Person, tool: str, args: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        await product.call(tool, args, user=alice, now=NOW)
    errors = raised.value.errors()
    assert any(field in map(str, e["loc"]) for e in errors), errors
    assert message in str(raised.value)


async def _event(product: Product, who: Person, start: str, end: str) -> dict[str, Any]:
    return await product.call(
        "calendar.create", {"title": "x", "start": start, "end": end}, user=who, now=NOW
    )


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-03-10T11:00:00Z", "2026-03-10T10:00:00Z", "must be after start"),
        ("2026-03-10T11:00:00Z", "2026-03-10T11:00:00Z", "must be after start"),
        # Same instant written in two zones: 12:00+01:00 is 11:00Z.
        ("2026-03-10T11:00:00Z", "2026-03-10T12:00:00+01:00", "must be after start"),
        ("2026-03-01T00:00:00Z", "2026-03-15T00:00:01Z", "at most 14 days"),
    ],
)
async def test_calendar_refuses_impossible_times(
    product: Product, alice: Person, start: str, end: str, message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        await _event(product, alice, start, end)


async def test_calendar_update_refuses_moving_the_end_before_the_start(
    product: Product, alice: Person
) -> None:
    event = await _event(product, alice, "2026-03-10T10:00:00Z", "2026-03-10T11:00:00Z")
    with pytest.raises(ToolError, match="must be after start"):
        await product.call(
            "calendar.update", {"id": event["id"], "end": "2026-03-10T09:00:00Z"}, user=alice
        )
    unchanged = await product.call("calendar.get", {"id": event["id"]}, user=alice)
    assert unchanged["end"] == "2026-03-10T11:00:00Z"


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("calendar.list", {"from": "2026-03-10", "to": "2026-03-09"}, "is before from"),
        ("calendar.list", {"from": "2026-01-01", "to": "2027-01-02"}, "longer than 366 days"),
        ("journal.list", {"from": "2026-03-10", "to": "2026-03-01"}, "is before from"),
        ("journal.add", {"body": "x", "date": "2026-03-12"}, "is in the future"),
    ],
)
async def test_ranges_and_dates_that_make_no_sense_are_refused(
    product: Product, alice: Person, tool: str, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        await product.call(tool, args, user=alice, now=NOW)


async def test_a_366_day_calendar_range_is_allowed(product: Product, alice: Person) -> None:
    out = await product.call(
        "calendar.list", {"from": "2026-01-01", "to": "2026-12-31"}, user=alice, now=NOW
    )
    assert out["items"] == []


async def test_habit_log_dates_must_be_recent_and_not_in_the_future(
    product: Product, alice: Person
) -> None:
    habit = await product.call("habits.create", {"name": "Walk"}, user=alice, now=NOW)
    with pytest.raises(ToolError, match="is in the future"):
        await product.call(
            "habits.log", {"habitId": habit["id"], "date": "2026-03-12"}, user=alice, now=NOW
        )
    with pytest.raises(ToolError, match="more than a year ago"):
        await product.call(
            "habits.log", {"habitId": habit["id"], "date": "2025-03-09"}, user=alice, now=NOW
        )
    # One day ahead is accepted: "today" is UTC, and the user may live east of it.
    ahead = await product.call(
        "habits.log", {"habitId": habit["id"], "date": "2026-03-11"}, user=alice, now=NOW
    )
    assert ahead["alreadyLogged"] is False


UNKNOWN_ID: list[tuple[str, dict[str, Any], str]] = [
    ("todo.complete", {}, "todo.list"),
    ("todo.update", {"title": "x"}, "todo.list"),
    ("todo.delete", {}, "todo.list"),
    ("journal.get", {}, "journal.list"),
    ("journal.update", {"body": "x"}, "journal.list"),
    ("notes.get", {}, "notes.list"),
    ("notes.update", {"title": "x"}, "notes.list"),
    ("calendar.get", {}, "calendar.list"),
    ("calendar.update", {"title": "x"}, "calendar.list"),
    ("contacts.get", {}, "contacts.search"),
    ("contacts.update", {"name": "x"}, "contacts.search"),
]


@pytest.mark.parametrize(("tool", "args", "hint"), UNKNOWN_ID, ids=[t for t, _, _ in UNKNOWN_ID])
async def test_unknown_ids_are_not_found_with_a_hint_where_to_look(
    product: Product, alice: Person, tool: str, args: dict[str, Any], hint: str
) -> None:
    missing = uuid.uuid4()
    with pytest.raises(ToolError) as raised:
        await product.call(tool, {"id": str(missing), **args}, user=alice)
    message = str(raised.value)
    assert str(missing) in message and "not found in this space" in message
    assert f"use {hint} to find ids" in message


@pytest.mark.parametrize(
    ("tool", "args"),
    [("habits.log", {"habitId": "X"}), ("habits.recent", {"habitId": "X"})],
)
async def test_unknown_habit_ids_are_not_found(
    product: Product, alice: Person, tool: str, args: dict[str, Any]
) -> None:
    with pytest.raises(ToolError, match=r"use habits\.list to find ids"):
        await product.call(tool, {**args, "habitId": str(uuid.uuid4())}, user=alice)


async def _make(product: Product, who: Person, module: str) -> dict[str, Any]:
    creators: dict[str, tuple[str, dict[str, Any]]] = {
        "todo": ("todo.create", {"title": "x"}),
        "journal": ("journal.add", {"body": "x"}),
        "notes": ("notes.create", {"title": "x"}),
        "calendar": (
            "calendar.create",
            {"title": "x", "start": "2026-03-10T10:00:00Z", "end": "2026-03-10T11:00:00Z"},
        ),
        "contacts": ("contacts.create", {"name": "x"}),
    }
    tool, args = creators[module]
    return await product.call(tool, args, user=who)


@pytest.mark.parametrize("module", ["todo", "journal", "notes", "calendar", "contacts"])
async def test_an_update_without_changes_says_what_can_be_changed(
    product: Product, alice: Person, module: str
) -> None:
    row = await _make(product, alice, module)
    with pytest.raises(ToolError, match="nothing to update: give"):
        await product.call(f"{module}.update", {"id": row["id"]}, user=alice)


@pytest.mark.parametrize(
    ("module", "field"),
    [
        ("todo", "title"),
        ("todo", "priority"),
        ("journal", "body"),
        ("journal", "date"),
        ("notes", "title"),
        ("notes", "tags"),
        ("calendar", "title"),
        ("calendar", "start"),
        ("contacts", "name"),
    ],
)
async def test_required_fields_cannot_be_nulled_by_an_update(
    product: Product, alice: Person, module: str, field: str
) -> None:
    row = await _make(product, alice, module)
    with pytest.raises(ToolError, match=f"{field} cannot be null: leave it out"):
        await product.call(f"{module}.update", {"id": row["id"], field: None}, user=alice)


async def test_a_duplicate_habit_name_points_to_the_existing_habit(
    product: Product, alice: Person
) -> None:
    habit = await product.call("habits.create", {"name": "Meditate"}, user=alice)
    with pytest.raises(ToolError) as raised:
        await product.call("habits.create", {"name": "  MEDITATE "}, user=alice)
    assert habit["id"] in str(raised.value) and "habits.log" in str(raised.value)


async def test_a_space_tracks_at_most_50_habits(product: Product, alice: Person) -> None:
    for i in range(50):
        await product.call("habits.create", {"name": f"Habit {i}"}, user=alice)
    with pytest.raises(ToolError, match="the maximum"):
        await product.call("habits.create", {"name": "One too many"}, user=alice)


async def test_an_email_belongs_to_one_contact_per_space(product: Product, alice: Person) -> None:
    first = await product.call(
        "contacts.create", {"name": "Ana", "email": "ana@example.com"}, user=alice
    )
    with pytest.raises(ToolError) as raised:
        await product.call(
            "contacts.create", {"name": "Ana L.", "email": "ANA@example.com"}, user=alice
        )
    assert first["id"] in str(raised.value) and "contacts.update" in str(raised.value)
    other = await product.call("contacts.create", {"name": "Ben"}, user=alice)
    with pytest.raises(ToolError, match="already has the email"):
        await product.call(
            "contacts.update", {"id": other["id"], "email": "ana@example.com"}, user=alice
        )
    # Re-saving a contact's own email is not a conflict.
    same = await product.call(
        "contacts.update", {"id": first["id"], "email": "ana@example.com"}, user=alice
    )
    assert same["email"] == "ana@example.com"


@pytest.mark.parametrize("cursor", ["garbage", "bm90IGpzb24=", "eyJvIjoieCIsImsiOltdfQ=="])
async def test_a_bad_cursor_says_to_pass_next_cursor(
    product: Product, alice: Person, cursor: str
) -> None:
    with pytest.raises(ToolError, match="pass nextCursor from the previous page"):
        await product.call("notes.list", {"cursor": cursor}, user=alice)


async def test_a_cursor_from_another_list_is_refused(product: Product, alice: Person) -> None:
    for i in range(3):
        await product.call("todo.create", {"title": f"t{i}"}, user=alice)
    page = await product.call("todo.list", {"limit": 2}, user=alice)
    assert page["nextCursor"]
    with pytest.raises(ToolError, match="cursor is not valid here"):
        await product.call("journal.list", {"cursor": page["nextCursor"]}, user=alice)


async def test_a_tampered_cursor_is_refused_not_crashed_on(product: Product, alice: Person) -> None:
    def cursor(keys: list[Any]) -> str:
        payload = {"o": "notes.updated_at,notes.id", "k": keys}
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()

    for keys in (
        ["2026-03-10T09:30:00", str(uuid.uuid4())],  # naive time
        ["2026-03-10T09:30:00+00:00", "not-a-uuid"],
        [1, 2],
        ["2026-03-10T09:30:00+00:00"],
    ):
        with pytest.raises(ToolError, match="cursor is not valid here"):
            await product.call("notes.list", {"cursor": cursor(keys)}, user=alice)
    ok = cursor(["2026-03-10T09:30:00+00:00", str(uuid.uuid4())])
    assert (await product.call("notes.list", {"cursor": ok}, user=alice))["items"] == []
