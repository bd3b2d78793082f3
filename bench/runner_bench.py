"""The persona runner with the scripted brain: persona-ticks per minute, and what the runner costs
per tool call beside the same calls made directly with the MCP client in the same run.

    python -m bench.runner_bench                     # ~3-4 min: SQLite, and PostgreSQL if reachable
    python -m bench.runner_bench --budget 5          # shorter rounds
    python -m bench.runner_bench --backends sqlite --personas 10,50 --concurrency 1,4

The auth service and the MCP server each run in a process of their own (uvicorn, as `mana serve`
runs them), so this process's CPU time is the runner's alone and the servers' CPU time is read
from /proc. One long-lived runner per backend, as `mana serve runner` keeps one: a warm-up pass
logs every persona in once, later ticks refresh their session instead (no password hash).

1. Ticks per minute. For each persona count (10 and 200) and concurrency (1, 2, 8), exactly that
   many personas are made due (the others were active just now) and the runner drains them with
   `Runner.drain()` — the loop's claim-as-slots-free-up path — for at most `--budget` seconds
   (a round that runs out of time cancels its in-flight ticks; only finished ok ticks count).

2. Overhead per tool call. Three times: 10 due personas ticked by the runner (concurrency 2),
   every call its ticks made (the brain's and the checks' reads, from the tick's records); then the same calls replayed by a bare MCP client — one session
   per persona with the persona's token and space, the same concurrency, tokens fetched before
   the clock starts. Per call: wall time, client CPU, server CPU (auth, MCP). The runner's extra
   is the brain, recording, the session refresh, claim/start/finish and posting the audit rows.
   The replay runs against the state the runner left (a second identical habit is refused, for
   example): the same requests, not always the same outcomes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import httpx2
import sqlalchemy as sa
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.databases import postgres_database, sqlite_database
from mana.auth.app import create_auth_app
from mana.auth.models import User
from mana.clients.admin import AdminClient
from mana.config import Settings
from mana.db import create_engine, create_sessionmaker, transaction
from mana.kit.server import free_port, uvicorn_config
from mana.mcp.app import create_mcp_app
from mana.personas.catalog import load_catalog
from mana.personas.contract import PersonaUpsert
from mana.personas.models import Persona
from mana.personas.password import derive_persona_password
from mana.runner.brains.scripted import ScriptedBrain
from mana.runner.loop import Runner
from mana.runner.service import build_runner
from mana.runner.tick import TickReport
from mana.runner.types import PersonaProfile

SERVICE_KEY = "bench-service-key-0123456789"
SEED_SECRET = "bench-persona-seed-secret"
ADMIN_PASSWORD = "bench-admin-password-0123"
OVERHEAD_PERSONAS = 10
OVERHEAD_CONCURRENCY = 2
OVERHEAD_PASSES = 3
WARM_UP_TICKS = 6


def bench_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "service_key": SERVICE_KEY,
        "persona_seed_secret": SEED_SECRET,
        # One client IP logs every persona in: the brute-force limits are not under test here.
        "login_rate_limit": 1_000_000,
        "login_rate_limit_per_client": 1_000_000,
        "tick_timeout_seconds": 120.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# ---------------------------------------------------------------- servers (child processes)


def serve(kind: str, port: int, database_url: str, auth_url: str) -> None:
    """Child process entry: one server, as `mana serve auth|mcp` runs it."""
    settings = bench_settings(database_url, auth_url=auth_url)
    app = create_auth_app(settings) if kind == "auth" else create_mcp_app(settings)
    # A round that runs out of time cancels ticks mid-request: the servers then log each
    # vanished client with a traceback (and aiosqlite leaves a close task pending). That is
    # expected here and would bury the figures, so the children only log what is critical.
    for name in ("asyncio", "mcp"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, log_level="critical")).run()


@dataclass
class ServerProcess:
    kind: str
    process: multiprocessing.process.BaseProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(kind: str, database_url: str, auth_url: str = "") -> ServerProcess:
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=serve, args=(kind, port, database_url, auth_url), daemon=True
    )
    process.start()
    server = ServerProcess(kind=kind, process=process, port=port)
    deadline = time.monotonic() + 90
    while True:
        if not process.is_alive():
            raise RuntimeError(f"{kind} server exited during start-up")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        if time.monotonic() > deadline:
            raise TimeoutError(f"{kind} server did not start within 90s")
        time.sleep(0.1)


def stop_server(server: ServerProcess) -> None:
    server.process.terminate()
    server.process.join(15)
    if server.process.is_alive():
        server.process.kill()


# ---------------------------------------------------------------- the world


@dataclass
class World:
    backend: str
    database_url: str
    auth: ServerProcess
    mcp: ServerProcess
    emails: list[str] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return bench_settings(
            self.database_url, auth_url=self.auth.url, mcp_url=f"{self.mcp.url}/mcp"
        )

    def server_cpu(self) -> tuple[float, float]:
        return self.auth.cpu_seconds(), self.mcp.cpu_seconds()


async def admin_token(world: World) -> str:
    email = f"bench.admin.{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": ADMIN_PASSWORD}
    async with httpx.AsyncClient(base_url=world.auth.url, timeout=30) as client:
        (await client.post("/api/v1/auth/register", json=body)).raise_for_status()
        engine = create_engine(world.database_url)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                await session.execute(
                    sa.update(User).where(User.email == email).values(role="admin")
                )
        finally:
            await engine.dispose()
        login = await client.post("/api/v1/auth/login", json=body)
        login.raise_for_status()
        return str(login.json()["token"])


async def create_personas(world: World, count: int) -> None:
    """`count` personas cut from the catalog's profiles (archetype, prompt, module mix)."""
    profiles = itertools.cycle(load_catalog().personas)
    token = await admin_token(world)
    async with AdminClient(world.auth.url, token, concurrency=8) as client:

        async def one(n: int) -> str:
            profile = next(profiles)
            email = f"bench.{n:04d}.{uuid.uuid4().hex[:6]}@mana.test"
            await client.upsert_persona(
                PersonaUpsert(
                    email=email,
                    name=profile.name,
                    password=derive_persona_password(email, SEED_SECRET),
                    archetype=profile.archetype,
                    system_prompt=profile.system_prompt,
                    module_mix=dict(profile.module_mix),
                    tick_cadence="daily",
                )
            )
            return email

        world.emails = list(await asyncio.gather(*(one(n) for n in range(count))))


