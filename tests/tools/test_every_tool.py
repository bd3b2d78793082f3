"""Every exposed tool answers a valid call with the documented output.

One scenario per tool; a tool added without a scenario fails `test_every_exposed_tool_has_a_
scenario`, so nothing reaches agents untested.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from mana.tools.registry import exposed_tools
from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)  # a Tuesday
Scenario = Callable[[Product, Person], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[name] = fn
        return fn

    return register


async def _call(p: Product, who: Person, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return await p.call(name, args, user=who, space_id=who.space_id, now=NOW)


@scenario("todo.create")
async def _todo_create(p: Product, who: Person) -> None:
    out = await _call(
        p, who, "todo.create", {"title": "Buy milk", "due": "2026-03-11", "priority": "high"}
    )
    assert out["title"] == "Buy milk" and out["due"] == "2026-03-11"
    assert out["priority"] == "high" and out["done"] is False and out["completedAt"] is None


@scenario("todo.list")
async def _todo_list(p: Product, who: Person) -> None:
    await _call(p, who, "todo.create", {"title": "Call the plumber"})
    out = await _call(p, who, "todo.list", {})
    assert [t["title"] for t in out["items"]] == ["Call the plumber"]
    assert out["nextCursor"] is None


@scenario("todo.complete")
async def _todo_complete(p: Product, who: Person) -> None:
    todo = await _call(p, who, "todo.create", {"title": "Water plants"})
    out = await _call(p, who, "todo.complete", {"id": todo["id"]})
    assert out["done"] is True and out["completedAt"] == "2026-03-10T09:30:00Z"


@scenario("todo.update")
async def _todo_update(p: Product, who: Person) -> None:
    todo = await _call(p, who, "todo.create", {"title": "Draft", "notes": "x"})
    out = await _call(p, who, "todo.update", {"id": todo["id"], "title": "Final", "notes": None})
    assert out["title"] == "Final" and out["notes"] is None


@scenario("journal.add")
async def _journal_add(p: Product, who: Person) -> None:
    out = await _call(p, who, "journal.add", {"body": "Long walk by the river."})
    assert out["date"] == "2026-03-10" and out["body"] == "Long walk by the river."
    assert out["createdBy"] == str(who.user_id)


@scenario("journal.list")
async def _journal_list(p: Product, who: Person) -> None:
    await _call(p, who, "journal.add", {"body": "Monday.", "date": "2026-03-09"})
    await _call(p, who, "journal.add", {"body": "Tuesday."})
    out = await _call(p, who, "journal.list", {"from": "2026-03-09", "to": "2026-03-10"})
    assert [e["date"] for e in out["items"]] == ["2026-03-10", "2026-03-09"]


@scenario("journal.get")
async def _journal_get(p: Product, who: Person) -> None:
    entry = await _call(p, who, "journal.add", {"body": "Quiet day."})
    assert await _call(p, who, "journal.get", {"id": entry["id"]}) == entry


@scenario("journal.update")
async def _journal_update(p: Product, who: Person) -> None:
    entry = await _call(p, who, "journal.add", {"body": "Draft."})
    out = await _call(p, who, "journal.update", {"id": entry["id"], "date": "2026-03-08"})
    assert out["date"] == "2026-03-08" and out["body"] == "Draft."


@scenario("notes.create")
async def _notes_create(p: Product, who: Person) -> None:
    out = await _call(
        p, who, "notes.create", {"title": "Recipe", "body": "Flour, eggs", "tags": ["#Food", "x"]}
    )
    assert out["title"] == "Recipe" and out["body"] == "Flour, eggs"
    assert out["tags"] == ["food", "x"]


@scenario("notes.update")
async def _notes_update(p: Product, who: Person) -> None:
    note = await _call(p, who, "notes.create", {"title": "Ideas", "tags": ["a"]})
    out = await _call(p, who, "notes.update", {"id": note["id"], "body": "More", "tags": []})
    assert out["title"] == "Ideas" and out["body"] == "More" and out["tags"] == []


@scenario("notes.search")
async def _notes_search(p: Product, who: Person) -> None:
    await _call(p, who, "notes.create", {"title": "Groceries", "body": "Oat milk"})
    await _call(p, who, "notes.create", {"title": "Books", "body": "Dune"})
    out = await _call(p, who, "notes.search", {"query": "MILK"})
    assert [n["title"] for n in out["items"]] == ["Groceries"]
    assert out["items"][0]["excerpt"] == "Oat milk"


@scenario("notes.list")
async def _notes_list(p: Product, who: Person) -> None:
    await _call(p, who, "notes.create", {"title": "One", "tags": ["work"]})
    await _call(p, who, "notes.create", {"title": "Two"})
    out = await _call(p, who, "notes.list", {})
    assert {n["title"] for n in out["items"]} == {"One", "Two"}
    tagged = await _call(p, who, "notes.list", {"tag": "work"})
    assert [n["title"] for n in tagged["items"]] == ["One"]


@scenario("notes.get")
async def _notes_get(p: Product, who: Person) -> None:
    note = await _call(p, who, "notes.create", {"title": "Full", "body": "x" * 500})
    out = await _call(p, who, "notes.get", {"id": note["id"]})
    assert out["body"] == "x" * 500


@scenario("habits.create")
async def _habits_create(p: Product, who: Person) -> None:
    out = await _call(p, who, "habits.create", {"name": "Run", "cadence": "weekly"})
    assert out["name"] == "Run" and out["cadence"] == "weekly" and out["targetPerWeek"] == 1
    assert out["streak"] == 0 and out["streakUnit"] == "weeks" and out["loggedToday"] is False


@scenario("habits.list")
async def _habits_list(p: Product, who: Person) -> None:
    habit = await _call(p, who, "habits.create", {"name": "Stretch"})
    await _call(p, who, "habits.log", {"habitId": habit["id"]})
    out = await _call(p, who, "habits.list", {})
    assert [(h["name"], h["loggedToday"], h["streak"]) for h in out["items"]] == [
        ("Stretch", True, 1)
    ]


@scenario("habits.log")
async def _habits_log(p: Product, who: Person) -> None:
    habit = await _call(p, who, "habits.create", {"name": "Read"})
    out = await _call(p, who, "habits.log", {"habitId": habit["id"], "note": "20 pages"})
    assert out["alreadyLogged"] is False and out["log"]["date"] == "2026-03-10"
    assert out["log"]["note"] == "20 pages" and out["habit"]["streak"] == 1


@scenario("habits.recent")
async def _habits_recent(p: Product, who: Person) -> None:
    habit = await _call(p, who, "habits.create", {"name": "Floss"})
    await _call(p, who, "habits.log", {"habitId": habit["id"], "date": "2026-03-09"})
    out = await _call(p, who, "habits.recent", {"days": 3})
    assert out["from"] == "2026-03-08" and out["to"] == "2026-03-10"
    [history] = out["habits"]
    assert [log["date"] for log in history["logs"]] == ["2026-03-09"]
    assert history["habit"]["streak"] == 1


@scenario("mood.log")
async def _mood_log(p: Product, who: Person) -> None:
    out = await _call(p, who, "mood.log", {"score": 7, "note": "sunny"})
    assert out["score"] == 7 and out["note"] == "sunny"
    assert out["loggedAt"] == "2026-03-10T09:30:00Z"


@scenario("mood.recent")
async def _mood_recent(p: Product, who: Person) -> None:
    for score in (4, 9):
        await _call(p, who, "mood.log", {"score": score})
    out = await _call(p, who, "mood.recent", {})
    assert out["count"] == 2 and out["average"] == 6.5
    assert (out["lowest"], out["highest"]) == (4, 9) and out["truncated"] is False


@scenario("calendar.create")
async def _calendar_create(p: Product, who: Person) -> None:
    out = await _call(
        p,
        who,
        "calendar.create",
        {
            "title": "Dentist",
            "start": "2026-03-12T15:00:00+01:00",
            "end": "2026-03-12T16:00:00+01:00",
            "location": "Main St 1",
        },
    )
    assert out["start"] == "2026-03-12T14:00:00Z" and out["end"] == "2026-03-12T15:00:00Z"
    assert out["location"] == "Main St 1"


@scenario("calendar.list")
async def _calendar_list(p: Product, who: Person) -> None:
    await _call(
        p,
        who,
        "calendar.create",
        {"title": "Standup", "start": "2026-03-11T09:00:00", "end": "2026-03-11T09:15:00"},
    )
    out = await _call(p, who, "calendar.list", {})
    assert out["from"] == "2026-03-10" and out["to"] == "2026-03-16"
    assert [e["title"] for e in out["items"]] == ["Standup"]


@scenario("calendar.update")
async def _calendar_update(p: Product, who: Person) -> None:
    event = await _call(
        p,
        who,
        "calendar.create",
        {"title": "Lunch", "start": "2026-03-11T12:00:00Z", "end": "2026-03-11T13:00:00Z"},
    )
    out = await _call(
        p,
        who,
        "calendar.update",
        {"id": event["id"], "start": "2026-03-11T12:30:00Z", "end": "2026-03-11T13:30:00Z"},
    )
    assert out["start"] == "2026-03-11T12:30:00Z" and out["title"] == "Lunch"


@scenario("calendar.get")
async def _calendar_get(p: Product, who: Person) -> None:
    event = await _call(
        p,
        who,
        "calendar.create",
        {"title": "Gym", "start": "2026-03-11T18:00:00Z", "end": "2026-03-11T19:00:00Z"},
    )
    assert await _call(p, who, "calendar.get", {"id": event["id"]}) == event


@scenario("contacts.create")
async def _contacts_create(p: Product, who: Person) -> None:
    out = await _call(
        p,
        who,
        "contacts.create",
        {"name": "Ana Lima", "email": "Ana@Example.com", "phone": "+49 30 1234567"},
    )
    assert out["name"] == "Ana Lima" and out["email"] == "ana@example.com"
    assert out["phone"] == "+49 30 1234567" and out["note"] is None


@scenario("contacts.search")
async def _contacts_search(p: Product, who: Person) -> None:
    await _call(p, who, "contacts.create", {"name": "Jonas Weber", "note": "neighbour"})
    await _call(p, who, "contacts.create", {"name": "Mia"})
    out = await _call(p, who, "contacts.search", {"query": "NEIGH"})
    assert [c["name"] for c in out["items"]] == ["Jonas Weber"]


@scenario("contacts.update")
async def _contacts_update(p: Product, who: Person) -> None:
    contact = await _call(p, who, "contacts.create", {"name": "Kai", "phone": "0301234"})
    out = await _call(
        p, who, "contacts.update", {"id": contact["id"], "phone": None, "note": "colleague"}
    )
    assert out["phone"] is None and out["note"] == "colleague" and out["name"] == "Kai"


@scenario("contacts.list")
async def _contacts_list(p: Product, who: Person) -> None:
    for name in ("zoe", "Ben", "Ämy"):
        await _call(p, who, "contacts.create", {"name": name})
    out = await _call(p, who, "contacts.list", {})
    assert [c["name"] for c in out["items"]] == ["Ämy", "Ben", "zoe"]


@scenario("contacts.get")
async def _contacts_get(p: Product, who: Person) -> None:
    contact = await _call(p, who, "contacts.create", {"name": "Doris"})
    assert await _call(p, who, "contacts.get", {"id": contact["id"]}) == contact


@scenario("spaces.list")
async def _spaces_list(p: Product, who: Person) -> None:
    newcomer = await p.person("Newcomer")  # just signed up: only the personal space
    out = await _call(p, newcomer, "spaces.list", {})
    assert out["activeSpaceId"] == str(newcomer.space_id)
    [space] = out["items"]
    assert space["id"] == str(newcomer.space_id) and space["type"] == "personal"
    assert space["name"] == "Newcomer" and space["role"] == "owner" and space["active"] is True


def test_every_exposed_tool_has_a_scenario() -> None:
    missing = set(exposed_tools()) - set(SCENARIOS)
    assert not missing, f"exposed tools without a scenario here: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_exposed_tool_answers_a_valid_call(
    name: str, product: Product, alice: Person
) -> None:
    assert name in exposed_tools()
    await SCENARIOS[name](product, alice)
