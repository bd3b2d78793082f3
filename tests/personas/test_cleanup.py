"""The cleanup pipeline in-process (both backends). Cleanup deletes *every* live persona, so each
test gets a database and server of its own instead of the shared ones."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.personas.seed_support import System, persona_body, running_system, unique_catalog

from mana.clients.admin import AdminClient
from mana.clients.cleanup import (
    CleanupReport,
    LivePersona,
    delete_personas,
    list_live_personas,
)
from mana.clients.seed import seed_personas
from mana.clients.spaces import setup_shared_spaces
from mana.personas.catalog import Catalog

SECRET = "cleanup-secret"


@pytest.fixture
def system(fresh_database_url: str) -> Iterator[System]:
    with running_system(fresh_database_url) as running:
        yield running


def _seed_with_spaces(system: System, catalog: Catalog) -> None:
    async def run() -> None:
        async with AdminClient(system.url, system.admin_token) as client:
            assert (await seed_personas(client, catalog, secret=SECRET)).ok
            assert (await setup_shared_spaces(client, catalog, secret=SECRET)).ok

    asyncio.run(run())


def _live(system: System, catalog: Catalog | None) -> list[LivePersona]:
    async def run() -> list[LivePersona]:
        async with AdminClient(system.url, system.admin_token) as client:
            return await list_live_personas(client, catalog)

    return asyncio.run(run())


def _delete(system: System, personas: list[LivePersona]) -> CleanupReport:
    async def run() -> CleanupReport:
        async with AdminClient(system.url, system.admin_token) as client:
            return await delete_personas(client, personas)

    return asyncio.run(run())


def test_cleanup_flags_drift_deletes_every_persona_and_leaves_humans_alone(
    system: System, tmp_path: Path
) -> None:
    _, catalog = unique_catalog(tmp_path, personas=3, spaces=1)
    _seed_with_spaces(system, catalog)
    drift = system.admin_upsert(persona_body("persona.drift@mana.test"))
    human = system.auth.register("human.bystander@example.com")
    humans_before = system.db.fetch(
        "SELECT u.email, s.id FROM auth.users u JOIN auth.spaces s ON s.personal_owner_id = u.id"
        " WHERE u.kind = 'human' ORDER BY u.email"
    )

    live = _live(system, catalog)
    report = _delete(system, live)

    assert sorted((p.email, p.in_catalog) for p in live) == sorted(
        [(p.email, True) for p in catalog.personas] + [("persona.drift@mana.test", False)]
    )
    assert {str(p.user_id) for p in live if not p.in_catalog} == {drift["userId"]}
    assert report.ok and len(report.deleted) == 4
    assert report.summary() == "4 personas deleted, 0 failed"
    db = system.db
    assert db.scalar("SELECT count(*) FROM auth.users WHERE kind = 'persona'") == 0
    assert db.scalar("SELECT count(*) FROM auth.personas") == 0
    # The persona-only shared space went with its last member; humans and their spaces stay.
    assert db.scalar("SELECT count(*) FROM auth.spaces WHERE type <> 'personal'") == 0
    assert (
        db.fetch(
            "SELECT u.email, s.id FROM auth.users u JOIN auth.spaces s"
            " ON s.personal_owner_id = u.id WHERE u.kind = 'human' ORDER BY u.email"
        )
        == humans_before
    )
    assert human["email"] in {row[0] for row in humans_before}
    assert _live(system, catalog) == []  # a rerun has nothing to do


def test_a_persona_deleted_meanwhile_counts_as_deleted(system: System, tmp_path: Path) -> None:
    system.admin_upsert(persona_body("persona.gone@mana.test"))
    live = _live(system, None)

    first = _delete(system, live)
    again = _delete(system, live)  # e.g. a second operator's cleanup got there first

    assert [r.already_gone for r in first.results] == [False]
    assert again.ok and [r.already_gone for r in again.results] == [True]
    assert [p.in_catalog for p in live] == [True]  # without a catalog, nothing is drift
