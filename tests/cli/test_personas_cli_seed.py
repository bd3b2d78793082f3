"""`mana personas seed` end to end: the real command as a subprocess against a real auth server
on 127.0.0.1, with the shipped catalog, on a database of the test's own (the catalog's emails
are fixed, so the shared test database cannot hold them twice)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mana.clients.admin import AdminClient
from mana.clients.seed import SeedReport, seed_personas
from mana.clients.spaces import SpacesReport, setup_shared_spaces
from mana.kit.server import BackgroundServer
from mana.personas.catalog import load_catalog
from tests.fixtures.database import Db, create_database, drop_database
from tests.personas.seed_support import (
    System,
    cli_env,
    failing_proxy_app,
    run_cli,
    running_system,
)

CATALOG = load_catalog()
SECRET = "first-seed-secret"
ROTATED = "rotated-seed-secret"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TABLES = ("users", "spaces", "space_members", "space_invitations", "personas")


@pytest.fixture
def system(fresh_database_url: str) -> Iterator[System]:
    with running_system(fresh_database_url) as running:
        yield running


def _env(system: System, secret: str) -> dict[str, str]:
    return cli_env(
        MANA_AUTH_URL=system.url,
        MANA_ADMIN_JWT=system.admin_token,
        PERSONA_SEED_SECRET=secret,
        MANA_DATABASE_URL=system.db.url,
    )


def _seed_in_process(system: System, secret: str) -> tuple[SeedReport, SpacesReport]:
    async def run() -> tuple[SeedReport, SpacesReport]:
        async with AdminClient(system.url, system.admin_token) as client:
            seeded = await seed_personas(client, CATALOG, secret=secret)
            spaces = await setup_shared_spaces(client, CATALOG, secret=secret)
        return seeded, spaces

    return asyncio.run(run())


def _counts(db: Db) -> dict[str, int]:
    return {table: db.scalar(f"SELECT count(*) FROM auth.{table}") for table in TABLES}


def _assert_catalog_is_live(db: Db) -> None:
    users = db.fetch(
        "SELECT u.email, u.access_tier, u.email_verified, p.archetype FROM auth.users u"
        " JOIN auth.personas p ON p.user_id = u.id WHERE u.kind = 'persona'"
    )
    assert sorted((e, t, bool(v), a) for e, t, v, a in users) == sorted(
        (p.email, "founder", True, p.archetype) for p in CATALOG.personas
    )
    personal = db.scalar(
        "SELECT count(*) FROM auth.spaces s JOIN auth.users u ON u.id = s.personal_owner_id"
        " WHERE s.type = 'personal' AND u.kind = 'persona'"
    )
    assert personal == 10
    rows = db.fetch(
        "SELECT s.name, s.type, u.email, m.role FROM auth.spaces s"
        " JOIN auth.space_members m ON m.space_id = s.id JOIN auth.users u ON u.id = m.user_id"
        " WHERE s.type <> 'personal'"
    )
    shared: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for name, type_, email, role in rows:
        shared.setdefault((name, type_), set()).add((email, role))
    assert shared == {
        (s.name, s.type): {(s.owner, "owner")} | {(m, "member") for m in s.members[1:]}
        for s in CATALOG.spaces
    }


def test_seed_sets_up_the_catalog_once_and_follows_a_secret_rotation(
    system: System, tmp_path: Path
) -> None:
    first = run_cli(["personas", "seed"], env=_env(system, SECRET), cwd=tmp_path)

    assert first.returncode == 0, first
    for persona in CATALOG.personas:
        pattern = rf"^✓ {re.escape(persona.email)} \({persona.archetype}\) user={UUID} created$"
        assert re.search(pattern, first.stdout, re.M), first
    assert "seeded 10 personas: 10 created, 0 updated, 0 failed" in first.stdout
    assert (
        "✓ space Familie Weber (family) owner=persona.jonas@mana.test; created; joined: persona.mia@mana.test"
        in first.stdout
    )
    assert "5 shared spaces: 5 created, 5 members joined, 0 unchanged, 0 failed" in first.stdout
    assert first.stderr == ""
    _assert_catalog_is_live(system.db)
    assert all(system.can_log_in(p.email, SECRET) for p in CATALOG.personas)
    before = _counts(system.db)

    # Seeding again, and then with a rotated secret, through the pipeline functions the command
    # runs (in-process: the command's start-up is what makes these tests slow).
    seeded, spaces = _seed_in_process(system, SECRET)

    assert seeded.ok and seeded.created == [] and len(seeded.updated) == 10
    assert spaces.summary() == "5 shared spaces: 0 created, 0 members joined, 5 unchanged, 0 failed"
    assert _counts(system.db) == before

    seeded, spaces = _seed_in_process(system, ROTATED)

    assert seeded.ok and seeded.created == [] and spaces.ok
    assert all(system.can_log_in(p.email, ROTATED) for p in CATALOG.personas)
    assert not any(system.can_log_in(p.email, SECRET) for p in CATALOG.personas)
    assert _counts(system.db) == before


def test_a_server_error_for_one_persona_is_reported_and_the_others_are_seeded(
    tmp_path: Path,
) -> None:
    # The proxy needs no second backend: it is about what the command does with a 500.
    url = create_database("sqlite", tmp_path)
    failing = "persona.kai@mana.test"
    try:
        with (
            running_system(url) as system,
            BackgroundServer(failing_proxy_app(system.url, failing)) as proxy,
        ):
            env = _env(system, SECRET) | {"MANA_AUTH_URL": proxy.url}
            result = run_cli(["personas", "seed"], env=env, cwd=tmp_path)
            live = system.live_persona_emails()
    finally:
        drop_database(url)

    assert result.returncode == 1, result
    assert f"✗ {failing} (solo-dev): Internal Server Error (HTTP 500 http_error)" in result.stdout
    assert result.stdout.count("✓ persona.") == 9
    assert "seeded 10 personas: 9 created, 0 updated, 1 failed" in result.stdout
    # Kai's shared space cannot be set up; the other four are.
    assert f"✗ space Ship It Club (team): skipped: {failing} could not be seeded" in result.stdout
    assert "5 shared spaces: 4 created, 4 members joined, 0 unchanged, 1 failed" in result.stdout
    assert result.stderr.splitlines() == [
        f"failed: {failing}: Internal Server Error (HTTP 500 http_error)",
        f"failed: space Ship It Club: skipped: {failing} could not be seeded",
        "error: 2 failures; the rest was applied",
    ]
    assert live == {p.email for p in CATALOG.personas} - {failing}
