"""Findings at scale on PostgreSQL: the admin findings API beside the raw SQL of its queries.

    python -m bench.findings_bench                      # 10,000 personas, 1,000,000 actions, 90 days
    python -m bench.findings_bench --personas 1000 --actions 100000 --iterations 5

Loads a throwaway database with COPY (the personas bench's loader: users, personas, ticks,
actions, two ratings per tick, spread over `--days` days), then makes it realistic for findings:
failure messages that carry ids, numbers and dates (so clustering has work to do), a note on a
third of the ratings, an observation on 2% of the ticks. The auth service runs in a process of
its own. Each figure is beside the raw SQL of the same statements: captured from the service as
SQLAlchemy sends them to asyncpg, replayed through a plain asyncpg connection in the same run
(a ratio, because these machines are noisy):

  - GET /api/v1/admin/findings?days=14 and ?days=90 (overview of every module);
  - GET /api/v1/admin/findings/modules/todo?days=14 and ?days=90 (one module's series).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bench.databases import DEFAULT_DSN, postgres_database
from bench.personas_bench import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    MODULES,
    auth_server,
    load,
    report,
    say,
    timed,
)
from mana.db import create_engine, create_sessionmaker, transaction
from mana.findings import service

KINDS = ["missing", "changed", "not_applied", "unexpected_item", "unclear_error", "error", "slow"]


async def make_realistic(url: str) -> None:
    connection = await asyncpg.connect(url)
    started = time.perf_counter()
    try:
        await connection.execute(
            """
            UPDATE auth.persona_actions SET error_message = CASE id % 4
                WHEN 0 THEN split_part(tool_name, '.', 1) || ' ' || gen_random_uuid() || ' not found'
                WHEN 1 THEN 'title must not be empty'
                WHEN 2 THEN 'due date ' || (date '2026-01-01' + (id % 300)::int) || ' is in the past'
                ELSE 'storage timeout after ' || (id % 9000) || ' ms'
            END
            WHERE result = 'error'
            """
        )
        await connection.execute(
            "UPDATE auth.persona_feedback SET notes = 'rated ' || rating || ': ' || module "
            "|| ' did what I asked, mostly' WHERE id % 3 = 0"
        )
        await connection.execute(
            """
            INSERT INTO auth.persona_observations
                (persona_id, tick_id, seq, kind, module, evidence, created_at)
            SELECT persona_id, id, 0,
                   ($1::text[])[1 + abs(hashtext(id::text)) % 7],
                   ($2::text[])[1 + abs(hashtext(id::text || 'm')) % 7],
                   'bench observation', started_at
            FROM auth.persona_ticks WHERE abs(hashtext(id::text)) % 50 = 0
            """,
            KINDS,
            MODULES,
        )
        for table in ("persona_actions", "persona_feedback", "persona_observations"):
            await connection.execute(f"VACUUM ANALYZE auth.{table}")
    finally:
        await connection.close()
    say(
        f"  failures, notes and observations made realistic in {time.perf_counter() - started:.1f}s"
    )


async def captured_statements(
    url: str, work: Callable[[AsyncSession], Awaitable[Any]]
) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements `work` sends, exactly as asyncpg receives them (SQL text + parameters)."""
    engine = create_engine(url)
    statements: list[tuple[str, tuple[Any, ...]]] = []

    def capture(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        # The findings' statements (and their SET LOCAL), not the dialect's start-up queries.
        if "auth." in sql or sql.startswith("SET LOCAL"):
            statements.append((sql, tuple(params or ())))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            await work(session)
    finally:
        await engine.dispose()
    return statements


async def measure(base_url: str, url: str, *, iterations: int) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as anonymous:
        login = await anonymous.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    connection = await asyncpg.connect(url)
    try:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=300) as client:
            for days in (14, 90):
                cases: list[tuple[str, str, Callable[[AsyncSession], Awaitable[Any]]]] = [
                    (
                        f"GET /admin/findings?days={days}",
                        f"/api/v1/admin/findings?days={days}",
                        lambda s, d=days: service.overview(s, now=datetime.now(UTC), days=d),
                    ),
                    (
                        f"GET /findings/modules/todo?days={days}",
                        f"/api/v1/admin/findings/modules/todo?days={days}",
                        lambda s, d=days: service.module_findings(
                            s, module="todo", now=datetime.now(UTC), days=d
                        ),
                    ),
                ]
                for label, path, work in cases:
                    statements = await captured_statements(url, work)

                    async def api(path: str = path) -> None:
                        (await client.get(path)).raise_for_status()

                    async def raw(
                        statements: list[tuple[str, tuple[Any, ...]]] = statements,
                    ) -> None:
                        # One transaction, as the API's request has (SET LOCAL needs it).
                        async with connection.transaction():
                            for sql, params in statements:
                                await connection.fetch(sql, *params)

                    api_timing = await timed(api, iterations, warmup=2)
                    raw_timing = await timed(raw, iterations, warmup=2)
                    report(label, api_timing, raw_timing)
                    say(f"      ({len(statements)} statements)")
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--personas", type=int, default=10_000)
    parser.add_argument("--actions", type=int, default=1_000_000)
    parser.add_argument("--actions-per-tick", type=int, default=10)
    parser.add_argument(
        "--days", type=int, default=90, help="spread the history over this many days"
    )
    parser.add_argument("--iterations", type=int, default=20, help="samples per figure")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="PostgreSQL server (admin database)")
    args = parser.parse_args(argv)

    with postgres_database("findings-bench", args.dsn) as url:
        if url is None:
            say("findings bench needs PostgreSQL; skipped")
            return 0
        say(f"findings bench on {url}")
        asyncio.run(
            load(
                url,
                personas=args.personas,
                actions=args.actions,
                per_tick=args.actions_per_tick,
                days=args.days,
            )
        )
        asyncio.run(make_realistic(url))
        with auth_server(url) as base_url:
            say(f"auth service on {base_url} (one uvicorn worker, its own process)")
            asyncio.run(measure(base_url, url, iterations=args.iterations))
    return 0


if __name__ == "__main__":
    sys.exit(main())
