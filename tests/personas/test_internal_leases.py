"""Leases that recover and ticks that always end (issue 13), on the app's controllable clock:
idempotent claims, heartbeats, a restarted runner's recovery, stale ticks closed `abandoned`,
and infrastructure failures that do not use up the persona's day."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from tests.fixtures.database import Db
from tests.fixtures.personas import PersonaApi, action, app_now
from tests.fixtures.runner import wait_until
from tests.fixtures.servers import running_auth_service

INTERNAL = "/api/v1/internal/personas"


def _post(personas: PersonaApi, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with personas.internal() as client:
        response = client.post(INTERNAL + path, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _tick(personas: PersonaApi, persona_id: str, tick_id: str) -> dict[str, Any]:
    ticks = personas.detail(persona_id)["recentTicks"]
    return next(t for t in ticks if t["tickId"] == tick_id)


def test_a_retried_claim_returns_the_same_set_and_leases_nothing_more(
    personas: PersonaApi,
) -> None:
    mine = {personas.create() for _ in range(3)}
    personas.drain("runner-other", leaseSeconds=600, limit=100)  # nothing else is due
    extra = {personas.create() for _ in range(3)}
    claim_id = str(uuid.uuid4())

    first = _post(personas, "/claim", {"runnerId": "r-idem", "limit": 2, "claimId": claim_id})
    retry = _post(personas, "/claim", {"runnerId": "r-idem", "limit": 2, "claimId": claim_id})

    got = [p["userId"] for p in first["personas"]]
    assert len(got) == 2 and set(got) <= extra
    assert [p["userId"] for p in retry["personas"]] == got
    # The third new persona is still due: the retry leased nothing more.
    assert extra - set(got) <= personas.due_ids()
    assert not mine & personas.due_ids()


def test_a_restarted_runner_gets_its_personas_back_at_once_with_its_ticks_closed(
    personas: PersonaApi,
) -> None:
    persona_id = personas.create()
    runner = f"r-{uuid.uuid4().hex[:6]}"
    assert persona_id in {p["userId"] for p in personas.drain(runner, leaseSeconds=600)}
    tick_id = personas.start_tick(persona_id, runner_id=runner)
    posted = personas.post_actions(
        persona_id, [action(tick_id, 0), action(tick_id, 1, result="error", errorMessage="x")]
    )
    assert posted.status_code == 200, posted.text
    before = personas.detail(persona_id)["persona"]["lastActiveAt"]

    recovery = _post(personas, "/recover", {"runnerId": runner})

    # (the drain may also have leased other tests' due personas: released with ours)
    assert recovery["abandonedTicks"] == 1 and recovery["releasedPersonas"] >= 1
    tick = _tick(personas, persona_id, tick_id)
    assert tick["status"] == "abandoned"
    assert (tick["toolCalls"], tick["errors"]) == (2, 1)
    assert runner in tick["errorMessage"] and "restarted" in tick["errorMessage"]
    assert len(personas.detail(persona_id)["recentActions"]) == 2  # the audit is kept
    assert personas.detail(persona_id)["persona"]["lastActiveAt"] == before
    assert persona_id in personas.due_ids()  # not in 600 s: now

    # The runner's spooled finish arrives late: the real outcome replaces "abandoned".
    late = personas.finish_tick(persona_id, tick_id, status="ok", toolCalls=2, errors=1)
    assert late.status_code == 200, late.text
    assert _tick(personas, persona_id, tick_id)["status"] == "ok"
    assert personas.finish_tick(persona_id, tick_id, status="ok", toolCalls=2, errors=1).is_success


def test_a_tick_whose_lease_ran_out_is_closed_when_the_next_claim_comes(
    personas: PersonaApi,
) -> None:
    persona_id = personas.create()
    assert persona_id in {p["userId"] for p in personas.drain("r-dead", leaseSeconds=30)}
    tick_id = personas.start_tick(persona_id, runner_id="r-dead")
    assert personas.post_actions(persona_id, [action(tick_id, 0)]).status_code == 200

    personas.claim("r-alive", limit=1)  # the lease still holds: the tick stays running
    assert _tick(personas, persona_id, tick_id)["status"] == "running"
    personas.auth.clock.advance(timedelta(seconds=31))
    taken = {p["userId"] for p in personas.drain("r-alive", leaseSeconds=600)}

    assert persona_id in taken
    tick = _tick(personas, persona_id, tick_id)
    assert tick["status"] == "abandoned" and tick["toolCalls"] == 1
    assert tick["finishedAt"] is not None and "lease ran out" in tick["errorMessage"]


def test_the_auth_service_closes_a_dead_runners_tick_without_any_claim(
    database_url: str, db: Db, admin_email: str
) -> None:
    with running_auth_service(database_url, stale_tick_sweep_seconds=0.1) as auth:
        personas = PersonaApi(auth=auth, db=db, admin_token=str(auth.login(admin_email)["token"]))
        persona_id = personas.create()
        assert persona_id in {p["userId"] for p in personas.drain("r-dead", leaseSeconds=30)}
        tick_id = personas.start_tick(persona_id, runner_id="r-dead")
        assert personas.post_actions(persona_id, [action(tick_id, 0)]).status_code == 200
        assert _tick(personas, persona_id, tick_id)["status"] == "running"

        auth.clock.advance(timedelta(seconds=31))  # the lease runs out; no runner claims again
        tick = wait_until(
            lambda: (t := _tick(personas, persona_id, tick_id))["status"] == "abandoned" and t,
            timeout=30,
            what="the sweeper to close the tick",
        )
    assert tick["toolCalls"] == 1 and "lease ran out" in tick["errorMessage"]


def test_heartbeats_keep_a_live_ticks_lease_and_skip_leases_held_by_others(
    personas: PersonaApi,
) -> None:
    mine = personas.create()
    personas.drain("r-beat", leaseSeconds=30)
    theirs = personas.create()
    personas.drain("r-else", leaseSeconds=600)
    assert mine not in personas.due_ids()
    now = app_now(personas.auth)

    answer = _post(
        personas,
        "/leases/renew",
        {"runnerId": "r-beat", "personaIds": [mine, theirs], "leaseSeconds": 120},
    )

    assert answer["renewed"] == [mine]
    persona = personas.detail(mine)["persona"]
    assert persona["leasedBy"] == "r-beat"
    assert persona["leasedUntil"] >= (now + timedelta(seconds=119)).isoformat()[:19]
    personas.auth.clock.advance(timedelta(seconds=60))  # past the old lease, within the new
    assert mine not in {p["userId"] for p in personas.drain("r-else", leaseSeconds=600)}


def test_an_unavailable_tick_does_not_use_up_the_personas_day(personas: PersonaApi) -> None:
    persona_id = personas.create()
    personas.drain("r-infra", leaseSeconds=600)
    tick_id = personas.start_tick(persona_id, runner_id="r-infra")

    finished = personas.finish_tick(
        persona_id, tick_id, status="unavailable", errorMessage="mcp unreachable: ConnectError"
    )

    assert finished.status_code == 200, finished.text
    detail = personas.detail(persona_id)
    assert detail["persona"]["lastActiveAt"] is None
    assert _tick(personas, persona_id, tick_id)["status"] == "unavailable"
    assert persona_id in personas.due_ids()  # the lease is released and the day is kept