async def make_due(world: World, emails: list[str]) -> None:
    """Exactly these personas are due: everyone else was active just now."""
    engine = create_engine(world.database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            ids = list(await session.scalars(sa.select(User.id).where(User.email.in_(emails))))
            await session.execute(
                sa.update(Persona).values(
                    last_active_at=datetime.now(UTC), leased_until=None, leased_by=None
                )
            )
            await session.execute(
                sa.update(Persona).where(Persona.user_id.in_(ids)).values(last_active_at=None)
            )
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- measuring


@dataclass
class Sample:
    wall: float
    runner_cpu: float
    auth_cpu: float
    mcp_cpu: float


@contextlib.contextmanager
def sampled(world: World) -> Iterator[list[Sample]]:
    """Wall time, this process's CPU and the servers' CPU over the `with` block."""
    out: list[Sample] = []
    auth0, mcp0 = world.server_cpu()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    yield out
    auth1, mcp1 = world.server_cpu()
    out.append(
        Sample(time.perf_counter() - wall0, time.process_time() - cpu0, auth1 - auth0, mcp1 - mcp0)
    )


@dataclass
class TickRow:
    backend: str
    personas: int
    concurrency: int
    finished: int
    ok: int
    calls: int
    sample: Sample

    @property
    def ticks_per_minute(self) -> float:
        return self.ok / self.sample.wall * 60


async def drain_round(runner: Runner, budget: float) -> list[TickReport]:
    with runner.collecting() as reports, contextlib.suppress(TimeoutError):
        # On time-out drain() is cancelled: it cancels its in-flight ticks and they post.
        await asyncio.wait_for(runner.drain(), budget)
    return reports


async def log_everyone_in(world: World, runner: Runner) -> None:
    limit = asyncio.Semaphore(8)

    async def one(email: str) -> None:
        profile = PersonaProfile(
            user_id=uuid.uuid4(), email=email, archetype="-", system_prompt="-", module_mix={}
        )
        async with limit:
            await runner.deps.auth.access_token(profile)

    await asyncio.gather(*(one(email) for email in world.emails))


async def tick_rounds(
    world: World, runner: Runner, counts: list[int], levels: list[int], budget: float
) -> list[TickRow]:
    rows = []
    for personas in counts:
        for concurrency in levels:
            await make_due(world, world.emails[:personas])
            runner.config.concurrency = concurrency
            with sampled(world) as sample:
                reports = await drain_round(runner, budget)
            ok = [r for r in reports if r.status == "ok"]
            row = TickRow(
                world.backend,
                personas,
                concurrency,
                len(reports),
                len(ok),
                sum(len(r.actions) for r in ok),
                sample[0],
            )
            print(
                f"  {world.backend} {personas:>4} personas x{concurrency}: {row.ok} ok ticks "
                f"in {row.sample.wall:.1f}s",
                flush=True,
            )
            rows.append(row)
    return rows


@dataclass
class OverheadRow:
    backend: str
    path: str
    calls: int
    sample: Sample

    def per_call_ms(self, seconds: float) -> float:
        return seconds / max(self.calls, 1) * 1000


@contextlib.asynccontextmanager
async def mcp_client(url: str, token: str, space: uuid.UUID | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    if space is not None:
        headers["X-Mana-Space"] = str(space)
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0))
    async with (
        http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        yield client


async def replay(
    world: World, reports: list[TickReport], calls: dict[str, list[tuple[str, dict[str, Any]]]]
) -> OverheadRow:
    """The runner's calls again, straight through the MCP client."""
    tokens = {}
    async with httpx.AsyncClient(base_url=world.auth.url, timeout=30) as client:
        for report in reports:
            email = report.persona.email
            body = {"email": email, "password": derive_persona_password(email, SEED_SECRET)}
            login = await client.post("/api/v1/auth/login", json=body)
            login.raise_for_status()
            tokens[email] = str(login.json()["token"])
    limit = asyncio.Semaphore(OVERHEAD_CONCURRENCY)

    async def one(report: TickReport) -> int:
        email = report.persona.email
        async with limit:
            space = report.space.id if report.space else None
            async with mcp_client(world.settings.mcp_url, tokens[email], space) as client:
                await client.list_tools()  # as the runner does: the tools on offer
                for name, arguments in calls[email]:
                    await client.call_tool(name, arguments)
        return len(calls[email])

    with sampled(world) as sample:
        made = await asyncio.gather(*(one(r) for r in reports))
    return OverheadRow(world.backend, "direct MCP client", sum(made), sample[0])


async def overhead_rounds(world: World, runner: Runner) -> list[OverheadRow]:
    runner_rows, direct_rows = [], []
    for n in range(OVERHEAD_PASSES):
        brain = ScriptedBrain()
        runner.brain_factory = lambda brain=brain: brain  # type: ignore[misc]
        start = n * OVERHEAD_PERSONAS
        await make_due(world, world.emails[start : start + OVERHEAD_PERSONAS])
        runner.config.concurrency = OVERHEAD_CONCURRENCY
        with sampled(world) as sample:
            reports = await drain_round(runner, 600)
        calls = sum(len(r.actions) for r in reports)
        runner_rows.append(OverheadRow(world.backend, "runner (scripted)", calls, sample[0]))
        # Every call the tick made (the brain's and the checks' reads), as it made them.
        made = {
            r.persona.email: [(a.tool_name, a.arguments or {}) for a in r.actions] for r in reports
        }
        direct_rows.append(await replay(world, reports, made))
    return [combine(runner_rows), combine(direct_rows)]


def combine(rows: list[OverheadRow]) -> OverheadRow:
    return OverheadRow(
        rows[0].backend,
        rows[0].path,
        sum(r.calls for r in rows),
        Sample(
            sum(r.sample.wall for r in rows),
            sum(r.sample.runner_cpu for r in rows),
            sum(r.sample.auth_cpu for r in rows),
            sum(r.sample.mcp_cpu for r in rows),
        ),
    )


# ---------------------------------------------------------------- report


def print_tick_table(rows: list[TickRow]) -> None:
    header = (
        f"{'backend':<9}{'personas':>9}{'conc':>6}{'ok ticks':>10}{'calls':>7}{'wall s':>8}"
        f"{'ticks/min':>11}{'vs conc 1':>10}{'runner CPU ms/tick':>20}{'server CPU ms/tick':>20}"
    )
    print("\npersona ticks per minute (scripted brain)")
    print(header)
    print("-" * len(header))
    base: dict[tuple[str, int], TickRow] = {}
    for row in rows:
        base.setdefault((row.backend, row.personas), row)
        first = base[(row.backend, row.personas)]
        ratio = row.ticks_per_minute / first.ticks_per_minute if first.ok else 0.0
        ticks = max(row.ok, 1)
        server = row.sample.auth_cpu + row.sample.mcp_cpu
        partial = "" if row.finished == row.personas else f"  (budget: {row.finished} finished)"
        print(
            f"{row.backend:<9}{row.personas:>9}{row.concurrency:>6}{row.ok:>10}{row.calls:>7}"
            f"{row.sample.wall:>8.1f}{row.ticks_per_minute:>11.0f}{ratio:>9.2f}x"
            f"{row.sample.runner_cpu / ticks * 1000:>20.1f}{server / ticks * 1000:>20.1f}"
            f"{partial}"
        )


def print_overhead_table(rows: list[OverheadRow]) -> None:
    header = (
        f"{'backend':<9}{'path':<20}{'calls':>7}{'wall ms/call':>14}{'client CPU':>12}"
        f"{'auth CPU':>10}{'MCP CPU':>9}   {'vs direct: wall':>15}{'client CPU':>12}"
        f"{'all CPU':>9}"
    )
    print(
        f"\noverhead per tool call: the runner vs the same calls straight through the MCP client "
        f"({OVERHEAD_PASSES} x {OVERHEAD_PERSONAS} personas, concurrency {OVERHEAD_CONCURRENCY};"
        " CPU in ms per call)"
    )
    print(header)
    print("-" * len(header))
    direct = {r.backend: r for r in rows if r.path.startswith("direct")}
    for row in rows:
        s, base = row.sample, direct[row.backend]
        total = s.runner_cpu + s.auth_cpu + s.mcp_cpu
        base_total = base.sample.runner_cpu + base.sample.auth_cpu + base.sample.mcp_cpu
        ratios = (
            ""
            if row is base
            else f"{row.per_call_ms(s.wall) / base.per_call_ms(base.sample.wall):>14.2f}x"
            f"{row.per_call_ms(s.runner_cpu) / base.per_call_ms(base.sample.runner_cpu):>11.2f}x"
            f"{row.per_call_ms(total) / base.per_call_ms(base_total):>8.2f}x"
        )
        print(
            f"{row.backend:<9}{row.path:<20}{row.calls:>7}{row.per_call_ms(s.wall):>14.2f}"
            f"{row.per_call_ms(s.runner_cpu):>12.2f}{row.per_call_ms(s.auth_cpu):>10.2f}"
            f"{row.per_call_ms(s.mcp_cpu):>9.2f}   {ratios}"
        )


# ---------------------------------------------------------------- main


async def bench_backend(
    world: World, counts: list[int], levels: list[int], budget: float
) -> tuple[list[TickRow], list[OverheadRow]]:
    await create_personas(world, max(max(counts), OVERHEAD_PASSES * OVERHEAD_PERSONAS))
    async with build_runner(world.settings, brain="scripted", runner_id="bench") as runner:
        # Warm-up (not measured): every persona logs in once, as happens once per persona in a
        # long-running runner; a few ticks warm the code paths.
        began = time.perf_counter()
        await log_everyone_in(world, runner)
        await make_due(world, world.emails[-WARM_UP_TICKS:])
        runner.config.concurrency = max(levels)
        await drain_round(runner, 600)
        print(f"  {world.backend}: warm-up {time.perf_counter() - began:.1f}s", flush=True)
        ticks = await tick_rounds(world, runner, counts, levels, budget)
        overhead = await overhead_rounds(world, runner)
    return ticks, overhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=10.0, help="max seconds per round")
    parser.add_argument("--personas", default="10,200", help="due personas per round")
    parser.add_argument("--concurrency", default="1,2,8", help="PERSONA_CONCURRENCY levels")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    counts = [int(n) for n in args.personas.split(",")]
    levels = [int(n) for n in args.concurrency.split(",")]
    began = time.perf_counter()
    tick_rows: list[TickRow] = []
    overhead_rows: list[OverheadRow] = []
    for backend in args.backends.split(","):
        with contextlib.ExitStack() as stack:
            make_db = sqlite_database if backend == "sqlite" else postgres_database
            url = stack.enter_context(make_db("mana-runner-bench"))
            if url is None:
                continue
            auth = start_server("auth", url)
            stack.callback(stop_server, auth)
            mcp = start_server("mcp", url, auth.url)
            stack.callback(stop_server, mcp)
            world = World(backend, url, auth, mcp)
            print(f"{backend}: servers up after {time.perf_counter() - began:.1f}s", flush=True)
            ticks, overhead = asyncio.run(bench_backend(world, counts, levels, args.budget))
            tick_rows += ticks
            overhead_rows += overhead
    print_tick_table(tick_rows)
    print_overhead_table(overhead_rows)
    print(
        f"\ntotal {time.perf_counter() - began:.0f}s; python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
