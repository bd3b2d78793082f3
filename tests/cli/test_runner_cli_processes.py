"""Runner processes as they run in production, each test on a database of its own (a runner
claims every due persona): two `mana runner tick --once` side by side share the work without
overlap; `mana serve runner` killed with SIGKILL loses nothing it posted, its tick is closed
`abandoned` and its persona ticks again at once when it restarts, or within one short lease on
another runner; SIGTERM winds a tick down and exits 0; `mana serve all` runs the
three services together and Ctrl-C (SIGINT) stops them with exit 0."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest

from mana.kit.server import free_port
from mana.personas.password import derive_persona_password
from mana.runner.tick import TickReport
from tests.fixtures.database import Db, create_database
from tests.fixtures.personas import persona_body, sql_id
from tests.fixtures.runner import (
    HABITS_ONLY,
    RUN_TIMEOUT_SECONDS,
    HangingHabitLog,
    RunnerWorld,
    backend_of,
    fresh_world,
    in_process_runner,
    wait_until,
)
from tests.fixtures.servers import (
    DEFAULT_PASSWORD,
    TEST_SEED_SECRET,
    TEST_SERVICE_KEY,
    unique_email,
)
from tests.personas.seed_support import cli_env, mana_command, run_cli_concurrently

TICK_TIMEOUT_SECONDS = 120
# The lease the test runners take (MANA_RUNNER_LEASE_SECONDS): the bound on how long a dead
# runner's persona waits for another runner.
LEASE_SECONDS = 10
# SIGTERM: uvicorn's graceful stop, then the runner's 10 s grace for in-flight ticks, then the
# cancelled tick posts. Generous for a loaded machine.
STOP_BOUND_SECONDS = 60


@contextmanager
def serving(
    args: list[str], *, env: dict[str, str], cwd: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A `mana serve …` process, its output in a file (a pipe nobody reads could fill up and
    block it). Killed at the end if the test did not stop it."""
    log = cwd / f"{args[1]}-{free_port()}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*mana_command(), *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_two_runner_processes_tick_each_due_persona_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    with fresh_world(backend_of(database_url), tmp_path) as world:
        personas = dict(world.create_persona() for _ in range(20))
        env = world.cli_env(PERSONA_CONCURRENCY="4")
        command = ["runner", "tick", "--once"]

        results = run_cli_concurrently([(command, env), (command, env)], cwd=tmp_path)

        for result in results:
            assert result.returncode == 0, result
        for persona_id in personas:
            assert world.tick_statuses(persona_id) == ["ok"], persona_id
        ticked = sum(r.stdout.count(": ok, ") for r in results)
        assert ticked == len(personas)


@pytest.fixture
def hanging() -> Iterator[HangingHabitLog]:
    tool = HangingHabitLog()
    yield tool
    tool.released.set()


@pytest.fixture
def hanging_world(
    database_url: str, tmp_path: Path, hanging: HangingHabitLog
) -> Iterator[RunnerWorld]:
    with fresh_world(backend_of(database_url), tmp_path, tools=hanging.tools()) as world:
        yield world


@dataclass
class MidTick:
    process: subprocess.Popen[bytes]
    persona_id: str
    email: str
    tick_id: object
    runner_id: str


def runner_env(world: RunnerWorld) -> dict[str, str]:
    return world.cli_env(
        TICK_INTERVAL_MS="100",
        MANA_TICK_TIMEOUT_SECONDS=str(TICK_TIMEOUT_SECONDS),
        MANA_RUNNER_LEASE_SECONDS=str(LEASE_SECONDS),
        # Audit rows leave the runner within 0.2 s of the call (the default is 5 s).
        MANA_RUNNER_ACTION_BATCH_SECONDS="0.2",
    )


@contextmanager
def runner_mid_tick(
    world: RunnerWorld, hanging: HangingHabitLog, tmp_path: Path
) -> Iterator[MidTick]:
    """`mana serve runner` with one due persona, caught in the middle of its tick (inside the
    hanging habits.log, after a habit was created)."""
    persona_id, email = world.create_persona(module_mix=HABITS_ONLY)
    env = runner_env(world)
    port = free_port()
    with serving(["serve", "runner", "--port", str(port)], env=env, cwd=tmp_path) as (
        process,
        log,
    ):
        assert hanging.entered.wait(60), log.read_text()
        (tick,) = wait_until(lambda: world.ticks(persona_id), what="the tick row")
        assert tick.status == "running"
        # The calls made before the hang are on the server while the tick still runs.
        # (the look back at what the persona remembers, then the brain's list and create)
        wait_until(lambda: len(world.actions(tick.id)) == 3, what="the streamed audit rows")
        assert healthy(f"http://127.0.0.1:{port}")
        yield MidTick(process, persona_id, email, tick.id, tick.runner_id)


