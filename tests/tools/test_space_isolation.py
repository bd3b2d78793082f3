"""Data written in one space is invisible from every other space — including another space of
the same user — and shared by the members of the space it was written in."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mana.tools.registry import ToolError
from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio

EVENT = {"title": "Dinner", "start": "2026-03-10T18:00:00Z", "end": "2026-03-10T20:00:00Z"}
IN_MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


async def _write_everything(product: Product, who: Person, space: uuid.UUID) -> dict[str, str]:
    """One row per module in `space`; returns the ids by tool that reads them."""

    async def call(tool: str, args: dict[str, Any]) -> dict[str, Any]:
        return await product.call(tool, args, user=who, space_id=space)

    habit = await call("habits.create", {"name": "Secret habit"})
    await call("habits.log", {"habitId": habit["id"]})
    await call("mood.log", {"score": 3, "note": "secret"})
    return {
        "todo": (await call("todo.create", {"title": "Secret todo"}))["id"],
        "journal": (await call("journal.add", {"body": "Secret entry"}))["id"],
        "notes": (await call("notes.create", {"title": "Secret note", "tags": ["secret"]}))["id"],
        "calendar": (await call("calendar.create", {**EVENT, "title": "Secret dinner"}))["id"],
        "contacts": (await call("contacts.create", {"name": "Secret contact"}))["id"],
        "habits": habit["id"],
    }


async def _assert_sees_nothing(
    product: Product, who: Person, space: uuid.UUID, ids: dict[str, str]
) -> None:
    async def call(tool: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        return await product.call(tool, args or {}, user=who, space_id=space)

    assert (await call("todo.list", {"status": "all"}))["items"] == []
    assert (await call("todo.list", {"search": "secret", "status": "all"}))["items"] == []
    assert (await call("journal.list"))["items"] == []
    assert (await call("notes.list"))["items"] == []
    assert (await call("notes.list", {"tag": "secret"}))["items"] == []
    assert (await call("notes.search", {"query": "secret"}))["items"] == []
    assert (await call("habits.list"))["items"] == []
    assert (await call("habits.recent", {"days": 90}))["habits"] == []
    assert (await call("mood.recent", {"who": "everyone"}))["count"] == 0
    assert (await call("calendar.list", IN_MARCH))["items"] == []
    assert (await call("contacts.list"))["items"] == []
    assert (await call("contacts.search", {"query": "secret"}))["items"] == []

    by_id: list[tuple[str, dict[str, Any]]] = [
        ("todo.complete", {"id": ids["todo"]}),
        ("todo.update", {"id": ids["todo"], "title": "hijacked"}),
        ("todo.delete", {"id": ids["todo"]}),
        ("journal.get", {"id": ids["journal"]}),
        ("journal.update", {"id": ids["journal"], "body": "hijacked"}),
        ("notes.get", {"id": ids["notes"]}),
        ("notes.update", {"id": ids["notes"], "title": "hijacked"}),
        ("calendar.get", {"id": ids["calendar"]}),
        ("calendar.update", {"id": ids["calendar"], "title": "hijacked"}),
        ("contacts.get", {"id": ids["contacts"]}),
        ("contacts.update", {"id": ids["contacts"], "name": "hijacked"}),
        ("habits.log", {"habitId": ids["habits"], "date": "2026-01-01"}),
        ("habits.recent", {"habitId": ids["habits"]}),
    ]
    for tool, args in by_id:
        with pytest.raises(ToolError, match="not found in this space"):
            await call(tool, args)
    stats = await call("admin.stats")
    assert stats["total"] == 0


async def test_personal_spaces_from_sign_up_are_isolated_too(product: Product) -> None:
    ana, ben = await product.person("Ana"), await product.person("Ben")
    ids = await _write_everything(product, ana, ana.space_id)
    await _assert_sees_nothing(product, ben, ben.space_id, ids)


async def test_another_users_space_sees_nothing_and_can_touch_nothing(
    product: Product, alice: Person, bob: Person
) -> None:
    ids = await _write_everything(product, alice, alice.space_id)
    await _assert_sees_nothing(product, bob, bob.space_id, ids)
    # Nothing was changed by the attempts: alice still sees her rows as written.
    todo = (await product.call("todo.list", {}, user=alice))["items"]
    assert [(t["title"], t["done"]) for t in todo] == [("Secret todo", False)]
    stats = await product.call("admin.stats", {}, user=alice)
    assert stats["rows"] == {
        "contacts": 1,
        "events": 1,
        "habit_logs": 1,
        "habits": 1,
        "journal_entries": 1,
        "mood_entries": 1,
        "notes": 1,
        "todos": 1,
    }


async def test_the_same_users_other_space_sees_nothing(product: Product, alice: Person) -> None:
    team = await product.shared_space(alice, name="Side project", type="team")
    ids = await _write_everything(product, alice, alice.space_id)
    await _assert_sees_nothing(product, alice, team, ids)


async def test_members_of_a_shared_space_see_each_others_rows(
    product: Product, alice: Person, bob: Person
) -> None:
    family = await product.shared_space(alice, bob, name="Family", type="family")
    await product.call("todo.create", {"title": "Buy a gift"}, user=alice, space_id=family)
    await product.call("calendar.create", EVENT, user=alice, space_id=family)
    await product.call("mood.log", {"score": 8}, user=alice, space_id=family)

    todos = await product.call("todo.list", {}, user=bob, space_id=family)
    assert [t["title"] for t in todos["items"]] == ["Buy a gift"]
    events = await product.call("calendar.list", IN_MARCH, user=bob, space_id=family)
    assert [e["title"] for e in events["items"]] == ["Dinner"]
    # Mood is personal by default even in a shared space; who=everyone shows the family's.
    assert (await product.call("mood.recent", {}, user=bob, space_id=family))["count"] == 0
    everyone = await product.call("mood.recent", {"who": "everyone"}, user=bob, space_id=family)
    assert everyone["count"] == 1
    assert everyone["entries"][0]["createdBy"] == str(alice.user_id)
    # ...and none of it leaks into bob's personal space.
    assert (await product.call("todo.list", {}, user=bob))["items"] == []


async def test_spaces_list_shows_only_the_callers_spaces_and_marks_the_active_one(
    product: Product,
) -> None:
    alice, bob = await product.person("Alice"), await product.person("Bob")
    family = await product.shared_space(alice, bob, name="Familie Weber", type="family")
    await product.shared_space(bob, name="Bob's club", type="club")

    out = await product.call("spaces.list", {}, user=alice, space_id=family)
    assert out["activeSpaceId"] == str(family)
    assert [(s["name"], s["type"], s["role"], s["active"]) for s in out["items"]] == [
        ("Alice", "personal", "owner", False),
        ("Familie Weber", "family", "owner", True),
    ]
    out = await product.call("spaces.list", {}, user=bob)
    assert [(s["type"], s["role"], s["active"]) for s in out["items"]] == [
        ("personal", "owner", True),
        ("family", "member", False),
        ("club", "owner", False),
    ]
