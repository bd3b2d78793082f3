"""The list page is serialised once and appears under `personas` and `items`: its bytes are
exactly those of the `PersonaList` model the route declares."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from mana.personas.admin_routes import page_response
from mana.personas.contract import PersonaList, PersonaListItem


def item(n: int, **overrides: object) -> PersonaListItem:
    values: dict[str, object] = {
        "user_id": uuid.uuid4(),
        "email": f"p{n}@mana.test",
        "name": f'Zoë "{n}" </script>',
        "archetype": "solo-dev",
        "tick_cadence": "daily",
        "last_active_at": datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC),
        "created_at": datetime(2026, 11, 30, tzinfo=UTC),
        "actions_7d": n * 7,
        "avg_rating_7d": 10 / 3,
    }
    values.update(overrides)
    return PersonaListItem.model_validate(values)


@pytest.mark.parametrize("cursor", [None, "eyJlbWFpbCI6InBAbWFuYS50ZXN0In0"])
@pytest.mark.parametrize("size", [0, 1, 3])
def test_page_bytes_equal_the_declared_model(size: int, cursor: str | None) -> None:
    items = [
        item(n, **({"name": None, "avg_rating_7d": None} if n == 1 else {})) for n in range(size)
    ]

    body = page_response(items, cursor).body

    assert (
        body
        == PersonaList(personas=items, items=items, next_cursor=cursor)
        .model_dump_json(by_alias=True)
        .encode()
    )
