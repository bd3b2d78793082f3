from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from tests.fixtures.database import Db
from tests.fixtures.personas import (
    PERSONA_PASSWORD,
    PersonaApi,
    action,
    app_now,
    persona_body,
    persona_email,
    sql_id,
    unique_archetype,
)
from tests.fixtures.servers import TEST_SERVICE_KEY, AuthService

ADMIN_PERSONAS = "/api/v1/admin/personas"


def _counts(db: Db, user_id: str) -> dict[str, int]:
    uid = sql_id(db, user_id)
    return {
        "users": db.scalar("SELECT count(*) FROM auth.users WHERE id=:u", u=uid),
        "personas": db.scalar("SELECT count(*) FROM auth.personas WHERE user_id=:u", u=uid),
        "personal_spaces": db.scalar(
            "SELECT count(*) FROM auth.spaces WHERE personal_owner_id=:u", u=uid
        ),
        "memberships": db.scalar("SELECT count(*) FROM auth.space_members WHERE user_id=:u", u=uid),
        "refresh_tokens": db.scalar(
            "SELECT count(*) FROM auth.refresh_tokens WHERE user_id=:u", u=uid
        ),
        "ticks": db.scalar("SELECT count(*) FROM auth.persona_ticks WHERE persona_id=:u", u=uid),
        "actions": db.scalar(
            "SELECT count(*) FROM auth.persona_actions WHERE persona_id=:u", u=uid
        ),
        "feedback": db.scalar(
            "SELECT count(*) FROM auth.persona_feedback WHERE persona_id=:u", u=uid
        ),
    }


# --- upsert --------------------------------------------------------------------------------


def test_upsert_three_times_makes_one_user_one_persona_and_one_personal_space(
    personas: PersonaApi, auth: AuthService, db: Db
) -> None:
    body = persona_body()
    results = [personas.upsert(body) for _ in range(3)]

    assert [r["created"] for r in results] == [True, False, False]
    assert {r["userId"] for r in results} == {results[0]["userId"]}
    assert all(r["ok"] and r["email"] == body["email"] for r in results)
    counts = _counts(db, results[0]["userId"])
    assert (counts["users"], counts["personas"], counts["personal_spaces"]) == (1, 1, 1)
    assert counts["memberships"] == 1
    # A real user, stamped: it signs in with its password like anyone else.
    user = auth.login(body["email"], PERSONA_PASSWORD)["user"]
    assert (user["kind"], user["tier"], user["emailVerified"]) == ("persona", "founder", True)


def test_upsert_of_an_existing_persona_updates_metadata_and_a_rotated_password(
    personas: PersonaApi, auth: AuthService
) -> None:
    email = persona_email()
    user_id = personas.create(email=email)
    new_password = "rotated-seed-derived-password"

    result = personas.upsert(
        persona_body(
            email=email.upper(),  # emails are matched case-insensitively
            name="Kai Renamed",
            password=new_password,
            archetype="ceo-busy",
            systemPrompt="You are a busy CEO with no time for anything but the calendar.",
            moduleMix={"calendar": 5},
            tickCadence="hourly",
        )
    )

    assert result == {"ok": True, "userId": user_id, "email": email, "created": False}
    persona = personas.detail(user_id)["persona"]
    assert persona["name"] == "Kai Renamed"
    assert persona["archetype"] == "ceo-busy"
    assert persona["systemPrompt"].startswith("You are a busy CEO")
    assert persona["moduleMix"] == {"calendar": 5.0}
    assert persona["tickCadence"] == "hourly"
    auth.login(email, new_password)
    with auth.client() as client:
        old = client.post("/api/v1/auth/login", json={"email": email, "password": PERSONA_PASSWORD})
    assert old.status_code == 401


def test_concurrent_upserts_of_one_email_make_exactly_one_user(
    personas: PersonaApi, db: Db
) -> None:
    body = persona_body()
    start = threading.Barrier(5)

    def upsert(_: int) -> tuple[int, Any]:
        start.wait(timeout=10)
        with personas.admin() as client:
            response = client.post(ADMIN_PERSONAS, json=body)
        return response.status_code, response.json()

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(upsert, range(5)))

    assert [status for status, _ in results] == [200] * 5, results
    assert sum(1 for _, r in results if r["created"]) == 1
    assert len({r["userId"] for _, r in results}) == 1
    assert db.scalar("SELECT count(*) FROM auth.users WHERE email=:e", e=body["email"]) == 1
    counts = _counts(db, results[0][1]["userId"])
    assert (counts["personas"], counts["personal_spaces"]) == (1, 1)


