"""A persona's memory (its story) and observations through the internal and admin APIs:
written per tick and idempotent, bounded, visible to admins, reset by forget, deleted with the
persona."""

from __future__ import annotations

import uuid
from typing import Any

from tests.fixtures.database import Db
from tests.fixtures.personas import PersonaApi, sql_id

from mana.personas.contract import MAX_ITEMS

INTERNAL = "/api/v1/internal/personas"
ADMIN = "/api/v1/admin/personas"


def story(*labels: str, known_since: str = "2026-12-01T08:00:00+00:00") -> dict[str, Any]:
    return {
        "knownSince": known_since,
        "items": [
            {
                "module": "todo",
                "itemId": f"item-{label}",
                "label": label,
                "tool": "todo.create",
                "expect": {"title": label, "done": False},
                "touchedAt": "2026-12-01T09:00:00+00:00",
            }
            for label in labels
        ],
        "days": [{"day": "2026-12-01", "text": "todo: 1 create"}],
    }


def write(
    personas: PersonaApi, persona_id: str, tick_id: str, body: dict[str, Any], base: str | None
) -> Any:
    with personas.internal() as client:
        return client.put(
            f"{INTERNAL}/{persona_id}/memory",
            json={"tickId": tick_id, "baseTickId": base, "story": body},
        )


def read(personas: PersonaApi, persona_id: str) -> dict[str, Any]:
    with personas.internal() as client:
        response = client.get(f"{INTERNAL}/{persona_id}/memory")
    assert response.status_code == 200, response.text
    return dict(response.json())


def observation(tick_id: str, seq: int, **overrides: Any) -> dict[str, Any]:
    row = {
        "tickId": tick_id,
        "seq": seq,
        "kind": "not_applied",
        "module": "todo",
        "toolName": "todo.list",
        "actionSeq": 3,
        "itemId": "item-milk",
        "evidence": "todo 'Buy milk' was left done=True (todo.complete) but todo.list shows False",
    }
    row.update(overrides)
    return row


def test_a_persona_starts_with_an_empty_story_and_reads_back_what_a_tick_wrote(
    personas: PersonaApi,
) -> None:
    persona_id = personas.create()
    assert read(personas, persona_id)["story"] == {"knownSince": None, "items": [], "days": []}
    tick = personas.start_tick(persona_id)

    first = write(personas, persona_id, tick, story("Buy milk"), None)

    assert first.status_code == 200, first.text
    assert first.json()["changed"] is True
    stored = read(personas, persona_id)
    assert stored["tickId"] == tick
    assert stored["story"]["items"][0]["itemId"] == "item-Buy milk"
    assert stored["story"]["items"][0]["expect"] == {"title": "Buy milk", "done": False}


def test_a_retried_memory_write_changes_nothing_and_a_different_one_is_refused(
    personas: PersonaApi,
) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    assert write(personas, persona_id, tick, story("a"), None).status_code == 200

    again = write(personas, persona_id, tick, story("a"), None)
    different = write(personas, persona_id, tick, story("b"), None)

    assert again.status_code == 200 and again.json()["changed"] is False
    assert different.status_code == 409
    assert "different story" in different.json()["message"]
    assert read(personas, persona_id)["story"]["items"][0]["label"] == "a"


def test_a_story_continuing_an_older_version_cannot_overwrite_a_newer_one(
    personas: PersonaApi,
) -> None:
    persona_id = personas.create()
    first, second, stale = (personas.start_tick(persona_id) for _ in range(3))
    assert write(personas, persona_id, first, story("one"), None).status_code == 200
    assert write(personas, persona_id, second, story("two"), first).status_code == 200

    refused = write(personas, persona_id, stale, story("stale"), first)

    assert refused.status_code == 409
    assert refused.json()["details"][0]["field"] == "baseTickId"
    assert read(personas, persona_id)["tickId"] == second


def test_the_story_is_bounded_and_a_tick_of_another_persona_is_refused(
    personas: PersonaApi,
) -> None:
    persona_id = personas.create()
    other_tick = personas.start_tick(personas.create())
    tick = personas.start_tick(persona_id)
    too_many = story(*(str(i) for i in range(MAX_ITEMS + 1)))

    over = write(personas, persona_id, tick, too_many, None)
    foreign = write(personas, persona_id, other_tick, story("x"), None)

    assert over.status_code == 422
    assert "items" in over.text
    assert foreign.status_code == 404
    assert read(personas, persona_id)["tickId"] is None


def test_observations_are_idempotent_per_tick_and_seq(personas: PersonaApi, db: Db) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    batch = [observation(tick, 0), observation(tick, 1, kind="slow", evidence="took 1500 ms")]
    with personas.internal() as client:
        first = client.post(f"{INTERNAL}/{persona_id}/observations", json={"observations": batch})
        again = client.post(f"{INTERNAL}/{persona_id}/observations", json={"observations": batch})
        changed = client.post(
            f"{INTERNAL}/{persona_id}/observations",
            json={"observations": [observation(tick, 0, evidence="something else")]},
        )
        bad_kind = client.post(
            f"{INTERNAL}/{persona_id}/observations",
            json={"observations": [observation(tick, 5, kind="grumpy")]},
        )

    assert first.json() == {"ok": True, "inserted": 2, "duplicates": 0}
    assert again.json() == {"ok": True, "inserted": 0, "duplicates": 2}
    assert changed.status_code == 409
    assert bad_kind.status_code == 422 and "kind" in bad_kind.text
    count = db.scalar(
        "SELECT count(*) FROM auth.persona_observations WHERE persona_id = :p",
        p=sql_id(db, persona_id),
    )
    assert count == 2


def test_admins_see_the_story_and_recent_observations_and_can_make_a_persona_forget(
    personas: PersonaApi,
) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    assert write(personas, persona_id, tick, story("Buy milk"), None).status_code == 200
    with personas.internal() as client:
        client.post(
            f"{INTERNAL}/{persona_id}/observations", json={"observations": [observation(tick, 0)]}
        ).raise_for_status()

    detail = personas.detail(persona_id)
    with personas.admin() as admin:
        forgotten = admin.delete(f"{ADMIN}/{persona_id}/memory")
        after = admin.get(f"{ADMIN}/{persona_id}/memory").json()
        unknown = admin.delete(f"{ADMIN}/{uuid.uuid4()}/memory")

    assert detail["story"]["items"][0]["label"] == "Buy milk"
    assert detail["recentObservations"][0]["kind"] == "not_applied"
    assert detail["recentObservations"][0]["actionSeq"] == 3
    assert forgotten.json() == {"ok": True, "personaId": persona_id, "forgotten": True}
    assert after["story"]["items"] == [] and after["tickId"] is None
    assert len(after["recentObservations"]) == 1  # the record of what happened stays
    assert unknown.status_code == 404


def test_memory_and_observations_are_deleted_with_the_persona(personas: PersonaApi, db: Db) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    assert write(personas, persona_id, tick, story("x"), None).status_code == 200
    with personas.internal() as client:
        client.post(
            f"{INTERNAL}/{persona_id}/observations", json={"observations": [observation(tick, 0)]}
        ).raise_for_status()

    with personas.admin() as admin:
        assert admin.delete(f"{ADMIN}/{persona_id}").status_code == 200

    pid = sql_id(db, persona_id)
    assert db.scalar("SELECT count(*) FROM auth.persona_memory WHERE persona_id = :p", p=pid) == 0
    assert (
        db.scalar("SELECT count(*) FROM auth.persona_observations WHERE persona_id = :p", p=pid)
        == 0
    )
