"""`GET /api/v1/admin/ticks/{tickId}`: the Tick page's data source, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

from tests.fixtures.database import Db
from tests.fixtures.personas import PersonaApi, action, sql_id
from tests.fixtures.servers import AuthService

ADMIN_TICKS = "/api/v1/admin/ticks"


def _observe(db: Db, persona_id: str, tick_id: str, seq: int, action_seq: int) -> None:
    # Observations have no ingest API on this branch yet: written as the runner's would be.
    db.execute(
        "INSERT INTO auth.persona_observations (persona_id, tick_id, seq, kind, module,"
        " tool_name, action_seq, item_id, evidence, created_at)"
        " VALUES (:p, :t, :s, 'missing', 'todo', 'todo.list', :a, 'item-7',"
        " 'the todo created yesterday is gone', CURRENT_TIMESTAMP)",
        p=sql_id(db, persona_id),
        t=sql_id(db, tick_id),
        s=seq,
        a=action_seq,
    )


def test_tick_detail_lists_calls_in_order_with_ratings_and_observations(
    personas: PersonaApi, db: Db
) -> None:
    persona_id = personas.create()
    tick_id = personas.start_tick(persona_id)
    posted = personas.post_actions(
        persona_id,
        [
            action(tick_id, 2, toolName="todo.list", latencyMs=40),
            action(tick_id, 0, toolName="todo.create", latencyMs=12),
            action(tick_id, 1, toolName="todo.update", result="error", errorMessage="boom 42"),
        ],
    )
    assert posted.status_code == 200, posted.text
    personas.rate(persona_id, tick_id, {"todo": 2})
    _observe(db, persona_id, tick_id, seq=0, action_seq=2)
    assert personas.finish_tick(persona_id, tick_id, toolCalls=3, errors=1).status_code == 200

    with personas.admin() as client:
        response = client.get(f"{ADMIN_TICKS}/{tick_id}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tick"]["tickId"] == tick_id
    assert (body["tick"]["status"], body["tick"]["toolCalls"], body["tick"]["errors"]) == (
        "ok",
        3,
        1,
    )
    assert body["persona"]["userId"] == persona_id
    assert [(a["seq"], a["toolName"], a["result"]) for a in body["actions"]] == [
        (0, "todo.create", "ok"),
        (1, "todo.update", "error"),
        (2, "todo.list", "ok"),
    ]
    assert body["actions"][1]["errorMessage"] == "boom 42"
    assert [(f["module"], f["rating"]) for f in body["feedback"]] == [("todo", 2)]
    assert [(o["kind"], o["actionSeq"], o["itemId"]) for o in body["observations"]] == [
        ("missing", 2, "item-7")
    ]


def test_tick_detail_is_admin_only_and_answers_404_for_an_unknown_tick(
    personas: PersonaApi, auth: AuthService
) -> None:
    _user, user_token = auth.user_token()
    unknown = uuid.uuid4()
    with auth.client() as anonymous:
        assert anonymous.get(f"{ADMIN_TICKS}/{unknown}").status_code == 401
    with auth.client(user_token) as client:
        refused = client.get(f"{ADMIN_TICKS}/{unknown}")
    assert refused.status_code == 403
    with personas.admin() as client:
        missing = client.get(f"{ADMIN_TICKS}/{unknown}")
        malformed = client.get(f"{ADMIN_TICKS}/not-a-uuid")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert malformed.status_code == 422
