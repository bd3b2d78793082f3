"""Contacts: alphabetical without case or accents, search over every field and phone digits."""

from __future__ import annotations

import pytest

from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio


async def test_search_matches_name_email_phone_and_note(product: Product, alice: Person) -> None:
    await product.call(
        "contacts.create",
        {"name": "Jörg Albers", "email": "joerg@albers.test", "phone": "(030) 123-4567"},
        user=alice,
    )
    await product.call("contacts.create", {"name": "Priya", "note": "met at PyCon"}, user=alice)

    async def found(query: str) -> list[str]:
        page = await product.call("contacts.search", {"query": query}, user=alice)
        return [c["name"] for c in page["items"]]

    assert await found("jorg") == ["Jörg Albers"]
    assert await found("ALBERS.TEST") == ["Jörg Albers"]
    assert await found("123-4567") == ["Jörg Albers"]
    assert await found("030 1234567") == ["Jörg Albers"]  # by the digits alone
    assert await found("pycon") == ["Priya"]
    assert await found("nobody") == []


async def test_update_changes_only_the_given_fields_and_reindexes(
    product: Product, alice: Person
) -> None:
    contact = await product.call(
        "contacts.create", {"name": "Sofia", "email": "sofia@example.com"}, user=alice
    )
    out = await product.call(
        "contacts.update", {"id": contact["id"], "name": "Sofia Rossi", "email": None}, user=alice
    )
    assert (out["name"], out["email"]) == ("Sofia Rossi", None)
    assert [
        c["id"]
        for c in (await product.call("contacts.search", {"query": "rossi"}, user=alice))["items"]
    ] == [contact["id"]]
    assert (await product.call("contacts.search", {"query": "example"}, user=alice))["items"] == []
    # The email is free again for another contact.
    await product.call(
        "contacts.create", {"name": "Other", "email": "sofia@example.com"}, user=alice
    )
