"""Do the personas notice? The catalog's ten personas live several days against a clean build
and against each fault class of the MCP server's development fault mode (MANA_FAULTS); per
fault: the rating drop of the module it hits against clean, the share of that module's notes
and observations that name it, and false alarms on the modules it leaves alone.

    python -m bench.detection_bench                  # 6 days, SQLite, the scripted brain (~5 min)
    python -m bench.detection_bench --days 6 --backend postgres

Floor (issue 10): every fault class drops its module's mean rating by at least 0.5 against
clean and is named in most of its notes; no untouched module drops by 0.5 or more. The exit
status is 1 when the floor is not met.

Each scenario gets a fresh database and servers in this process. Days pass on one clock shared
by the MCP server (item ages, "hide older") and the runner (its day, its memory); every persona
is ticked once per day by email. The auth service keeps real time because the tokens it signs
are checked against the wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.databases import postgres_database, sqlite_database
from mana.auth.app import create_auth_app
from mana.auth.models import User
from mana.clients.admin import AdminClient
from mana.clients.seed import seed_personas
from mana.clients.spaces import setup_shared_spaces
from mana.config import Settings
from mana.db import create_engine, create_sessionmaker, transaction
from mana.kit.clock import OffsetClock
from mana.kit.server import BackgroundServer
from mana.mcp.app import create_mcp_app
from mana.personas.catalog import load_catalog
from mana.runner.brains.scripted import ScriptedBrain
from mana.runner.service import build_runner
from mana.runner.tick import TickReport

SERVICE_KEY = "bench-service-key-0123456789"
SEED_SECRET = "bench-persona-seed-secret"
ADMIN_PASSWORD = "bench-admin-password-0123"
FLOOR_DROP = 0.5


@dataclass(frozen=True)
class FaultClass:
    name: str
    module: str
    rule: dict[str, Any]
    # The observation kinds that name this fault, and a tool of it the notes must cite.
    kinds: tuple[str, ...]
    tools: tuple[str, ...]


FAULTS = [
    FaultClass(
        "error",
        "todo",
        {"tool": "todo.*", "fault": "error", "rate": 0.5, "message": "Something went wrong"},
        ("error", "unclear_error"),
        ("todo.",),
    ),
    FaultClass(
        "latency",
        "calendar",
        {"tool": "calendar.list", "fault": "latency", "latencyMs": 1500},
        ("slow",),
        ("calendar.list",),
    ),
    FaultClass(
        "noop_write",
        "todo",
        {"tool": "todo.complete", "fault": "noop_write"},
        ("not_applied",),
        ("todo.",),
    ),
    FaultClass(
        "hide_older",
        "journal",
        {"tool": "journal.*", "fault": "hide_older", "olderThanSeconds": 86400},
        ("missing",),
        ("journal.",),
    ),
    FaultClass(
        "foreign_items",
        "notes",
        {"tool": "notes.list", "fault": "foreign_items", "count": 1},
        ("unexpected_item",),
        ("notes.list",),
    ),
]


def settings_for(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "service_key": SERVICE_KEY,
        "persona_seed_secret": SEED_SECRET,
        "login_rate_limit": 1_000_000,
        "login_rate_limit_per_client": 1_000_000,
        "tick_timeout_seconds": 120.0,
        "persona_concurrency": 2,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# --- one scenario ------------------------------------------------------------------------------


@dataclass
class Rated:
    day: int
    email: str
    module: str
    rating: int
    notes: str
    kinds: list[str]


@dataclass
class Outcome:
    ratings: list[Rated] = field(default_factory=list)
    observations: list[tuple[int, str, str, str]] = field(
        default_factory=list
    )  # day, module, kind, tool
    failed_ticks: int = 0
    seconds: float = 0.0


async def admin_token(auth_url: str, database_url: str) -> str:
    email = f"bench.admin.{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": ADMIN_PASSWORD}
    async with httpx.AsyncClient(base_url=auth_url, timeout=30) as client:
        (await client.post("/api/v1/auth/register", json=body)).raise_for_status()
        engine = create_engine(database_url)
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


@contextlib.contextmanager
def servers(database_url: str, rules: Path, clock: OffsetClock) -> Iterator[tuple[str, str]]:
    auth = BackgroundServer(create_auth_app(settings_for(database_url))).start()
    try:
        mcp_settings = settings_for(
            database_url, auth_url=auth.url, faults=str(rules), faults_check_seconds=0
        )
        mcp = BackgroundServer(create_mcp_app(mcp_settings, clock=clock)).start()
        try:
            yield auth.url, f"{mcp.url}/mcp"
        finally:
            mcp.stop()
    finally:
        auth.stop()


async def live_days(
    database_url: str, rule: dict[str, Any] | None, days: int, workdir: Path
) -> Outcome:
    catalog = load_catalog()
    rules = workdir / f"faults-{uuid.uuid4().hex[:6]}.json"
    rules.write_text(json.dumps({"seed": 1, "rules": [rule] if rule else []}), encoding="utf-8")
    clock = OffsetClock()
    outcome = Outcome()
    started = time.perf_counter()
    with servers(database_url, rules, clock) as (auth_url, mcp_url):
        token = await admin_token(auth_url, database_url)
        async with AdminClient(auth_url, token) as client:
            seeded = await seed_personas(client, catalog, secret=SEED_SECRET)
            assert seeded.ok, seeded.summary()
            spaces = await setup_shared_spaces(client, catalog, secret=SEED_SECRET)
            assert spaces.ok, spaces.summary()
        emails = [p.email for p in catalog.personas]
        settings = settings_for(database_url, auth_url=auth_url, mcp_url=mcp_url)
        brain = ScriptedBrain(catalog)
        for day in range(1, days + 1):
            async with build_runner(settings, brain=brain, clock=clock) as runner:
                reports, unclaimed = await runner.tick_by_email(emails)
            assert not unclaimed, unclaimed
            record(outcome, day, reports)
            clock.advance(timedelta(days=1))
    outcome.seconds = time.perf_counter() - started
    return outcome


def record(outcome: Outcome, day: int, reports: list[TickReport]) -> None:
    for report in reports:
        if report.failed:
            outcome.failed_ticks += 1
        for o in report.observations:
            outcome.observations.append((day, o.module, o.kind, o.tool_name or ""))
        for r in report.ratings:
            kinds = [o.kind for o in report.observations if o.module == r.module]
            outcome.ratings.append(
                Rated(day, report.persona.email, r.module, r.rating, r.notes, kinds)
            )


# --- figures -----------------------------------------------------------------------------------


def mean_by_module(outcome: Outcome) -> dict[str, float]:
    by: dict[str, list[int]] = {}
    for r in outcome.ratings:
        by.setdefault(r.module, []).append(r.rating)
    return {m: statistics.fmean(v) for m, v in by.items()}


@dataclass
class Verdict:
    fault: FaultClass
    drop: float
    notes_named: float
    complaints: int
    observations_named: float
    observations: int
    false_alarms: list[tuple[str, float]]

    @property
    def ok(self) -> bool:
        return self.drop >= FLOOR_DROP and self.notes_named > 0.5 and not self.false_alarms


def names_fault(rated: Rated, fault: FaultClass) -> bool:
    """The note cites the fault's tool and the day's observations for the module include its
    kind (the note's reason is the worst of them)."""
    return any(k in fault.kinds for k in rated.kinds) and any(t in rated.notes for t in fault.tools)


def judge(fault: FaultClass, clean: Outcome, faulty: Outcome) -> Verdict:
    before, after = mean_by_module(clean), mean_by_module(faulty)
    drop = before.get(fault.module, 5.0) - after.get(fault.module, 5.0)
    complaints = [r for r in faulty.ratings if r.module == fault.module and r.rating < 5]
    named = [r for r in complaints if names_fault(r, fault)]
    seen = [o for o in faulty.observations if o[1] == fault.module]
    seen_named = [o for o in seen if o[2] in fault.kinds]
    false_alarms = [
        (module, before[module] - after.get(module, before[module]))
        for module in sorted(before)
        if module != fault.module
        and before[module] - after.get(module, before[module]) >= FLOOR_DROP
    ]
    return Verdict(
        fault=fault,
        drop=drop,
        notes_named=len(named) / len(complaints) if complaints else 0.0,
        complaints=len(complaints),
        observations_named=len(seen_named) / len(seen) if seen else 0.0,
        observations=len(seen),
        false_alarms=false_alarms,
    )


def print_report(clean: Outcome, verdicts: list[Verdict], days: int) -> None:
    clean_means = mean_by_module(clean)
    print(
        f"\nclean build, {days} days: {len(clean.ratings)} ratings, "
        f"{len(clean.observations)} observations, {clean.failed_ticks} failed ticks"
    )
    print(
        "  mean rating by module: "
        + ", ".join(f"{m} {v:.2f}" for m, v in sorted(clean_means.items()))
    )
    clean_kinds: dict[str, int] = {}
    for _, module, kind, _ in clean.observations:
        clean_kinds[f"{kind}/{module}"] = clean_kinds.get(f"{kind}/{module}", 0) + 1
    if clean_kinds:
        print(
            "  observations on clean: "
            + ", ".join(f"{k} {n}" for k, n in sorted(clean_kinds.items()))
        )
    print(
        f"\n{'fault':<14} {'module':<9} {'drop':>6} {'notes naming it':>17} "
        f"{'observations naming it':>24}  false alarms (untouched modules dropping >= 0.5)"
    )
    for v in verdicts:
        alarms = ", ".join(f"{m} -{d:.2f}" for m, d in v.false_alarms) or "none"
        print(
            f"{v.fault.name:<14} {v.fault.module:<9} {v.drop:>6.2f} "
            f"{v.notes_named:>8.0%} of {v.complaints:<5} {v.observations_named:>14.0%} of {v.observations:<5}  "
            f"{alarms}  {'ok' if v.ok else 'BELOW FLOOR'}"
        )


def run(days: int, backend: str) -> int:
    logging.basicConfig(level=logging.ERROR)
    database = sqlite_database if backend == "sqlite" else postgres_database
    with tempfile.TemporaryDirectory(prefix="detection-") as tmp:
        workdir = Path(tmp)
        outcomes: dict[str, Outcome] = {}
        for name, rule in [("clean", None), *((f.name, f.rule) for f in FAULTS)]:
            with database("detection") as url:
                if url is None:
                    print("no database", file=sys.stderr)
                    return 2
                # Migrations run their own event loop: each scenario gets a loop of its own.
                outcomes[name] = asyncio.run(live_days(url, rule, days, workdir))
            print(
                f"{name:<14} {len(outcomes[name].ratings)} ratings, "
                f"{len(outcomes[name].observations)} observations, "
                f"{outcomes[name].failed_ticks} failed ticks, {outcomes[name].seconds:.0f} s",
                flush=True,
            )
    verdicts = [judge(f, outcomes["clean"], outcomes[f.name]) for f in FAULTS]
    print_report(outcomes["clean"], verdicts, days)
    return 0 if all(v.ok for v in verdicts) else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    sys.exit(run(args.days, args.backend))


if __name__ == "__main__":
    main()