def test_a_runner_killed_mid_tick_gets_its_persona_back_at_once_when_it_restarts(
    hanging_world: RunnerWorld, hanging: HangingHabitLog, tmp_path: Path
) -> None:
    world = hanging_world
    with runner_mid_tick(world, hanging, tmp_path) as caught:
        caught.process.send_signal(signal.SIGKILL)
        assert caught.process.wait(timeout=30) == -signal.SIGKILL

    (tick,) = world.ticks(caught.persona_id)
    assert tick.status == "running"
    assert world.lease(caught.persona_id)[1] == caught.runner_id
    assert world.api.claim("another-runner") == []  # still leased: nobody else takes it

    # The same command in the same folder: the same runner id, no clock advanced.
    hanging.released.set()
    with serving(
        ["serve", "runner", "--port", str(free_port())], env=runner_env(world), cwd=tmp_path
    ) as (_, log):
        wait_until(
            lambda: world.tick_statuses(caught.persona_id) == ["abandoned", "ok"],
            timeout=30,
            what=f"the old tick closed and a new one done ({log})",
        )
    old, new = world.ticks(caught.persona_id)
    assert old.id == tick.id and old.finished_at is not None
    assert "restarted" in old.error_message and old.runner_id == new.runner_id
    # What it did before the kill is in the audit, and counted on the closed tick.
    assert [(a.tool_name, a.result) for a in world.actions(old.id)] == [
        ("habits.list", "ok"),
        ("habits.list", "ok"),
        ("habits.create", "ok"),
    ]
    assert old.tool_calls == 3
    # The habit made before the kill was found again, not created twice.
    assert next(a.tool_name for a in world.actions(new.id)) == "habits.list"
    assert len(world.rows_created_by("app.habits", caught.persona_id)) == 1
    assert world.lease(caught.persona_id) == (None, None)


def test_a_killed_runners_persona_goes_to_another_runner_after_one_short_lease(
    hanging_world: RunnerWorld, hanging: HangingHabitLog, tmp_path: Path
) -> None:
    world = hanging_world
    with runner_mid_tick(world, hanging, tmp_path) as caught:
        caught.process.send_signal(signal.SIGKILL)
        assert caught.process.wait(timeout=30) == -signal.SIGKILL

    # A heartbeat the runner sent just before it died may still be on its way through the
    # server (seen on a loaded machine): wait until the lease stops moving, then go one lease
    # past it (on the auth service's clock), not the tick timeout: due again.
    settled_lease(world, caught.persona_id)
    world.auth.clock.advance(timedelta(seconds=LEASE_SECONDS + 1))
    hanging.released.set()
    report = asyncio.run(claim_then_tick(world, caught.email))

    assert report.status == "ok"
    old, new = world.ticks(caught.persona_id)
    assert (old.id, old.status) == (caught.tick_id, "abandoned")
    assert "lease ran out" in old.error_message
    assert [a.tool_name for a in world.actions(old.id)] == [
        "habits.list",
        "habits.list",
        "habits.create",
    ]
    assert new.status == "ok" and new.runner_id != caught.runner_id
    assert [a.tool_name for a in world.actions(new.id)] == [a.tool_name for a in report.actions]
    assert len(world.rows_created_by("app.habits", caught.persona_id)) == 1
    assert len(world.rows_created_by("app.habit_logs", caught.persona_id)) == 1
    assert world.lease(caught.persona_id) == (None, None)


def settled_lease(world: RunnerWorld, persona_id: str, *, quiet_seconds: float = 0.5) -> None:
    seen = world.lease(persona_id)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(quiet_seconds)
        now = world.lease(persona_id)
        if now == seen:
            return
        seen = now
    raise AssertionError(f"the lease kept moving after the runner died: {seen}")


