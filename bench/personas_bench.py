"""Admin persona API and action ingestion at scale, on PostgreSQL.

    python -m bench.personas_bench                      # 10,000 personas, 1,000,000 actions
    python -m bench.personas_bench --personas 1000 --actions 100000 --keep

Builds a throwaway database (COPY bulk load: users, personal spaces, personas, ticks, actions
over `--days` days, two ratings per tick), starts the real auth service on loopback and measures,
each beside the raw SQL of the same statement run through asyncpg in the same run, the two
alternating call by call (a ratio, because these machines are noisy):

  - GET /api/v1/admin/personas: one page (limit 50; first page and a page in the middle) and the
    full list (every page at limit 1000);
  - GET /api/v1/admin/personas/{id}, beside every statement the endpoint runs (the persona
    with its user and story, actions, ticks, feedback per module, observations);
  - POST /api/v1/internal/personas/{id}/actions in batches of 500 (rows/s), beside a raw
    `executemany` INSERT … ON CONFLICT DO NOTHING, one transaction per batch, alternated over
    `--ingest-rounds` rounds (the ratio is the median of the rounds' ratios).

`--database NAME` reuses a database kept by an earlier `--keep` run and skips the load. For quick
loops over the reads: `--ingest-batches 0 --skip-full-list`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import uvicorn
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from mana import migrate
from mana.auth.app import create_auth_app
from mana.auth.passwords import hash_password_sync
from mana.config import Settings
from mana.kit.pagination import encode_cursor
from mana.kit.server import free_port, uvicorn_config
from mana.personas import lifecycle

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVICE_KEY = "bench-service-key-0123456789"
ADMIN_EMAIL = "bench.admin@example.com"
ADMIN_PASSWORD = "bench-admin-password-1"
ARCHETYPES = [
    "adhd-student",
    "ceo-busy",
    "creative-parent",
    "solo-dev",
    "researcher",
    "freelancer",
    "overwhelmed-newbie",
]
MODULES = ["todo", "journal", "notes", "habits", "mood", "calendar", "contacts"]
TOOLS = [f"{m}.{v}" for m in MODULES for v in ("create", "list", "update")]
CADENCES = ["daily", "daily", "daily", "weekdays", "hourly"]
BATCH = 500


# --- output --------------------------------------------------------------------------------


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Timing:
    samples: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000


def report(name: str, api: Timing, raw: Timing, http_floor: Timing | None = None) -> None:
    say(
        f"  {name:<34} API median {api.median_ms:8.2f} ms (p95 {api.p95_ms:8.2f})   "
        f"raw SQL median {raw.median_ms:8.2f} ms (p95 {raw.p95_ms:8.2f})   "
        f"ratio {api.median_ms / raw.median_ms:5.2f}x"
    )
    if http_floor is not None:
        beyond = api.median_ms - http_floor.median_ms
        say(
            f"  {'':<34} beyond the HTTP floor {beyond:8.2f} ms = "
            f"{beyond / raw.median_ms:5.2f}x the raw SQL"
        )


async def timed(fn: Callable[[], Awaitable[Any]], iterations: int, warmup: int) -> Timing:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return Timing(samples)


async def timed_pair(
    api: Callable[[], Awaitable[Any]],
    raw: Callable[[], Awaitable[Any]],
    iterations: int,
    warmup: int,
) -> tuple[Timing, Timing]:
    """The API call and its raw baseline, one after the other in each iteration: on a shared
    machine a burst of load then hits both sides, not only one of them."""
    for _ in range(warmup):
        await api()
        await raw()
    api_samples, raw_samples = [], []
    for _ in range(iterations):
        start = time.perf_counter()
        await api()
        middle = time.perf_counter()
        await raw()
        api_samples.append(middle - start)
        raw_samples.append(time.perf_counter() - middle)
    return Timing(api_samples), Timing(raw_samples)


# --- database ------------------------------------------------------------------------------


def database_url(dsn: str, name: str) -> str:
    return f"{dsn.rsplit('/', 1)[0]}/{name}"


async def admin_execute(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def raw_sql(query: lifecycle.Query) -> tuple[str, list[Any]]:
    """The service's query exactly as it reaches asyncpg: SQL text plus positional parameters,
    so the baseline takes the same prepared-statement path without the service around it."""
    compiled = query.statement.compile(dialect=asyncpg_dialect.dialect())
    values = {**compiled.params, **query.params}
    return compiled.string, [values[name] for name in compiled.positiontup or []]


@dataclass
class Dataset:
    persona_ids: list[uuid.UUID]
    emails: list[str]


def _chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(total, start + size))


async def load(url: str, *, personas: int, actions: int, per_tick: int, days: int) -> Dataset:
    """COPY a realistic data set: each persona gets actions/personas actions, grouped into
    ticks of `per_tick` actions at random moments over the last `days` days."""
    rng = random.Random(42)
    now = datetime.now(UTC)
    password_hash = hash_password_sync("bench-persona-password")
    connection = await asyncpg.connect(url)
    started = time.perf_counter()
    try:
        ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(personas)]
        emails = [f"bench.{i:06d}@mana.test" for i in range(personas)]
        created = now - timedelta(days=days + 1)
        await connection.copy_records_to_table(
            "users",
            schema_name="auth",
            columns=[
                "id",
                "email",
                "name",
                "password_hash",
                "email_verified",
                "kind",
                "access_tier",
                "role",
                "created_at",
                "updated_at",
            ],
            records=[
                (
                    i,
                    e,
                    f"Bench {n}",
                    password_hash,
                    True,
                    "persona",
                    "founder",
                    "user",
                    created,
                    created,
                )
                for n, (i, e) in enumerate(zip(ids, emails, strict=True))
            ],
        )
        space_ids = [uuid.uuid4() for _ in ids]
        await connection.copy_records_to_table(
            "spaces",
            schema_name="auth",
            columns=["id", "name", "type", "personal_owner_id", "created_at"],
            records=[
                (s, f"Bench {n}", "personal", i, created)
                for n, (s, i) in enumerate(zip(space_ids, ids, strict=True))
            ],
        )
        await connection.copy_records_to_table(
            "space_members",
            schema_name="auth",
            columns=["space_id", "user_id", "role", "created_at"],
            records=[(s, i, "owner", created) for s, i in zip(space_ids, ids, strict=True)],
        )
        await connection.copy_records_to_table(
            "personas",
            schema_name="auth",
            columns=[
                "user_id",
                "archetype",
                "system_prompt",
                "module_mix",
                "tick_cadence",
                "last_active_at",
                "created_at",
                "updated_at",
            ],
            records=[
                (
                    i,
                    rng.choice(ARCHETYPES),
                    "You are a benchmark persona who uses the product every day.",
                    json.dumps({m: rng.randint(0, 5) + 1 for m in rng.sample(MODULES, 3)}),
                    rng.choice(CADENCES),
                    now - timedelta(hours=rng.uniform(0, 48)),
                    created,
                    created,
                )
                for i in ids
            ],
        )
        say(f"  loaded {personas:,} users/personas/spaces in {time.perf_counter() - started:.1f}s")

        per_persona = max(1, actions // personas)
        ticks_per_persona = max(1, per_persona // per_tick)
        window = days * 24 * 3600.0
        done = 0
        for chunk in _chunks(personas, 500):
            ticks, action_rows, feedback_rows = [], [], []
            for n in chunk:
                persona_id = ids[n]
                for t in range(ticks_per_persona):
                    tick_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                    start = now - timedelta(seconds=rng.uniform(0, window))
                    count = per_tick if t < ticks_per_persona - 1 else per_persona - per_tick * t
                    ticks.append(
                        (
                            tick_id,
                            persona_id,
                            "bench-runner",
                            "scripted",
                            space_ids[n],
                            "ok",
                            start,
                            start + timedelta(seconds=count * 2),
                            count,
                            0,
                            "bench tick",
                            json.dumps({"tokens": 0, "cost": 0}),
                        )
                    )
                    for seq in range(count):
                        tool = rng.choice(TOOLS)
                        ok = rng.random() > 0.05
                        action_rows.append(
                            (
                                persona_id,
                                tick_id,
                                seq,
                                tool,
                                hashlib.sha256(f"{tick_id}{seq}".encode()).hexdigest(),
                                "ok" if ok else "error",
                                None if ok else "boom",
                                rng.randint(3, 400),
                                start + timedelta(seconds=seq * 2),
                            )
                        )
                    for module in rng.sample(MODULES, 2):
                        feedback_rows.append(
                            (persona_id, tick_id, module, rng.randint(1, 5), None, start)
                        )
            await connection.copy_records_to_table(
                "persona_ticks",
                schema_name="auth",
                columns=[
                    "id",
                    "persona_id",
                    "runner_id",
                    "brain",
                    "space_id",
                    "status",
                    "started_at",
                    "finished_at",
                    "tool_calls",
                    "errors",
                    "summary",
                    "usage",
                ],
                records=ticks,
            )
            await connection.copy_records_to_table(
                "persona_actions",
                schema_name="auth",
                columns=[
                    "persona_id",
                    "tick_id",
                    "seq",
                    "tool_name",
                    "input_hash",
                    "result",
                    "error_message",
                    "latency_ms",
                    "created_at",
                ],
                records=action_rows,
            )
            await connection.copy_records_to_table(
                "persona_feedback",
                schema_name="auth",
                columns=["persona_id", "tick_id", "module", "rating", "notes", "created_at"],
                records=feedback_rows,
            )
            done += len(action_rows)
        elapsed = time.perf_counter() - started
        say(f"  loaded {done:,} actions in {elapsed:.1f}s ({done / elapsed:,.0f} rows/s overall)")
        await connection.execute(
            "INSERT INTO auth.users (id, email, name, password_hash, email_verified, kind, "
            "access_tier, role, created_at, updated_at) "
            "VALUES ($1, $2, 'Bench Admin', $3, true, 'human', 'public', 'admin', $4, $4)",
            uuid.uuid4(),
            ADMIN_EMAIL,
            hash_password_sync(ADMIN_PASSWORD),
            now,
        )
        # As autovacuum would after the appends (DESIGN §6: index-only scans need it).
        for table in ("users", "personas", "persona_ticks", "persona_actions", "persona_feedback"):
            await connection.execute(f"VACUUM ANALYZE auth.{table}")
        say(f"  vacuumed and analysed; total load {time.perf_counter() - started:.1f}s")
    finally:
        await connection.close()
    return Dataset(persona_ids=ids, emails=emails)


async def existing_dataset(url: str) -> Dataset:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT p.user_id, u.email FROM auth.personas p JOIN auth.users u "
            "ON u.id = p.user_id ORDER BY u.email"
        )
    finally:
        await connection.close()
    return Dataset(persona_ids=[r[0] for r in rows], emails=[r[1] for r in rows])


# --- measurements --------------------------------------------------------------------------


async def measure_reads(
    base_url: str, url: str, data: Dataset, *, iterations: int, explain: bool, full_list: bool
) -> None:
    rng = random.Random(7)
    connection = await asyncpg.connect(url)
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as anonymous:
        login = await anonymous.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    try:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as client:

            async def me() -> None:
                (await client.get("/api/v1/auth/me")).raise_for_status()

            async def health() -> None:
                (await client.get("/health")).raise_for_status()

            # What any HTTP answer of this service costs (client, uvicorn, middleware, one
            # `SELECT 1`): not a baseline, a reading aid. The reads below print how much of
            # their time lies beyond it, beside the raw SQL.
            http_floor = await timed(health, iterations, warmup=10)
            say(
                f"  {'GET /health (HTTP floor)':<34} API median {http_floor.median_ms:8.2f} ms "
                f"(p95 {http_floor.p95_ms:8.2f})   httpx + uvicorn + middleware + SELECT 1"
            )
            floor = await timed(me, iterations, warmup=10)
            say(
                f"  {'GET /auth/me (per-request floor)':<34} API median {floor.median_ms:8.2f} ms "
                f"(p95 {floor.p95_ms:8.2f})   token check + user lookup + transaction, no work"
            )
            middle = data.emails[len(data.emails) // 2]
            for label, after in (
                ("one page (limit 50, first)", None),
                ("one page (limit 50, middle)", middle),
            ):
                params: dict[str, Any] = {"limit": 50}
                if after is not None:
                    params["cursor"] = encode_cursor({"email": after})

                async def api_page(params: dict[str, Any] = params) -> None:
                    response = await client.get("/api/v1/admin/personas", params=params)
                    response.raise_for_status()

                sql, args = raw_sql(
                    lifecycle.list_query(now=datetime.now(UTC), limit=51, after_email=after)
                )

                async def raw_page(sql: str = sql, args: list[Any] = args) -> None:
                    await connection.fetch(sql, *args)

                api, raw = await timed_pair(api_page, raw_page, iterations, warmup=10)
                report(f"GET /admin/personas {label}", api, raw, http_floor)
                if explain:
                    await _explain(connection, sql, args)

            if full_list:
                await _measure_full_list(client, connection, data, iterations, explain=explain)

            targets = [rng.choice(data.persona_ids) for _ in range(iterations)]
            api_targets = iter(targets)
            # Compiled before timing: the baseline is the database work, not SQLAlchemy's.
            raw_targets = iter(
                [[raw_sql(query) for query in lifecycle.detail_queries(t)] for t in targets]
            )

            async def api_detail() -> None:
                response = await client.get(f"/api/v1/admin/personas/{next(api_targets)}")
                response.raise_for_status()

            async def raw_detail() -> None:
                for sql, args in next(raw_targets):
                    await connection.fetch(sql, *args)

            warm = min(10, iterations)
            api, raw = await timed_pair(api_detail, raw_detail, iterations - warm, warmup=warm)
            report("GET /admin/personas/{id}", api, raw, http_floor)
    finally:
        await connection.close()


async def _measure_full_list(
    client: httpx.AsyncClient,
    connection: asyncpg.Connection,
    data: Dataset,
    iterations: int,
    *,
    explain: bool,
) -> None:
    async def api_full() -> None:
        cursor = None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            response = await client.get("/api/v1/admin/personas", params=params)
            response.raise_for_status()
            cursor = response.json()["nextCursor"]
            if cursor is None:
                return

    pages = [None, *data.emails[999::1000]][: (len(data.emails) + 999) // 1000]
    statements = [
        raw_sql(lifecycle.list_query(now=datetime.now(UTC), limit=1001, after_email=a))
        for a in pages
    ]

    async def raw_full() -> None:
        for sql, args in statements:
            await connection.fetch(sql, *args)

    full_iterations = max(3, iterations // 20)
    api, raw = await timed_pair(api_full, raw_full, full_iterations, warmup=1)
    report(f"GET /admin/personas full ({len(pages)} pages)", api, raw)
    one_sql, one_args = raw_sql(
        lifecycle.list_query(now=datetime.now(UTC), limit=len(data.emails) + 1)
    )

    async def raw_one() -> None:
        await connection.fetch(one_sql, *one_args)

    single = await timed(raw_one, full_iterations, warmup=1)
    say(f"  {'(raw: whole list as one statement)':<34} raw SQL median {single.median_ms:8.2f} ms")
    if explain:
        await _explain(connection, one_sql, one_args)


async def _explain(connection: asyncpg.Connection, sql: str, args: list[Any]) -> None:
    rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
    for row in rows:
        say(f"      {row[0]}")


def _action_rows(tick_id: uuid.UUID, start: datetime) -> list[dict[str, Any]]:
    return [
        {
            "tickId": str(tick_id),
            "seq": seq,
            "toolName": TOOLS[seq % len(TOOLS)],
            "inputHash": hashlib.sha256(f"{tick_id}{seq}".encode()).hexdigest(),
            "result": "ok",
            "latencyMs": 20 + seq % 50,
            "createdAt": (start + timedelta(milliseconds=seq)).isoformat(),
        }
        for seq in range(BATCH)
    ]


RAW_INSERT = (
    "INSERT INTO auth.persona_actions (persona_id, tick_id, seq, tool_name, input_hash, "
    "result, error_message, latency_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
    "$8, $9) ON CONFLICT (tick_id, seq) DO NOTHING"
)


async def measure_ingest(
    base_url: str, url: str, data: Dataset, *, batches: int, clients: int, rounds: int
) -> None:
    """Rows/s through the API (1 client, then `clients` at once) beside a raw asyncpg
    `executemany` of the same rows, one transaction per batch, into fresh ticks — alternated
    over `rounds` so machine noise hits both alike; the ratio is the median of the rounds'."""
    if batches < 1:
        say("  (ingest not measured: --ingest-batches 0)")
        return
    rng = random.Random(11)
    headers = {"X-Service-Key": SERVICE_KEY}
    now = datetime.now(UTC)
    per_round = max(1, batches // rounds)
    connection = await asyncpg.connect(url)
    try:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as client:

            async def api_jobs(count: int) -> list[tuple[uuid.UUID, dict[str, Any]]]:
                """One tick per batch, started through the API (not timed)."""
                jobs = []
                for _ in range(count):
                    persona_id = rng.choice(data.persona_ids)
                    response = await client.post(
                        f"/api/v1/internal/personas/{persona_id}/ticks",
                        json={"runnerId": "bench", "brain": "scripted"},
                    )
                    response.raise_for_status()
                    tick_id = uuid.UUID(response.json()["tickId"])
                    jobs.append((persona_id, {"actions": _action_rows(tick_id, now)}))
                return jobs

            async def api_rate(concurrency: int) -> float:
                queue = await api_jobs(per_round)
                total = len(queue)

                async def worker() -> None:
                    while queue:
                        persona_id, body = queue.pop()
                        response = await client.post(
                            f"/api/v1/internal/personas/{persona_id}/actions", json=body
                        )
                        response.raise_for_status()
                        assert response.json()["inserted"] == BATCH, response.text

                start = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                return total * BATCH / (time.perf_counter() - start)

            async def raw_rate() -> float:
                jobs = []
                for _ in range(per_round):
                    persona_id = rng.choice(data.persona_ids)
                    tick_id = uuid.uuid4()
                    await connection.execute(
                        "INSERT INTO auth.persona_ticks (id, persona_id, runner_id, brain, "
                        "status, started_at, tool_calls, errors) VALUES ($1, $2, 'bench', "
                        "'scripted', 'running', $3, 0, 0)",
                        tick_id,
                        persona_id,
                        now,
                    )
                    jobs.append(
                        [
                            (
                                persona_id,
                                tick_id,
                                row["seq"],
                                row["toolName"],
                                row["inputHash"],
                                "ok",
                                None,
                                row["latencyMs"],
                                now + timedelta(milliseconds=row["seq"]),
                            )
                            for row in _action_rows(tick_id, now)
                        ]
                    )
                start = time.perf_counter()
                for rows in jobs:
                    async with connection.transaction():
                        await connection.executemany(RAW_INSERT, rows)
                return len(jobs) * BATCH / (time.perf_counter() - start)

            one: list[float] = []
            many: list[float] = []
            raw: list[float] = []
            for _ in range(rounds):
                one.append(await api_rate(1))
                raw.append(await raw_rate())
                many.append(await api_rate(clients))
    finally:
        await connection.close()
    raw_median = statistics.median(raw)
    say(
        f"  {'raw executemany (500/batch)':<34} raw {raw_median:10,.0f} rows/s (median of {rounds})"
    )
    for label, rates in (("1 client", one), (f"{clients} clients", many)):
        ratios = [api / base for api, base in zip(rates, raw, strict=True)]
        say(
            f"  {'POST actions (500/batch, ' + label + ')':<34} API {statistics.median(rates):10,.0f}"
            f" rows/s   ratio to raw {statistics.median(ratios):5.2f}"
            f" (rounds {', '.join(f'{r:.2f}' for r in ratios)})"
        )


# --- server --------------------------------------------------------------------------------


def _serve(url: str, port: int) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=url, service_key=SERVICE_KEY, env="development"
    )
    uvicorn.Server(uvicorn_config(create_auth_app(settings), host="127.0.0.1", port=port)).run()


