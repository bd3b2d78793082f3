"""README "Going live on PostgreSQL", run exactly as written: every step is a `mana` subprocess
against an empty PostgreSQL database, with the auth service started by `mana serve auth`."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from mana.kit.server import free_port
from mana.personas.catalog import load_catalog
from tests.fixtures.database import POSTGRES_ADMIN_DSN, Db, drop_database
from tests.personas.seed_support import CliResult, cli_env, mana_command, run_cli

ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "a-long-admin-password-1"
SEED_SECRET = "go-live-persona-seed-secret"
SERVICE_KEY = "go-live-service-key-0123456789abcdef"
SERVER_START_SECONDS = 120


async def _create_empty_database(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A PostgreSQL database with nothing in it: `mana db upgrade` is the first step."""
    name = f"mana_golive_{uuid.uuid4().hex[:10]}"
    asyncio.run(_create_empty_database(name))
    url = f"{POSTGRES_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    yield url
    drop_database(url)


def _wait_for_health(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mana serve auth exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    pytest.fail(f"mana serve auth did not become healthy:\n{log.read_text()}")


def test_going_live_on_postgresql_as_the_readme_says(empty_postgres: str, tmp_path: Path) -> None:
    port = free_port()
    auth_url = f"http://127.0.0.1:{port}"
    env = cli_env(
        MANA_ENV="production",
        MANA_DATABASE_URL=empty_postgres,
        MANA_SERVICE_KEY=SERVICE_KEY,
        PERSONA_SEED_SECRET=SEED_SECRET,
        MANA_AUTH_URL=auth_url,
        MANA_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )

    def step(*args: str) -> CliResult:
        result = run_cli(args, env=env, cwd=tmp_path)
        assert result.returncode == 0, result
        return result

    step("db", "upgrade")
    step("auth", "keys", "rotate")
    log = tmp_path / "auth.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [*mana_command(), "serve", "auth", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_health(auth_url, server, log)
        step("users", "create-admin", "--email", ADMIN_EMAIL)
        env["MANA_ADMIN_JWT"] = step("auth", "token", "--email", ADMIN_EMAIL).stdout.strip()
        seeded = step("personas", "seed")
    finally:
        server.terminate()
        server.wait(timeout=30)

    catalog = load_catalog()
    assert "seeded 10 personas: 10 created, 0 updated, 0 failed" in seeded.stdout
    assert "5 shared spaces: 5 created, 5 members joined, 0 unchanged, 0 failed" in seeded.stdout
    db = Db(empty_postgres)
    rows = db.fetch("SELECT email FROM auth.users WHERE kind = 'persona'")
    assert {r[0] for r in rows} == {p.email for p in catalog.personas}
    assert db.scalar("SELECT count(*) FROM auth.personas") == 10
    assert db.scalar("SELECT count(*) FROM auth.spaces WHERE type <> 'personal'") == 5
    assert server.returncode is not None
