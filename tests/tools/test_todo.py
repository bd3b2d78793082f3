"""Todo: filters, idempotent completion, search that ignores case and accents, deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mana.tools.registry import ToolError
from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


async def test_list_filters_by_status_due_date_and_text(product: Product, alice: Person) -> None:
    async def create(title: str, **extra: str) -> str:
        todo = await product.call("todo.create", {"title": title, **extra}, user=alice, now=NOW)
        return str(todo["id"])

    await create("Steuererklärung abgeben", due="2026-03-31")
    paid = await create("Pay rent", due="2026-03-01")
    await create("Someday: learn Go")
    await product.call("todo.complete", {"id": paid}, user=alice, now=NOW)

    async def titles(**args: str) -> list[str]:
        page = await product.call("todo.list", args, user=alice)
        return sorted(t["title"] for t in page["items"])

    assert await titles() == ["Someday: learn Go", "Steuererklärung abgeben"]
    assert await titles(status="done") == ["Pay rent"]
    assert await titles(status="all", dueBefore="2026-03-15") == ["Pay rent"]
    assert await titles(search="STEUERERKLARUNG") == ["Steuererklärung abgeben"]
    assert await titles(search="erklär") == ["Steuererklärung abgeben"]
    assert await titles(search="") == await titles()  # an empty search is no filter


async def test_completing_twice_keeps_the_first_completion_time(
    product: Product, alice: Person
) -> None:
    todo = await product.call("todo.create", {"title": "Once"}, user=alice)
    first = await product.call("todo.complete", {"id": todo["id"]}, user=alice, now=NOW)
    again = await product.call(
        "todo.complete", {"id": todo["id"]}, user=alice, now=NOW + timedelta(hours=1)
    )
    assert again["completedAt"] == first["completedAt"] == "2026-03-10T09:30:00Z"


async def test_search_treats_percent_and_underscore_literally(
    product: Product, alice: Person
) -> None:
    await product.call("todo.create", {"title": "Save 100% of it"}, user=alice)
    await product.call("todo.create", {"title": "Save 1000 of it"}, user=alice)
    await product.call("todo.create", {"title": "snake_case"}, user=alice)
    await product.call("todo.create", {"title": "snakeXcase"}, user=alice)
    hits = await product.call("todo.list", {"search": "100%"}, user=alice)
    assert [t["title"] for t in hits["items"]] == ["Save 100% of it"]
    hits = await product.call("todo.list", {"search": "e_c"}, user=alice)
    assert [t["title"] for t in hits["items"]] == ["snake_case"]


async def test_update_changes_only_the_given_fields_and_stays_searchable(
    product: Product, alice: Person
) -> None:
    todo = await product.call(
        "todo.create", {"title": "Old", "notes": "keep", "priority": "low"}, user=alice
    )
    out = await product.call("todo.update", {"id": todo["id"], "title": "Renamed"}, user=alice)
    assert (out["title"], out["notes"], out["priority"]) == ("Renamed", "keep", "low")
    hits = await product.call("todo.list", {"search": "renamed"}, user=alice)
    assert [t["id"] for t in hits["items"]] == [todo["id"]]
    assert (await product.call("todo.list", {"search": "old"}, user=alice))["items"] == []


async def test_delete_is_destructive_and_removes_the_todo(product: Product, alice: Person) -> None:
    todo = await product.call("todo.create", {"title": "Temporary"}, user=alice)
    deleted = await product.call("todo.delete", {"id": todo["id"]}, user=alice)
    assert deleted["id"] == todo["id"]
    assert (await product.call("todo.list", {"status": "all"}, user=alice))["items"] == []
    with pytest.raises(ToolError, match="not found"):
        await product.call("todo.complete", {"id": todo["id"]}, user=alice)
