"""Soak: `mana serve runner` for N minutes with personas due all the time; does its memory stay
flat? (issue 13: 98 → 259 MB in 10 minutes, ~67 KB per tick, from a list of every report.)

    python -m bench.soak_bench                       # 10 minutes, SQLite
    python -m bench.soak_bench --minutes 3 --backend postgres --personas 30 --concurrency 4

The auth service and the MCP server run in processes of their own; the runner is the real
`mana serve runner` command in another, so the RSS read from /proc is the runner's alone. Every
second, every persona that ticked is made due again (its `last_active_at` cleared), so the
runner never idles. Every `--sample-seconds` (30) the runner's RSS and the finished ticks are
sampled; the result is the least-squares slope of RSS against ticks, in MB per 1,000 ticks,
over all samples and over the second half (after the warm-up: imports, pools, caches).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.databases import postgres_database, sqlite_database
from bench.runner_bench import (
    SEED_SECRET,
    SERVICE_KEY,
    World,
    admin_token,
    start_server,
    stop_server,
)
from mana.clients.admin import AdminClient
from mana.db import create_engine
from mana.kit.server import free_port
from mana.personas.catalog import load_catalog
from mana.personas.contract import PersonaUpsert
from mana.personas.models import Persona, PersonaTick
from mana.personas.password import derive_persona_password


@dataclass
class Sample:
    seconds: float
    ticks: int
    rss_mb: float


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def slope_per_1000(samples: list[Sample]) -> float | None:
    """Least-squares slope of RSS (MB) against ticks, per 1,000 ticks."""
    if len(samples) < 2:
        return None
    xs = [s.ticks for s in samples]
    ys = [s.rss_mb for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 1000


def runner_command() -> list[str]:
    script = Path(sys.executable).with_name("mana")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mana.cli.main"]


def runner_env(world: World, concurrency: int, spool: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MANA_", "PERSONA_", "TICK_", "RUNNER_"))
    }
    env.update(
        {
            "MANA_AUTH_URL": world.auth.url,
            "MANA_MCP_URL": f"{world.mcp.url}/mcp",
            "MANA_SERVICE_KEY": SERVICE_KEY,
            "PERSONA_SEED_SECRET": SEED_SECRET,
            "PERSONA_CONCURRENCY": str(concurrency),
            "TICK_INTERVAL_MS": "200",
            "MANA_RUNNER_ID": f"soak-{uuid.uuid4().hex[:6]}",
            "MANA_RUNNER_SPOOL_DIR": str(spool),
        }
    )
    return env


async def create_personas(world: World, count: int) -> None:
    """`count` personas cut from the catalog's profiles (archetype, prompt, module mix)."""
    profiles = load_catalog().personas
    token = await admin_token(world)
    async with AdminClient(world.auth.url, token, concurrency=8) as client:

        async def one(n: int) -> None:
            profile = profiles[n % len(profiles)]
            email = f"soak.{n:04d}.{uuid.uuid4().hex[:6]}@mana.test"
            await client.upsert_persona(
                PersonaUpsert(
                    email=email,
                    name=profile.name,
                    password=derive_persona_password(email, SEED_SECRET),
                    archetype=profile.archetype,
                    system_prompt=profile.system_prompt,
                    module_mix=dict(profile.module_mix),
                )
            )

        await asyncio.gather(*(one(n) for n in range(count)))


def start_runner(
    world: World, args: argparse.Namespace, workdir: Path
) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    log = workdir / "runner.log"
    with log.open("wb") as sink:
        runner = subprocess.Popen(
            [*runner_command(), "serve", "runner", "--port", str(port)],
            env=runner_env(world, args.concurrency, workdir / "spool"),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return runner, port, log


async def soak(
    world: World, args: argparse.Namespace, runner: subprocess.Popen[bytes], port: int, log: Path
) -> list[Sample]:
    engine = create_engine(world.database_url)
    samples: list[Sample] = []

    async def finished_ticks() -> int:
        async with engine.connect() as connection:
            count = await connection.scalar(
                sa.select(sa.func.count()).where(PersonaTick.status != "running")
            )
            return int(count or 0)

    async def keep_due() -> None:
        while True:
            async with engine.begin() as connection:
                await connection.execute(
                    sa.update(Persona)
                    .where(Persona.last_active_at.is_not(None))
                    .values(last_active_at=None)
                )
            await asyncio.sleep(1)

    try:
        async with httpx.AsyncClient(timeout=5) as client:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                if runner.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the runner did not start; see {log}")
                await asyncio.sleep(0.2)
        due = asyncio.create_task(keep_due())
        started = time.monotonic()
        end = started + args.minutes * 60
        try:
            while True:
                sample = Sample(
                    seconds=time.monotonic() - started,
                    ticks=await finished_ticks(),
                    rss_mb=rss_mb(runner.pid),
                )
                samples.append(sample)
                print(
                    f"  {sample.seconds:6.0f}s  {sample.ticks:6d} ticks  {sample.rss_mb:7.1f} MB",
                    flush=True,
                )
                if time.monotonic() >= end or runner.poll() is not None:
                    break
                await asyncio.sleep(min(args.sample_seconds, max(0.0, end - time.monotonic())))
        finally:
            due.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await due
    finally:
        await engine.dispose()
    return samples


def run_backend(backend: str, database_url: str, args: argparse.Namespace) -> dict[str, object]:
    auth = start_server("auth", database_url)
    mcp = start_server("mcp", database_url, auth.url)
    world = World(backend=backend, database_url=database_url, auth=auth, mcp=mcp)
    try:
        asyncio.run(create_personas(world, args.personas))
        with tempfile.TemporaryDirectory(prefix="soak-") as directory:
            runner, port, log = start_runner(world, args, Path(directory))
            try:
                samples = asyncio.run(soak(world, args, runner, port, log))
            finally:
                runner.terminate()
                try:
                    runner.wait(60)
                except subprocess.TimeoutExpired:
                    runner.kill()
    finally:
        stop_server(mcp)
        stop_server(auth)
    half = samples[len(samples) // 2 :]
    result: dict[str, object] = {
        "backend": backend,
        "minutes": args.minutes,
        "personas": args.personas,
        "concurrency": args.concurrency,
        "ticks": samples[-1].ticks if samples else 0,
        "rss_first_mb": round(samples[0].rss_mb, 1) if samples else None,
        "rss_last_mb": round(samples[-1].rss_mb, 1) if samples else None,
        "rss_max_mb": round(max(s.rss_mb for s in samples), 1) if samples else None,
        "slope_mb_per_1000_ticks": _round(slope_per_1000(samples)),
        "slope_second_half_mb_per_1000_ticks": _round(slope_per_1000(half)),
    }
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--personas", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    print(
        f"soak: {args.minutes:g} min, {args.personas} personas, concurrency {args.concurrency}, "
        f"{args.backend}",
        flush=True,
    )
    if args.backend == "sqlite":
        with sqlite_database("soak") as url:
            result = run_backend("sqlite", url, args)
    else:
        with postgres_database("soak") as pg_url:
            if pg_url is None:
                raise SystemExit("PostgreSQL is not reachable")
            result = run_backend("postgres", pg_url, args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
