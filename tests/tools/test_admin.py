"""The operator tool counts the rows of the active space, and nothing of other spaces."""

from __future__ import annotations

import pytest

from tests.tools.conftest import Person, Product

pytestmark = pytest.mark.anyio


async def test_admin_stats_counts_rows_per_table_of_the_active_space(
    product: Product, alice: Person, bob: Person
) -> None:
    for title in ("a", "b"):
        await product.call("todo.create", {"title": title}, user=alice)
    await product.call("notes.create", {"title": "n"}, user=alice)
    await product.call("todo.create", {"title": "bob's"}, user=bob)

    out = await product.call("admin.stats", {}, user=alice)
    assert out["spaceId"] == str(alice.space_id)
    assert out["rows"]["todos"] == 2 and out["rows"]["notes"] == 1
    assert out["rows"]["contacts"] == 0 and out["total"] == 3
