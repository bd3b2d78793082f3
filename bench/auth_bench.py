"""Login throughput and access-token verification, each beside a baseline measured in the same run.

    python -m bench.auth_bench                      # ~40 s: SQLite, and PostgreSQL if reachable
    python -m bench.auth_bench --seconds 8 --clients 1 8 --backends postgres

Logins/s: the real auth service (uvicorn in a background thread, as the tests run it) on a
throwaway database; N client *processes* (httpx, one account each) log in in a closed loop. A
login is bounded by its argon2id verification, so the baseline is a bare argon2 loop with the
service's own hasher on N threads: the ratio says how much of the hasher's capacity the service
turns into logins (1.0 would be "the HTTP, the database and the token cost nothing").

Token verifications/s: `mana.auth.tokens.verify_access_token` (the one verifier: header checks,
key lookup by kid, EdDSA signature, claims) beside a bare PyJWT `jwt.decode` of the same token
with the same key, one thread each, interleaved in rounds so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mana import migrate
from mana.auth.app import create_auth_app
from mana.auth.keys import LoadedKey
from mana.auth.models import User
from mana.auth.passwords import hash_password_sync
from mana.auth.tokens import issue_access_token, verify_access_token
from mana.config import Settings
from mana.kit.server import BackgroundServer

POSTGRES_ADMIN_DSN = os.environ.get(
    "MANA_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "bench-password-correct-horse-1"
ISSUER, AUDIENCE = "mana-auth", "mana"
START_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class LoginResult:
    rate: Rate
    errors: int
    latencies: list[float]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95_ms(self) -> float:
        return self.latencies[int(0.95 * (len(self.latencies) - 1))] * 1000

    def __add__(self, other: LoginResult) -> LoginResult:
        return LoginResult(
            rate=Rate(self.rate.count + other.rate.count, self.rate.seconds + other.rate.seconds),
            errors=self.errors + other.errors,
            latencies=sorted(self.latencies + other.latencies),
        )


# --- databases ------------------------------------------------------------------------------


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def postgres_reachable() -> bool:
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"PostgreSQL not reachable ({type(exc).__name__}); SQLite only")
        return False
    return True


@contextmanager
def throwaway_database(backend: str) -> Iterator[str]:
    """A migrated, empty database that is gone afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="mana-bench-") as directory:
            url = f"sqlite:///{Path(directory) / 'bench.db'}"
            migrate.upgrade(url)
            yield url
        return
    name = f"mana_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{POSTGRES_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- logins ---------------------------------------------------------------------------------


def _login_client(
    url: str,
    email: str,
    seconds: float,
    barrier: BarrierType,
    results: Any,  # multiprocessing.Queue; its generic type is not importable at runtime
) -> None:
    """One client process: connect, wait for the others, log in in a closed loop."""
    latencies: list[float] = []
    errors = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        client.get("/health").raise_for_status()  # connection set up off the clock
        barrier.wait(START_TIMEOUT_SECONDS)
        start = time.monotonic()
        deadline = start + seconds
        while (now := time.monotonic()) < deadline:
            response = client.post(
                "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
            )
            if response.status_code == 200:
                latencies.append(time.monotonic() - now)
            else:
                errors += 1
        results.put((start, time.monotonic(), latencies, errors))


def measure_logins(url: str, emails: list[str], seconds: float) -> LoginResult:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(emails) + 1)
    results = context.Queue()
    clients = [
        context.Process(target=_login_client, args=(url, email, seconds, barrier, results))
        for email in emails
    ]
    for process in clients:
        process.start()
    barrier.wait(START_TIMEOUT_SECONDS)
    outcomes = [results.get(timeout=seconds + START_TIMEOUT_SECONDS) for _ in clients]
    for process in clients:
        process.join(30)
    start = min(o[0] for o in outcomes)
    end = max(o[1] for o in outcomes)
    latencies = sorted(latency for o in outcomes for latency in o[2])
    errors = sum(o[3] for o in outcomes)
    if not latencies:
        raise RuntimeError(f"no successful login ({errors} errors)")
    return LoginResult(rate=Rate(len(latencies), end - start), errors=errors, latencies=latencies)


def measure_argon2(threads: int, seconds: float) -> Rate:
    """The baseline: the service's hasher (same argon2id parameters), hashing on N threads.
    argon2-cffi releases the GIL while hashing, so threads run in parallel as the server's do."""
    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)
    bounds: list[float] = []

    def work(index: int) -> None:
        barrier.wait()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            hash_password_sync(PASSWORD)
            counts[index] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    bounds.append(time.monotonic())
    for worker in workers:
        worker.join()
    bounds.append(time.monotonic())
    return Rate(sum(counts), bounds[1] - bounds[0])


def bench_settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        env="development",
        # The limiter would (rightly) stop a client that logs in thousands of times a minute.
        login_rate_limit_per_client=10**9,
    )


