"""The runner's claim/due API: leases, cadences, weekdays — on the app's controllable clock.

The database is shared with other tests, so these tests "drain" (claim until nothing is due)
and then look only at their own personas.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from tests.fixtures.database import Db
from tests.fixtures.personas import PersonaApi, app_now, persona_email, sql_id
from tests.fixtures.servers import AuthService

INTERNAL = "/api/v1/internal/personas"


def _advance_to(auth: AuthService, weekday: int, hour: int = 12) -> datetime:
    """Move the app clock forward to the next `weekday` (0 = Monday) at `hour`:00 UTC."""
    now = app_now(auth)
    days = (weekday - now.weekday()) % 7 or 7
    target = (now + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    auth.clock.advance(target - now)
    return target


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{INTERNAL}/claim"),
        ("GET", f"{INTERNAL}/due"),
        ("POST", f"{INTERNAL}/{uuid.UUID(int=1)}/ticks"),
        ("POST", f"{INTERNAL}/{uuid.UUID(int=1)}/ticks/{uuid.UUID(int=2)}/finish"),
        ("POST", f"{INTERNAL}/{uuid.UUID(int=1)}/actions"),
        ("POST", f"{INTERNAL}/{uuid.UUID(int=1)}/feedback"),
    ],
)
def test_internal_routes_require_the_service_key(
    personas: PersonaApi, method: str, path: str
) -> None:
    for key in (None, "wrong-key", ""):
        with personas.internal(key) as client:
            response = client.request(method, path, json={})
        assert response.status_code == 401, (key, response.text)
        assert response.json()["error"] == "unauthorized"
    # An admin's bearer token is not a service key either.
    with personas.admin() as client:
        assert client.request(method, path, json={}).status_code == 401


def test_claim_hands_out_due_personas_with_what_the_runner_needs(personas: PersonaApi) -> None:
    email = persona_email()
    persona_id = personas.create(email=email, moduleMix={"todo": 2, "journal": 1})

    claimed = {p["userId"]: p for p in personas.drain("runner-a", leaseSeconds=600)}

    mine = claimed[persona_id]
    assert mine["email"] == email
    assert mine["name"] == "Kai Test"
    assert mine["archetype"] == "solo-dev"
    assert mine["systemPrompt"].startswith("You are Kai")
    assert mine["moduleMix"] == {"todo": 2.0, "journal": 1.0}
    assert mine["tickCadence"] == "daily"
    assert mine["lastActiveAt"] is None
    assert mine["leasedBy"] == "runner-a"
    assert [(s["type"], s["role"]) for s in mine["spaces"]] == [("personal", "owner")]
    assert persona_id not in personas.due_ids()  # leased
    assert persona_id not in {p["userId"] for p in personas.drain("runner-b")}


def test_two_concurrent_claimers_never_get_the_same_persona(personas: PersonaApi) -> None:
    mine = {personas.create() for _ in range(12)}
    start = threading.Barrier(2)

    def claimer(runner_id: str) -> list[str]:
        start.wait(timeout=10)
        got: list[str] = []
        while batch := personas.claim(runner_id, limit=3):
            got.extend(p["userId"] for p in batch)
        return got

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(claimer, ["runner-1", "runner-2"])

    assert not set(first) & set(second)
    assert len(first) == len(set(first)) and len(second) == len(set(second))
    assert mine <= set(first) | set(second)


def test_claim_follows_the_cadence_and_a_finished_tick_releases_the_lease(
    personas: PersonaApi, auth: AuthService
) -> None:
    hourly = personas.create(tickCadence="hourly")
    daily = personas.create(tickCadence="daily")
    assert {hourly, daily} <= {p["userId"] for p in personas.drain("runner-c")}
    for persona_id in (hourly, daily):
        tick = personas.start_tick(persona_id, runner_id="runner-c")
        assert personas.finish_tick(persona_id, tick).status_code == 200

    due = personas.due_ids()
    assert hourly not in due and daily not in due  # active just now

    auth.clock.advance(timedelta(minutes=59))
    assert hourly not in personas.due_ids()
    auth.clock.advance(timedelta(minutes=2))
    due = personas.due_ids()
    assert hourly in due and daily not in due

    auth.clock.advance(timedelta(hours=23))
    due = personas.due_ids()
    assert hourly in due and daily in due


def test_a_crashed_runners_lease_expires_and_the_persona_is_due_again(
    personas: PersonaApi, auth: AuthService
) -> None:
    persona_id = personas.create()
    assert persona_id in {p["userId"] for p in personas.drain("crashing", leaseSeconds=60)}
    assert persona_id not in personas.due_ids()

    auth.clock.advance(timedelta(seconds=61))

    assert persona_id in personas.due_ids()
    again = {p["userId"]: p for p in personas.drain("rescuer")}
    assert again[persona_id]["leasedBy"] == "rescuer"


def test_weekday_personas_rest_on_saturday_and_sunday(
    personas: PersonaApi, auth: AuthService
) -> None:
    weekdays = personas.create(tickCadence="weekdays")
    daily = personas.create(tickCadence="daily")

    saturday = _advance_to(auth, weekday=5)
    assert saturday.weekday() == 5
    due = personas.due_ids()
    assert daily in due and weekdays not in due
    auth.clock.advance(timedelta(days=1))  # Sunday
    assert weekdays not in personas.due_ids()

    auth.clock.advance(timedelta(days=1))  # Monday
    assert app_now(auth).weekday() == 0
    assert weekdays in personas.due_ids()
    tick = personas.start_tick(weekdays)
    assert personas.finish_tick(weekdays, tick).status_code == 200

    auth.clock.advance(timedelta(hours=25))  # Tuesday, more than 24 h later
    assert weekdays in personas.due_ids()


def test_due_lists_never_active_personas_first(personas: PersonaApi, auth: AuthService) -> None:
    active = personas.create(tickCadence="hourly")
    tick = personas.start_tick(active)
    assert personas.finish_tick(active, tick).status_code == 200
    auth.clock.advance(timedelta(hours=2))
    fresh = personas.create(tickCadence="hourly")

    with personas.internal() as client:
        listed = client.get(f"{INTERNAL}/due", params={"limit": 1000}).json()["personas"]
    order = [p["userId"] for p in listed]

    assert order.index(fresh) < order.index(active)
    never = [p["lastActiveAt"] is None for p in listed]
    assert never == sorted(never, reverse=True)


def test_a_deleted_user_is_never_due(personas: PersonaApi, db: Db) -> None:
    persona_id = personas.create()
    assert persona_id in personas.due_ids()
    db.execute(
        "UPDATE auth.users SET deleted_at=CURRENT_TIMESTAMP WHERE id=:u", u=sql_id(db, persona_id)
    )
    assert persona_id not in personas.due_ids()
    assert persona_id not in {p["userId"] for p in personas.drain("runner-d")}


def test_claim_by_email_leases_that_persona_whether_due_or_not(personas: PersonaApi) -> None:
    email = persona_email()
    persona_id = personas.create(email=email)
    tick = personas.start_tick(persona_id)
    assert personas.finish_tick(persona_id, tick).status_code == 200  # not due for 24 h

    claimed = personas.claim("operator", email=email.upper())
    assert [p["userId"] for p in claimed] == [persona_id]
    # Held by "operator": another runner cannot take it, the holder can renew.
    assert personas.claim("other", email=email) == []
    assert [p["userId"] for p in personas.claim("operator", email=email)] == [persona_id]
    assert personas.claim("operator", email=persona_email()) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit": 5}, "runnerId"),
        ({"runnerId": "r", "limit": 0}, "limit"),
        ({"runnerId": "r", "limit": 101}, "limit"),
        ({"runnerId": "r", "leaseSeconds": 1}, "leaseSeconds"),
        ({"runnerId": "r\x00"}, "runnerId"),
        ({"runnerId": "r", "extra": 1}, "extra"),
    ],
)
def test_claim_rejects_bad_bodies_with_422(
    personas: PersonaApi, body: dict[str, object], field: str
) -> None:
    with personas.internal() as client:
        response = client.post(f"{INTERNAL}/claim", json=body)
    assert response.status_code == 422
    assert field in {d["field"] for d in response.json()["details"]}
