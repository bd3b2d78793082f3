"""Tick start/finish and the batched audit rows: idempotent retries, all-or-nothing batches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.fixtures.database import Db
from tests.fixtures.personas import PersonaApi, action, app_now, input_hash, sql_id

INTERNAL = "/api/v1/internal/personas"


def _action_count(db: Db, persona_id: str) -> int:
    return int(
        db.scalar(
            "SELECT count(*) FROM auth.persona_actions WHERE persona_id=:p",
            p=sql_id(db, persona_id),
        )
    )


def _feedback_count(db: Db, persona_id: str) -> int:
    return int(
        db.scalar(
            "SELECT count(*) FROM auth.persona_feedback WHERE persona_id=:p",
            p=sql_id(db, persona_id),
        )
    )


# --- ticks ---------------------------------------------------------------------------------


def test_tick_start_with_a_client_tick_id_is_idempotent(personas: PersonaApi, db: Db) -> None:
    persona_id = personas.create()
    tick_id = str(uuid.uuid4())
    body = {"tickId": tick_id, "runnerId": "r1", "brain": "scripted"}
    with personas.internal() as client:
        first = client.post(f"{INTERNAL}/{persona_id}/ticks", json=body)
        again = client.post(f"{INTERNAL}/{persona_id}/ticks", json=body)
        other_runner = client.post(
            f"{INTERNAL}/{persona_id}/ticks", json={**body, "runnerId": "r2"}
        )

    assert first.status_code == 201, first.text
    assert again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["tickId"] == tick_id and first.json()["status"] == "running"
    assert other_runner.status_code == 409
    assert (
        db.scalar("SELECT count(*) FROM auth.persona_ticks WHERE id=:t", t=sql_id(db, tick_id)) == 1
    )


def test_tick_start_refuses_unknown_personas_foreign_ticks_and_foreign_spaces(
    personas: PersonaApi, auth: Any
) -> None:
    persona_id = personas.create()
    other_id = personas.create()
    foreign_tick = personas.start_tick(other_id)
    _, human_token = auth.user_token()
    with auth.client(human_token) as human:
        human_space = human.get("/api/v1/spaces").json()[0]["id"]
    own_space = personas.claim("r", email=personas.detail(persona_id)["persona"]["email"])[0][
        "spaces"
    ][0]["id"]
    base = {"runnerId": "r", "brain": "scripted"}
    with personas.internal() as client:
        unknown = client.post(f"{INTERNAL}/{uuid.uuid4()}/ticks", json=base)
        reused = client.post(
            f"{INTERNAL}/{persona_id}/ticks", json={**base, "tickId": foreign_tick}
        )
        foreign_space = client.post(
            f"{INTERNAL}/{persona_id}/ticks", json={**base, "spaceId": human_space}
        )
        in_own_space = client.post(
            f"{INTERNAL}/{persona_id}/ticks", json={**base, "spaceId": own_space}
        )

    assert unknown.status_code == 404
    assert reused.status_code == 409
    assert foreign_space.status_code == 404
    assert in_own_space.status_code == 201, in_own_space.text


def test_finishing_a_tick_marks_the_persona_active_and_releases_its_lease(
    personas: PersonaApi, auth: Any
) -> None:
    persona_id = personas.create()
    email = personas.detail(persona_id)["persona"]["email"]
    [claimed] = personas.claim("runner-f", email=email)
    assert claimed["leasedBy"] == "runner-f"
    tick = personas.start_tick(persona_id, runner_id="runner-f")
    finish = {
        "status": "ok",
        "toolCalls": 7,
        "errors": 1,
        "summary": "planned the week",
        "usage": {"tokens": 1234, "cost": 0.0123},
    }

    first = personas.finish_tick(persona_id, tick, **finish)
    again = personas.finish_tick(persona_id, tick, **finish)
    different = personas.finish_tick(persona_id, tick, **{**finish, "toolCalls": 8})

    assert first.status_code == 200, first.text
    assert first.json()["status"] == "ok" and first.json()["finishedAt"] is not None
    assert again.status_code == 200 and again.json() == first.json()
    assert different.status_code == 409
    assert "toolCalls" in {d["field"] for d in different.json()["details"]}
    persona = personas.detail(persona_id)["persona"]
    assert persona["leasedUntil"] is None and persona["leasedBy"] is None
    assert persona["lastActiveAt"] is not None
    last_active = datetime.fromisoformat(persona["lastActiveAt"])
    assert abs(last_active - app_now(auth)) < timedelta(seconds=30)
    [stored] = personas.detail(persona_id)["recentTicks"]
    assert stored["toolCalls"] == 7 and stored["errors"] == 1
    assert stored["usage"] == {"tokens": 1234, "cost": 0.0123}
    assert stored["summary"] == "planned the week"


def test_a_late_finish_does_not_release_another_runners_lease(personas: PersonaApi) -> None:
    persona_id = personas.create()
    email = personas.detail(persona_id)["persona"]["email"]
    tick = personas.start_tick(persona_id, runner_id="slow-runner")
    personas.claim("new-owner", email=email)

    assert personas.finish_tick(persona_id, tick).status_code == 200

    persona = personas.detail(persona_id)["persona"]
    assert persona["leasedBy"] == "new-owner"
    assert persona["lastActiveAt"] is not None


def test_finish_of_an_unknown_or_foreign_tick_is_404(personas: PersonaApi) -> None:
    persona_id = personas.create()
    other_id = personas.create()
    foreign_tick = personas.start_tick(other_id)
    assert personas.finish_tick(persona_id, str(uuid.uuid4())).status_code == 404
    assert personas.finish_tick(persona_id, foreign_tick).status_code == 404
    bad = personas.finish_tick(persona_id, foreign_tick, status="running")
    assert bad.status_code == 422
    assert bad.json()["details"][0]["field"] == "status"


# --- actions -------------------------------------------------------------------------------


def test_a_retried_action_batch_adds_nothing(personas: PersonaApi, db: Db) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    batch = [action(tick, seq) for seq in range(3)]

    first = personas.post_actions(persona_id, batch)
    retry = personas.post_actions(persona_id, batch)
    grown = personas.post_actions(persona_id, [*batch, action(tick, 3)])

    assert first.json() == {"ok": True, "inserted": 3, "duplicates": 0}
    assert retry.json() == {"ok": True, "inserted": 0, "duplicates": 3}
    assert grown.json() == {"ok": True, "inserted": 1, "duplicates": 3}
    assert _action_count(db, persona_id) == 4


def test_a_full_batch_of_500_actions_is_stored_in_one_request(personas: PersonaApi, db: Db) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    response = personas.post_actions(persona_id, [action(tick, seq) for seq in range(500)])
    assert response.json() == {"ok": True, "inserted": 500, "duplicates": 0}
    assert _action_count(db, persona_id) == 500
    too_many = personas.post_actions(persona_id, [action(tick, seq) for seq in range(501)])
    assert too_many.status_code == 422
    assert too_many.json()["details"][0]["field"] == "actions"


def test_bad_action_rows_are_422_naming_index_and_field_and_nothing_is_written(
    personas: PersonaApi, db: Db
) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    batch = [
        action(tick, 0),
        action(tick, -1),
        action(tick, 2, inputHash="xyz"),
        action(tick, 3, result="maybe", latencyMs=-5),
        action(tick, 4, toolName="nul\x00"),
        action(tick, 5, createdAt="2026-01-01T00:00:00"),  # no timezone
    ]

    response = personas.post_actions(persona_id, batch)

    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["details"]}
    assert fields == {
        "actions[1].seq",
        "actions[2].inputHash",
        "actions[3].result",
        "actions[3].latencyMs",
        "actions[4].toolName",
        "actions[5].createdAt",
    }
    assert _action_count(db, persona_id) == 0


def test_the_same_key_twice_in_one_batch_is_422(personas: PersonaApi, db: Db) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    response = personas.post_actions(
        persona_id, [action(tick, 0), action(tick, 1), action(tick, 0)]
    )
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == ["actions[2].seq"]
    assert _action_count(db, persona_id) == 0


def test_a_retry_with_different_content_is_409_and_nothing_of_its_batch_is_written(
    personas: PersonaApi, db: Db
) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    stamp = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    stored = [action(tick, 0), action(tick, 1, createdAt=stamp.isoformat())]
    assert personas.post_actions(persona_id, stored).json()["inserted"] == 2

    changed = personas.post_actions(
        persona_id, [action(tick, 0, toolName="todo.delete"), action(tick, 2)]
    )
    restamped = personas.post_actions(
        persona_id,
        [action(tick, 1, createdAt=(stamp + timedelta(seconds=1)).isoformat())],
    )
    same_instant = personas.post_actions(
        persona_id,
        [action(tick, 1, createdAt=stamp.astimezone().isoformat())],  # another UTC offset
    )

    assert changed.status_code == 409
    assert changed.json()["details"] == [
        {"field": "actions[0]", "message": "differs from the stored row in tool_name"}
    ]
    assert restamped.status_code == 409
    assert same_instant.json() == {"ok": True, "inserted": 0, "duplicates": 1}
    assert _action_count(db, persona_id) == 2  # seq 2 was not written


def test_actions_for_an_unknown_persona_or_a_foreign_tick_are_404(
    personas: PersonaApi, db: Db
) -> None:
    persona_id = personas.create()
    other_id = personas.create()
    own_tick = personas.start_tick(persona_id)
    foreign_tick = personas.start_tick(other_id)

    unknown = personas.post_actions(str(uuid.uuid4()), [action(own_tick, 0)])
    foreign = personas.post_actions(
        persona_id, [action(own_tick, 0), action(foreign_tick, 1), action(str(uuid.uuid4()), 2)]
    )

    assert unknown.status_code == 404
    assert foreign.status_code == 404
    assert [d["field"] for d in foreign.json()["details"]] == [
        "actions[1].tickId",
        "actions[2].tickId",
    ]
    assert _action_count(db, persona_id) == 0


def test_an_empty_action_batch_is_accepted(personas: PersonaApi) -> None:
    persona_id = personas.create()
    assert personas.post_actions(persona_id, []).json() == {
        "ok": True,
        "inserted": 0,
        "duplicates": 0,
    }


def test_stored_actions_keep_what_the_runner_sent(personas: PersonaApi) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    row = action(
        tick,
        0,
        toolName="journal.write",
        inputHash=input_hash("x").upper(),
        result="error",
        errorMessage="space not found",
        latencyMs=321,
        createdAt="2026-03-04T05:06:07.123456+02:00",
    )
    assert personas.post_actions(persona_id, [row]).status_code == 200

    [stored] = personas.detail(persona_id)["recentActions"]

    assert stored["toolName"] == "journal.write"
    assert stored["inputHash"] == input_hash("x")  # normalised to lower case
    assert (stored["result"], stored["errorMessage"], stored["latencyMs"]) == (
        "error",
        "space not found",
        321,
    )
    assert datetime.fromisoformat(stored["createdAt"]) == datetime(
        2026, 3, 4, 3, 6, 7, 123456, tzinfo=UTC
    )


# --- feedback ------------------------------------------------------------------------------


def test_a_retried_feedback_batch_adds_nothing_and_a_changed_rating_is_409(
    personas: PersonaApi, db: Db
) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    batch = [
        {"tickId": tick, "module": "todo", "rating": 4, "notes": "quick"},
        {"tickId": tick, "module": "notes", "rating": 2},
    ]

    first = personas.post_feedback(persona_id, batch)
    retry = personas.post_feedback(persona_id, batch)
    changed = personas.post_feedback(persona_id, [{**batch[0], "rating": 5}])

    assert first.json() == {"ok": True, "inserted": 2, "duplicates": 0}
    assert retry.json() == {"ok": True, "inserted": 0, "duplicates": 2}
    assert changed.status_code == 409
    assert changed.json()["details"][0]["field"] == "feedback[0]"
    assert _feedback_count(db, persona_id) == 2


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"rating": 6}, "feedback[1].rating"),
        ({"rating": 0}, "feedback[1].rating"),
        ({"module": ""}, "feedback[1].module"),
        ({"module": "Bad Module"}, "feedback[1].module"),
        ({"tickId": "nope"}, "feedback[1].tickId"),
        ({"notes": "x" * 5001}, "feedback[1].notes"),
        ({"mood": "great"}, "feedback[1].mood"),
    ],
)
def test_bad_feedback_rows_are_422_naming_index_and_field(
    personas: PersonaApi, db: Db, row: dict[str, Any], field: str
) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    batch = [
        {"tickId": tick, "module": "todo", "rating": 4},
        {"tickId": tick, "module": "notes", "rating": 3, **row},
    ]
    response = personas.post_feedback(persona_id, batch)
    assert response.status_code == 422
    assert field in {d["field"] for d in response.json()["details"]}
    assert _feedback_count(db, persona_id) == 0


def test_feedback_batches_are_bounded_and_checked_for_foreign_ticks(personas: PersonaApi) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    foreign = personas.start_tick(personas.create())
    rows = [{"tickId": tick, "module": f"m{i}", "rating": 3} for i in range(101)]
    assert personas.post_feedback(persona_id, rows).status_code == 422
    response = personas.post_feedback(
        persona_id, [{"tickId": foreign, "module": "todo", "rating": 3}]
    )
    assert response.status_code == 404
    duplicate = personas.post_feedback(
        persona_id,
        [
            {"tickId": tick, "module": "todo", "rating": 3},
            {"tickId": tick, "module": "todo", "rating": 3},
        ],
    )
    assert duplicate.status_code == 422
    assert duplicate.json()["details"][0]["field"] == "feedback[1].module"