@contextmanager
def auth_server(url: str) -> Iterator[str]:
    """The auth service in a process of its own: in a thread of this process it would share
    the GIL with the benchmark's client and inflate every API figure."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(url, port))
    process.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if not process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the auth service did not start")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.join(15)


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--personas", type=int, default=10_000)
    parser.add_argument("--actions", type=int, default=1_000_000)
    parser.add_argument("--actions-per-tick", type=int, default=10)
    parser.add_argument("--days", type=int, default=30, help="spread actions over this many days")
    parser.add_argument("--iterations", type=int, default=200, help="samples per latency figure")
    parser.add_argument("--ingest-batches", type=int, default=200, help="500-row batches")
    parser.add_argument("--ingest-clients", type=int, default=4)
    parser.add_argument(
        "--ingest-rounds", type=int, default=5, help="API/raw alternations for ingest"
    )
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="PostgreSQL server (admin database)")
    parser.add_argument("--database", help="reuse this already loaded database (skip the load)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--explain", action="store_true", help="print the list query plans")
    parser.add_argument(
        "--skip-full-list", action="store_true", help="leave out the full list (every page)"
    )
    args = parser.parse_args(argv)

    name = args.database or f"mana_bench_{uuid.uuid4().hex[:10]}"
    url = database_url(args.dsn, name)
    say(f"personas bench on {url}")
    created = args.database is None
    if created:
        asyncio.run(admin_execute(args.dsn, f'CREATE DATABASE "{name}"'))
    try:
        if created:
            migrate.upgrade(url)
            data = asyncio.run(
                load(
                    url,
                    personas=args.personas,
                    actions=args.actions,
                    per_tick=args.actions_per_tick,
                    days=args.days,
                )
            )
        else:
            data = asyncio.run(existing_dataset(url))
        say(f"data: {len(data.persona_ids):,} personas")
        with auth_server(url) as base_url:
            say(f"auth service on {base_url} (one uvicorn worker, its own process)")
            asyncio.run(
                measure_reads(
                    base_url,
                    url,
                    data,
                    iterations=args.iterations,
                    explain=args.explain,
                    full_list=not args.skip_full_list,
                )
            )
            asyncio.run(
                measure_ingest(
                    base_url,
                    url,
                    data,
                    batches=args.ingest_batches,
                    clients=args.ingest_clients,
                    rounds=args.ingest_rounds,
                )
            )
    finally:
        if created and not args.keep:
            asyncio.run(admin_execute(args.dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        elif created:
            say(f"kept database {name} (reuse with --database {name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