def login_rows(
    backend: str, concurrency: list[int], seconds: float, rounds: int
) -> list[list[str]]:
    rows: list[list[str]] = []
    with (
        throwaway_database(backend) as url,
        BackgroundServer(create_auth_app(bench_settings(url))) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        emails = [f"bench.{i}.{uuid.uuid4().hex[:8]}@example.com" for i in range(max(concurrency))]
        for email in emails:
            client.post(
                "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
            ).raise_for_status()
        for clients in concurrency:
            # In `rounds` turns, each with the baseline before and after, halves of the same
            # length: load that drifts during the run (these machines are shared, and one
            # measurement swung the ratio from 0.4 to 1.3) then weighs on both sides.
            hashes, logins = Rate(0, 0.0), LoginResult(Rate(0, 0.0), 0, [])
            for _ in range(rounds):
                turn = seconds / rounds
                before = measure_argon2(clients, turn / 2)
                logins += measure_logins(server.url, emails[:clients], turn)
                after = measure_argon2(clients, turn / 2)
                hashes = Rate(
                    hashes.count + before.count + after.count,
                    hashes.seconds + before.seconds + after.seconds,
                )
            rows.append(
                [
                    f"logins/s, {clients} client process{'es' if clients > 1 else ''}",
                    backend,
                    f"{logins.rate.per_second:,.1f}",
                    f"argon2 hashes/s, {clients} thread{'s' if clients > 1 else ''}",
                    f"{hashes.per_second:,.1f}",
                    f"{logins.rate.per_second / hashes.per_second:.2f}",
                ]
            )
            rows.append(
                [
                    "  login latency p50 / p95 (ms)",
                    backend,
                    f"{logins.p50_ms:.0f} / {logins.p95_ms:.0f}",
                    f"errors: {logins.errors}",
                    "",
                    "",
                ]
            )
    return rows


# --- token verification ---------------------------------------------------------------------


def verification_rows(seconds: float, rounds: int = 3) -> list[list[str]]:
    private_key = Ed25519PrivateKey.generate()
    public_key = private_key.public_key()
    key = LoadedKey(
        kid="bench-key", private_key=private_key, public_key=public_key, public_jwk={}, signing=True
    )
    user = User(
        id=uuid.uuid4(),
        email="bench@example.com",
        name="Bench",
        kind="human",
        access_tier="public",
        role="user",
    )
    token = issue_access_token(
        user,
        key=key,
        issuer=ISSUER,
        audience=AUDIENCE,
        now=datetime.now(UTC),
        ttl=timedelta(minutes=15),
    )

    async def key_for_kid(kid: str) -> Ed25519PublicKey | None:
        return public_key if kid == key.kid else None

    async def verify_loop(round_seconds: float) -> Rate:
        count, start = 0, time.perf_counter()
        deadline = start + round_seconds
        while time.perf_counter() < deadline:
            for _ in range(100):
                await verify_access_token(
                    token, key_for_kid=key_for_kid, issuer=ISSUER, audience=AUDIENCE
                )
            count += 100
        return Rate(count, time.perf_counter() - start)

    def bare_loop(round_seconds: float) -> Rate:
        count, start = 0, time.perf_counter()
        deadline = start + round_seconds
        while time.perf_counter() < deadline:
            for _ in range(100):
                jwt.decode(
                    token, public_key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER
                )
            count += 100
        return Rate(count, time.perf_counter() - start)

    ours, bare = Rate(0, 0.0), Rate(0, 0.0)
    for _ in range(rounds):
        b = bare_loop(seconds / rounds)
        o = asyncio.run(verify_loop(seconds / rounds))
        bare = Rate(bare.count + b.count, bare.seconds + b.seconds)
        ours = Rate(ours.count + o.count, ours.seconds + o.seconds)
    return [
        [
            "token verifications/s, 1 thread",
            "-",
            f"{ours.per_second:,.0f}",
            "PyJWT jwt.decode/s, 1 thread",
            f"{bare.per_second:,.0f}",
            f"{ours.per_second / bare.per_second:.2f}",
        ]
    ]


# --- report ---------------------------------------------------------------------------------

HEADER = ["measurement", "backend", "value", "baseline (same run)", "baseline", "ratio"]


def print_table(rows: list[list[str]]) -> None:
    table = [HEADER, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    right = {2, 4, 5}
    for n, row in enumerate(table):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/login alternations")
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[1, 2 * (os.cpu_count() or 1)],
        help="concurrent logins, one measurement per value (1 shows the scaling)",
    )
    parser.add_argument(
        "--backends", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"]
    )
    args = parser.parse_args(argv)

    backends = [
        b for b in args.backends if b == "sqlite" or (b == "postgres" and postgres_reachable())
    ]
    print(
        f"auth bench: {'/'.join(map(str, args.clients))} clients, "
        f"{args.seconds:g} s per measurement, "
        f"{os.cpu_count()} CPUs, backends: {', '.join(backends)}",
        flush=True,
    )
    rows: list[list[str]] = []
    for backend in backends:
        rows += login_rows(backend, args.clients, args.seconds, args.rounds)
    rows += verification_rows(args.seconds)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
