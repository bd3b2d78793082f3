"""The seed pipeline in-process, against the real auth service (both backends), with catalogs of
each test's own; and its concurrency limit against a small server that speaks the contract."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.fixtures.database import Db
from tests.fixtures.servers import TEST_SEED_SECRET, AuthService
from tests.personas.seed_support import make_admin, unique_catalog

from mana.clients.admin import AdminClient
from mana.clients.seed import SeedReport, SeedResult, seed_personas, upsert_body
from mana.kit.server import BackgroundServer
from mana.personas.catalog import Catalog
from mana.personas.password import derive_persona_password

# The shared test server's own secret: personas left in the shared database stay usable by any
# other test (a runner, say) that logs personas in with the test settings.
SECRET = TEST_SEED_SECRET


def _seed(
    url: str,
    token: str,
    catalog: Catalog,
    *,
    concurrency: int = 4,
    seen: list[SeedResult] | None = None,
) -> SeedReport:
    async def run() -> SeedReport:
        async with AdminClient(url, token, concurrency=concurrency) as client:
            return await seed_personas(
                client, catalog, secret=SECRET, on_result=seen.append if seen is not None else None
            )

    return asyncio.run(run())


def test_seed_creates_every_persona_and_a_second_run_creates_nothing(
    auth: AuthService, db: Db, tmp_path: Path
) -> None:
    _, catalog = unique_catalog(tmp_path, personas=3, spaces=0)
    token = make_admin(auth, db)
    seen: list[SeedResult] = []

    first = _seed(auth.url, token, catalog, seen=seen)
    second = _seed(auth.url, token, catalog)

    emails = [p.email for p in catalog.personas]
    assert [r.email for r in first.results] == emails  # catalog order, whatever finished first
    assert sorted(r.email for r in seen) == sorted(emails)
    assert first.ok and len(first.created) == 3 and first.updated == []
    assert first.summary() == "3 personas: 3 created, 0 updated, 0 failed"
    assert second.ok and second.created == [] and len(second.updated) == 3
    assert [r.user_id for r in second.results] == [r.user_id for r in first.results]
    rows = db.fetch(
        "SELECT u.email, u.kind, u.access_tier, u.email_verified, p.archetype, p.tick_cadence"
        " FROM auth.users u JOIN auth.personas p ON p.user_id = u.id WHERE u.email IN "
        "(:a, :b, :c)",
        a=emails[0],
        b=emails[1],
        c=emails[2],
    )
    assert sorted((r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows) == sorted(
        (p.email, "persona", "founder", True, p.archetype, p.tick_cadence) for p in catalog.personas
    )


def test_one_failing_persona_does_not_stop_the_others(
    auth: AuthService, db: Db, tmp_path: Path
) -> None:
    _, catalog = unique_catalog(tmp_path, personas=3, spaces=0)
    taken = catalog.personas[1]
    auth.register(taken.email)  # a human owns this email: the server answers 409

    report = _seed(auth.url, make_admin(auth, db), catalog)

    assert [r.email for r in report.failed] == [taken.email]
    assert "HTTP 409" in (report.failed[0].error or "")
    assert len(report.created) == 2
    assert db.scalar("SELECT kind FROM auth.users WHERE email = :e", e=taken.email) == "human"
    assert report.summary() == "3 personas: 2 created, 0 updated, 1 failed"


def test_every_body_carries_the_derived_password_and_the_catalog_fields(tmp_path: Path) -> None:
    _, catalog = unique_catalog(tmp_path, personas=1, spaces=0)
    persona = catalog.personas[0]

    body = upsert_body(persona, secret=SECRET)

    assert body == {
        "email": persona.email,
        "name": persona.name,
        "password": derive_persona_password(persona.email, SECRET),
        "archetype": persona.archetype,
        "systemPrompt": persona.system_prompt,
        "moduleMix": dict(persona.module_mix),
        "tickCadence": persona.tick_cadence,
    }


def test_requests_in_flight_never_exceed_the_concurrency_limit(tmp_path: Path) -> None:
    in_flight = 0
    peak = 0
    bodies: list[dict[str, Any]] = []

    async def upsert(request: Request) -> JSONResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.05)  # long enough for the client to pile up more requests
            body = await request.json()
            bodies.append(body)
            return JSONResponse(
                {"ok": True, "userId": str(uuid.uuid4()), "email": body["email"], "created": True}
            )
        finally:
            in_flight -= 1

    _, catalog = unique_catalog(tmp_path, personas=6, spaces=0)
    app = Starlette(routes=[Route("/api/v1/admin/personas", upsert, methods=["POST"])])
    with BackgroundServer(app) as server:
        report = _seed(server.url, "token", catalog, concurrency=2)

    assert report.ok and len(report.created) == 6
    assert peak == 2
    assert sorted(b["email"] for b in bodies) == sorted(p.email for p in catalog.personas)