def test_upsert_over_a_human_account_is_409_and_leaves_it_untouched(
    personas: PersonaApi, auth: AuthService, db: Db
) -> None:
    email = persona_email("human")
    human = auth.register(email, name="Real Human")
    before = db.fetch("SELECT * FROM auth.users WHERE email=:e", e=email)

    with personas.admin() as client:
        response = client.post(ADMIN_PERSONAS, json=persona_body(email=email, name="Persona"))

    assert response.status_code == 409
    assert response.json()["error"] == "not_a_persona"
    assert db.fetch("SELECT * FROM auth.users WHERE email=:e", e=email) == before
    assert _counts(db, human["id"])["personas"] == 0
    assert auth.login(email)["user"]["kind"] == "human"


def test_upsert_validation_names_every_bad_field_at_once(personas: PersonaApi) -> None:
    body = persona_body(
        email="someone@example.com",
        password="short",
        systemPrompt="too short",
        moduleMix={"todo": -1, "notes": 2},
        tickCadence="monthly",
    )
    with personas.admin() as client:
        response = client.post(ADMIN_PERSONAS, json=body)

    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["details"]}
    assert fields == {"email", "password", "systemPrompt", "moduleMix.todo", "tickCadence"}
    assert "@mana.test" in response.json()["message"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"moduleMix": {}}, "moduleMix"),
        ({"moduleMix": {"todo": 0, "notes": 0}}, "moduleMix"),
        ({"moduleMix": {"todo": True}}, "moduleMix.todo"),
        ({"moduleMix": {"todo": "1"}}, "moduleMix.todo"),
        ({"moduleMix": []}, "moduleMix"),
        ({"email": "not-an-email"}, "email"),
        ({"name": "nul\x00byte"}, "name"),
        ({"archetype": "Not A Slug"}, "archetype"),
        ({"role": "admin"}, "role"),
    ],
)
def test_upsert_rejects_bad_input_with_422_naming_the_field(
    personas: PersonaApi, overrides: dict[str, Any], field: str
) -> None:
    with personas.admin() as client:
        response = client.post(ADMIN_PERSONAS, json=persona_body(**overrides))
    assert response.status_code == 422, response.text
    assert field in {d["field"] for d in response.json()["details"]}


