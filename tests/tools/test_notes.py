"""Notes: tags, excerpts, search without case or accents, last edited first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


async def test_tags_are_normalised_deduplicated_and_filterable(
    product: Product, alice: Person
) -> None:
    note = await product.call(
        "notes.create",
        {"title": "Soup", "tags": ["#Rezepte", "rezepte", "Winter-Küche", "quick_meals"]},
        user=alice,
    )
    assert note["tags"] == ["rezepte", "winter-küche", "quick_meals"]
    await product.call("notes.create", {"title": "Untagged"}, user=alice)
    for tag in ("Rezepte", "winter-küche"):
        page = await product.call("notes.list", {"tag": tag}, user=alice)
        assert [n["title"] for n in page["items"]] == ["Soup"]
    # A tag filter matches whole tags only, and "_" in a tag is a letter, not a wildcard.
    assert (await product.call("notes.list", {"tag": "rezept"}, user=alice))["items"] == []
    assert (await product.call("notes.list", {"tag": "quickxmeals"}, user=alice))["items"] == []
    await product.call("notes.create", {"title": "Stew", "tags": ["quickXmeals"]}, user=alice)
    page = await product.call("notes.list", {"tag": "quick_meals"}, user=alice)
    assert [n["title"] for n in page["items"]] == ["Soup"]


async def test_search_ignores_case_and_accents_in_title_and_body(
    product: Product, alice: Person
) -> None:
    await product.call("notes.create", {"title": "Besuch bei Müller", "body": "—"}, user=alice)
    await product.call("notes.create", {"title": "Plan", "body": "ÜBER den Fluss"}, user=alice)
    await product.call("notes.create", {"title": "Other", "body": "nothing"}, user=alice)

    async def found(query: str) -> list[str]:
        page = await product.call("notes.search", {"query": query}, user=alice)
        return sorted(n["title"] for n in page["items"])

    assert await found("müller") == ["Besuch bei Müller"]
    assert await found("MULLER") == ["Besuch bei Müller"]
    assert await found("über") == ["Plan"]
    assert await found("xyz") == []
    tagged = await product.call("notes.search", {"query": "e", "tag": "none"}, user=alice)
    assert tagged["items"] == []


async def test_lists_show_an_excerpt_and_get_shows_the_full_body(
    product: Product, alice: Person
) -> None:
    body = "word " * 100
    note = await product.call("notes.create", {"title": "Long", "body": body}, user=alice)
    [summary] = (await product.call("notes.list", {}, user=alice))["items"]
    assert summary["excerpt"] == body.strip()[:280] + "…"
    assert "body" not in summary
    assert (await product.call("notes.get", {"id": note["id"]}, user=alice))["body"] == body.strip()


async def test_editing_a_note_moves_it_to_the_top(product: Product, alice: Person) -> None:
    old = await product.call("notes.create", {"title": "Old"}, user=alice, now=NOW)
    await product.call("notes.create", {"title": "New"}, user=alice, now=NOW + timedelta(minutes=1))
    await product.call(
        "notes.update",
        {"id": old["id"], "body": "edited"},
        user=alice,
        now=NOW + timedelta(minutes=2),
    )
    page = await product.call("notes.list", {}, user=alice)
    assert [n["title"] for n in page["items"]] == ["Old", "New"]
    hits = await product.call("notes.search", {"query": "EDITED"}, user=alice)
    assert [n["title"] for n in hits["items"]] == ["Old"]