async def claim_then_tick(world: RunnerWorld, email: str) -> TickReport:
    """Claim as a due persona (any due one: this world has only this persona) at the advanced
    time, then tick at real time again — the MCP server checks token times against the wall
    clock, and the auth service would otherwise sign tokens from the future."""
    async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
        async with in_process_runner(world.settings()) as runner:
            claimed = await runner.internal.claim(
                runner_id=runner.runner_id, limit=10, lease_seconds=runner.config.lease_seconds
            )
            assert [p.email for p in claimed] == [email]
            world.auth.clock.reset()
            runner.start(claimed[0])
            (done,) = await asyncio.gather(*runner.in_flight)
            assert done is not None
            return done


def test_sigterm_mid_tick_finishes_the_tick_releases_the_lease_and_exits_0(
    hanging_world: RunnerWorld, hanging: HangingHabitLog, tmp_path: Path
) -> None:
    world = hanging_world
    with runner_mid_tick(world, hanging, tmp_path) as caught:
        caught.process.send_signal(signal.SIGTERM)
        assert caught.process.wait(timeout=STOP_BOUND_SECONDS) == 0

    (tick,) = world.ticks(caught.persona_id)
    assert (tick.status, tick.error_message) == ("error", "runner shut down during the tick")
    assert [(a.tool_name, a.result) for a in world.actions(tick.id)] == [
        ("habits.list", "ok"),  # the tick's look back at what the persona remembers
        ("habits.list", "ok"),
        ("habits.create", "ok"),
        ("habits.log", "error"),
    ]
    assert world.lease(caught.persona_id) == (None, None)


def create_persona_over_http(auth_url: str, db: Db) -> str:
    """An admin (registered, then promoted in the database) creates one persona."""
    admin = unique_email("admin")
    with httpx.Client(base_url=auth_url, timeout=30) as client:
        body = {"email": admin, "password": DEFAULT_PASSWORD}
        assert client.post("/api/v1/auth/register", json=body).status_code == 201
        db.execute("UPDATE auth.users SET role = 'admin' WHERE email = :e", e=admin)
        token = client.post("/api/v1/auth/login", json=body).json()["token"]
        persona = persona_body(moduleMix={"mood": 1})
        persona["password"] = derive_persona_password(persona["email"], TEST_SEED_SECRET)
        created = client.post(
            "/api/v1/admin/personas", json=persona, headers={"Authorization": f"Bearer {token}"}
        )
    assert created.status_code == 200, created.text
    return str(created.json()["userId"])


def test_serve_all_runs_auth_mcp_and_runner_together_and_ctrl_c_stops_it_with_exit_0(
    tmp_path: Path,
) -> None:
    url = create_database("sqlite", tmp_path)  # a runner claims every due persona: a db of its own
    ports = {name: free_port() for name in ("auth", "mcp", "runner")}
    env = cli_env(
        MANA_DATABASE_URL=url,
        MANA_SERVICE_KEY=TEST_SERVICE_KEY,
        PERSONA_SEED_SECRET=TEST_SEED_SECRET,
        TICK_INTERVAL_MS="200",
        # Ignored by `serve all`: its runner talks to the servers it started itself.
        MANA_AUTH_URL="http://127.0.0.1:9",
        MANA_MCP_URL="http://127.0.0.1:9/mcp",
    )
    args = ["serve", "all", *(f"--{name}-port={port}" for name, port in ports.items())]
    with serving(args, env=env, cwd=tmp_path) as (process, log):
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name, base in urls.items():
            wait_until(partial(healthy, base), what=f"{name} health ({log})")
        assert httpx.get(f"{urls['runner']}/health", timeout=5).json()["paused"] is False

        # A persona made through this process's admin API is ticked by its runner.
        db = Db(url)
        persona = sql_id(db, create_persona_over_http(urls["auth"], db))
        status = "SELECT status FROM auth.persona_ticks WHERE persona_id = :p"
        wait_until(lambda: db.scalar(status, p=persona) == "ok", what=f"the tick ({log})")

        process.send_signal(signal.SIGINT)  # Ctrl-C, as a developer stops it
        assert process.wait(timeout=STOP_BOUND_SECONDS) == 0, log.read_text()
    for base in urls.values():
        assert not healthy(base)