def test_upsert_with_invalid_json_is_422(personas: PersonaApi) -> None:
    with personas.admin() as client:
        response = client.post(
            ADMIN_PERSONAS, content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body"


# --- list ----------------------------------------------------------------------------------


def test_list_counts_actions_and_ratings_of_the_last_seven_days_only(
    personas: PersonaApi, auth: AuthService
) -> None:
    archetype = unique_archetype()
    busy = personas.create(archetype=archetype)
    idle = personas.create(archetype=archetype)

    # Eight days ago (by the app's clock): ratings that must no longer count.
    old_tick = personas.start_tick(busy)
    personas.rate(busy, old_tick, {"todo": 1, "notes": 1})
    auth.clock.advance(timedelta(days=8))
    now = app_now(auth)

    tick = personas.start_tick(busy)
    rows = [
        action(tick, 0, createdAt=(now - timedelta(days=10)).isoformat()),
        action(tick, 1, createdAt=(now - timedelta(days=7, minutes=1)).isoformat()),
        action(tick, 2, createdAt=(now - timedelta(days=6, hours=23)).isoformat()),
        action(tick, 3, createdAt=(now - timedelta(days=1)).isoformat()),
        action(tick, 4),  # server time: now
    ]
    assert personas.post_actions(busy, rows).status_code == 200
    personas.rate(busy, tick, {"todo": 5, "notes": 2, "habits": 4})

    items = {p["userId"]: p for p in personas.list_all(archetype=archetype)}

    assert set(items) == {busy, idle}
    assert items[busy]["actions7d"] == 3
    assert items[busy]["avgRating7d"] == pytest.approx((5 + 2 + 4) / 3)
    assert items[idle]["actions7d"] == 0
    assert items[idle]["avgRating7d"] is None
    assert items[busy]["archetype"] == archetype
    assert set(items[busy]) == {
        "userId",
        "email",
        "name",
        "archetype",
        "tickCadence",
        "lastActiveAt",
        "createdAt",
        "actions7d",
        "avgRating7d",
    }


def test_list_pages_with_an_opaque_cursor_in_email_order(personas: PersonaApi) -> None:
    archetype = unique_archetype()
    emails = sorted(persona_email(f"p{i}") for i in range(5))
    for email in emails:
        personas.create(email=email, archetype=archetype)

    pages = []
    cursor = None
    with personas.admin() as client:
        while True:
            params: dict[str, Any] = {"archetype": archetype, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = client.get(ADMIN_PERSONAS, params=params).json()
            pages.append([p["email"] for p in page["items"]])
            cursor = page["nextCursor"]
            if cursor is None:
                break

    assert pages == [emails[0:2], emails[2:4], emails[4:5]]


@pytest.mark.parametrize(
    "params",
    [{"cursor": "not-a-cursor!"}, {"cursor": "e30"}, {"limit": 0}, {"limit": 1001}],
)
def test_list_rejects_a_bad_cursor_or_limit_with_422(
    personas: PersonaApi, params: dict[str, Any]
) -> None:
    with personas.admin() as client:
        response = client.get(ADMIN_PERSONAS, params=params)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] in {"cursor", "limit"}


# --- detail --------------------------------------------------------------------------------


def test_detail_shows_the_newest_actions_ticks_and_real_feedback_averages(
    personas: PersonaApi, auth: AuthService
) -> None:
    persona_id = personas.create(moduleMix={"todo": 2, "notes": 1})
    now = app_now(auth)
    first = personas.start_tick(persona_id)
    rows = [
        action(first, i, createdAt=(now - timedelta(minutes=100 - i)).isoformat())
        for i in range(25)
    ]
    assert personas.post_actions(persona_id, rows).status_code == 200
    personas.rate(persona_id, first, {"todo": 5, "notes": 4})
    auth.clock.advance(timedelta(hours=2))
    second = personas.start_tick(persona_id)
    personas.rate(persona_id, second, {"todo": 2})
    auth.clock.advance(timedelta(hours=2))
    third = personas.start_tick(persona_id)
    personas.rate(persona_id, third, {"todo": 2})

    detail = personas.detail(persona_id)

    assert detail["persona"]["systemPrompt"].startswith("You are Kai")
    assert detail["persona"]["moduleMix"] == {"todo": 2.0, "notes": 1.0}
    assert [a["seq"] for a in detail["recentActions"]] == list(range(24, 4, -1))
    assert [t["tickId"] for t in detail["recentTicks"]] == [third, second, first]
    feedback = {f["module"]: f for f in detail["feedbackByModule"]}
    assert feedback["todo"]["avgRating"] == pytest.approx(3.0)  # (5 + 2 + 2) / 3
    assert feedback["todo"]["count"] == 3
    assert feedback["todo"]["lastRating"] == 2
    assert feedback["notes"] == {
        "module": "notes",
        "avgRating": 4.0,
        "count": 1,
        "lastRating": 4,
        "lastAt": feedback["notes"]["lastAt"],
    }


def test_detail_of_a_persona_without_actions_still_shows_its_ticks_and_ratings(
    personas: PersonaApi,
) -> None:
    # The detail's reads run as one batch that stops early only when the persona itself is
    # missing; an empty read in the middle (no actions yet) must not end it.
    persona_id = personas.create(moduleMix={"todo": 1})
    tick = personas.start_tick(persona_id)
    personas.rate(persona_id, tick, {"todo": 4})

    detail = personas.detail(persona_id)

    assert detail["recentActions"] == []
    assert [t["tickId"] for t in detail["recentTicks"]] == [tick]
    assert [(f["module"], f["lastRating"]) for f in detail["feedbackByModule"]] == [("todo", 4)]


def test_detail_of_an_unknown_id_or_a_human_is_404(personas: PersonaApi, auth: AuthService) -> None:
    human = auth.register()
    with personas.admin() as client:
        assert client.get(f"{ADMIN_PERSONAS}/{uuid.uuid4()}").status_code == 404
        assert client.get(f"{ADMIN_PERSONAS}/{human['id']}").status_code == 404
        assert client.get(f"{ADMIN_PERSONAS}/not-a-uuid").status_code == 422


# --- delete --------------------------------------------------------------------------------


def test_delete_removes_the_persona_and_everything_it_owns_but_not_shared_spaces_with_members(
    personas: PersonaApi, auth: AuthService, db: Db
) -> None:
    body = persona_body()
    persona_id = personas.create(email=body["email"])
    tick = personas.start_tick(persona_id)
    assert personas.post_actions(persona_id, [action(tick, 0), action(tick, 1)]).status_code == 200
    personas.rate(persona_id, tick, {"todo": 4})
    token = auth.login(body["email"], PERSONA_PASSWORD)["token"]  # leaves a refresh token
    human, human_token = auth.user_token()
    with auth.client(token) as persona_client, auth.client(human_token) as human_client:
        shared = persona_client.post("/api/v1/spaces", json={"name": "Team", "type": "team"})
        alone = persona_client.post("/api/v1/spaces", json={"name": "Solo", "type": "family"})
        shared_id, alone_id = shared.json()["id"], alone.json()["id"]
        invitation = persona_client.post(
            f"/api/v1/spaces/{shared_id}/invitations", json={"email": human["email"]}
        ).json()
        accepted = human_client.post(f"/api/v1/invitations/{invitation['id']}/accept")
        assert accepted.status_code == 200, accepted.text
    before = _counts(db, persona_id)
    assert before == {
        "users": 1,
        "personas": 1,
        "personal_spaces": 1,
        "memberships": 3,
        "refresh_tokens": 1,
        "ticks": 1,
        "actions": 2,
        "feedback": 1,
    }

    with personas.admin() as client:
        response = client.delete(f"{ADMIN_PERSONAS}/{persona_id}")

    assert response.status_code == 200, response.text
    assert response.json()["userId"] == persona_id
    assert response.json()["email"] == body["email"]
    assert set(_counts(db, persona_id).values()) == {0}
    space_ids = {str(uuid.UUID(str(row[0]))) for row in db.fetch("SELECT id FROM auth.spaces")}
    assert shared_id in space_ids  # the human is still a member
    assert alone_id not in space_ids  # nobody left
    with auth.client(human_token) as client:
        detail = client.get(f"/api/v1/spaces/{shared_id}").json()
    assert [m["email"] for m in detail["members"]] == [human["email"]]
    with personas.admin() as client:
        assert client.delete(f"{ADMIN_PERSONAS}/{persona_id}").status_code == 404


def test_delete_of_a_human_is_409_and_deletes_nothing(
    personas: PersonaApi, auth: AuthService, db: Db
) -> None:
    human = auth.register()
    with personas.admin() as client:
        response = client.delete(f"{ADMIN_PERSONAS}/{human['id']}")
        unknown = client.delete(f"{ADMIN_PERSONAS}/{uuid.uuid4()}")

    assert response.status_code == 409
    assert response.json()["error"] == "not_a_persona"
    assert "persona" in response.json()["message"]
    assert unknown.status_code == 404
    counts = _counts(db, human["id"])
    assert (counts["users"], counts["personal_spaces"], counts["memberships"]) == (1, 1, 1)


# --- who may call --------------------------------------------------------------------------

ROUTES = [
    ("POST", ADMIN_PERSONAS),
    ("GET", ADMIN_PERSONAS),
    ("GET", f"{ADMIN_PERSONAS}/{uuid.UUID(int=1)}"),
    ("DELETE", f"{ADMIN_PERSONAS}/{uuid.UUID(int=1)}"),
    ("GET", "/api/v1/admin/users"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_admin_routes_refuse_anonymous_users_and_the_service_key(
    personas: PersonaApi, auth: AuthService, method: str, path: str
) -> None:
    _, user_token = auth.user_token()
    body = persona_body() if method == "POST" else None
    with auth.client() as anonymous:
        assert anonymous.request(method, path, json=body).status_code == 401
        service = anonymous.request(
            method, path, json=body, headers={"X-Service-Key": TEST_SERVICE_KEY}
        )
        assert service.status_code == 401
    with auth.client(user_token) as user:
        forbidden = user.request(method, path, json=body)
        assert forbidden.status_code == 403
        assert forbidden.json()["error"] == "forbidden"
    with auth.client("not.a.token") as bad:
        assert bad.request(method, path, json=body).status_code == 401
