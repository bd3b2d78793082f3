"""`mana simulate` over the catalog: wall time and ticks/s of a 14-day simulation, beside the
plain runner ticking the same catalog in the same kind of process in the same run.

    python -m bench.simulate_bench                       # ~3-6 min: SQLite, and PostgreSQL if reachable
    python -m bench.simulate_bench --days 3 --backends sqlite

Both sides are a process of their own with the auth and MCP servers in-process (threads) and
the runner on its event loop, as `mana simulate` and `mana demo` run them:

1. simulation: `mana simulate --days N --json` (embedded; `--database-url` for PostgreSQL),
   timed from the first slot to the last (`wallSeconds`), and as a whole process.
2. baseline: `Runner.tick_by_email` ticks every catalog persona, `--rounds` times, concurrency
   4 — live ticks with no slots, no simulated clock, no shared-space ordering.

The ratio (simulation ticks/s ÷ baseline ticks/s) is what playing days in order costs: slots
run one after another, and personas that share a space never tick side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench.databases import postgres_database, sqlite_database
from mana.auth.app import create_auth_app
from mana.cli.demo import ensure_admin, seed_catalog
from mana.config import Settings
from mana.kit.server import BackgroundServer
from mana.mcp.app import create_mcp_app
from mana.personas.catalog import load_catalog
from mana.runner.service import build_runner, seed_secret

BASELINE_CONCURRENCY = 4


def _simulation(days: int, database_url: str | None) -> dict[str, Any]:
    args = [sys.executable, "-m", "mana.cli.main", "simulate", "--days", str(days), "--json"]
    if database_url is not None:
        args += ["--database-url", database_url]
    with tempfile.TemporaryDirectory(prefix="simulate-bench-") as cwd:
        started = time.perf_counter()
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
        process_seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mana simulate failed ({done.returncode}):\n{done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout)
    figures["processSeconds"] = process_seconds
    return figures


def _baseline_child(database_url: str, rounds: int) -> None:
    """Runs in its own process (`--baseline-child`): prints one JSON line."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, persona_concurrency=BASELINE_CONCURRENCY
    )
    catalog = load_catalog()
    secret = seed_secret(settings)
    with BackgroundServer(create_auth_app(settings)) as auth:
        settings = settings.model_copy(update={"auth_url": auth.url})
        with BackgroundServer(create_mcp_app(settings)) as mcp:
            settings = settings.model_copy(update={"mcp_url": f"{mcp.url}/mcp"})
            asyncio.run(ensure_admin(settings))
            asyncio.run(seed_catalog(settings, catalog, secret))

            async def tick_rounds() -> tuple[int, int, float]:
                emails = [p.email for p in catalog.personas]
                async with build_runner(settings, brain="scripted", runner_id="bench") as runner:
                    started = time.perf_counter()
                    with runner.collecting() as reports:
                        for _ in range(rounds):
                            await runner.tick_by_email(emails)
                    seconds = time.perf_counter() - started
                ok = sum(1 for r in reports if not r.failed)
                return len(reports), ok, seconds

            ticks, ok, seconds = asyncio.run(tick_rounds())
    print(json.dumps({"ticks": ticks, "ok": ok, "seconds": seconds}))


def _baseline(database_url: str, rounds: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.simulate_bench", "--baseline-child", database_url]
    done = subprocess.run(
        [*args, "--rounds", str(rounds)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"baseline failed ({done.returncode}):\n{done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _report(backend: str, sim: dict[str, Any], base: dict[str, Any]) -> None:
    base_rate = base["ok"] / base["seconds"] if base["seconds"] else 0.0
    sim_rate = sim["ticksPerSecond"]
    print(
        f"{backend:<8} simulation: {sim['days']} days, {sim['ticks']} ticks, "
        f"{sim['toolCalls']} tool calls, {sim['failedTicks']} failed; "
        f"{sim['wallSeconds']:.1f} s playing, {sim['processSeconds']:.1f} s in all; "
        f"{sim_rate:.2f} ticks/s"
    )
    print(
        f"{'':<8} baseline:   {base['ok']}/{base['ticks']} live ticks in {base['seconds']:.1f} s; "
        f"{base_rate:.2f} ticks/s  -> simulation at {sim_rate / base_rate:.2f}x the plain runner"
        if base_rate
        else f"{'':<8} baseline: no ticks"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--rounds", type=int, default=5, help="baseline: ticks per persona")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--baseline-child", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child:
        _baseline_child(args.baseline_child, args.rounds)
        return
    backends = args.backends.split(",")
    if "sqlite" in backends:
        sim = _simulation(args.days, None)  # the default: a fresh .mana/simulate.db
        with sqlite_database("simulate-bench") as url:
            base = _baseline(url, args.rounds)
        _report("sqlite", sim, base)
    if "postgres" in backends:
        with postgres_database("simulate_bench") as url:
            if url is None:
                return
            sim = _simulation(args.days, url)
        with postgres_database("simulate_bench_base") as url:
            assert url is not None
            base = _baseline(url, args.rounds)
        _report("postgres", sim, base)


if __name__ == "__main__":
    main()
