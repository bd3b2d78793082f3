"""`mana simulate`: days of persona life in minutes (logic: `mana.runner.simulate`).

This module checks the input and prints the result; the running part (`cli/simulate_run.py`)
is imported only once the input is valid, so a bad `--days` is answered at once instead of
after seconds of importing the web, database and MCP stack (the reason `cli/main.py` loads
command groups lazily too).
"""

from __future__ import annotations

import importlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from mana.cli.common import console, err_console, fail, load_settings
from mana.config import ProductionConfigError, Settings
from mana.personas.catalog import Catalog, CatalogError, load_catalog
from mana.personas.contract import MAX_SIMULATED_OFFSET
from mana.personas.password import SeedSecretError, resolve_seed_secret
from mana.runner.brains import BRAINS
from mana.runner.simulate.plan import (
    DEFAULT_HOURLY_CAP,
    MAX_DAYS,
    SimulationError,
    default_start,
    plan_slots,
)
from mana.runner.simulate.summary import SimulationSummary

BAD_INPUT = 2

app = typer.Typer()


def _parse_start(value: str | None, days: int) -> date:
    today = datetime.now(UTC).date()
    if value is None:
        return default_start(days, today)
    try:
        start = date.fromisoformat(value)
    except ValueError:
        fail(f"--start must be a date as YYYY-MM-DD, not {value!r}", BAD_INPUT)
    # The auth service refuses ticks further than this from its clock; say so before starting.
    limit = MAX_SIMULATED_OFFSET.days - 1
    end = start + timedelta(days=days)
    if start < today - timedelta(days=limit) or end > today + timedelta(days=limit):
        fail(f"the simulated days must lie within {limit} days of today ({today})", BAD_INPUT)
    return start


def _load_catalog(path: Path | None, settings: Settings) -> Catalog:
    try:
        return load_catalog(path, email_domain=settings.persona_email_domain)
    except CatalogError as exc:
        fail(f"{path or 'the shipped catalog'}: {'; '.join(exc.errors[:3])}", BAD_INPUT)


def _secret(settings: Settings) -> str:
    raw = settings.persona_seed_secret.get_secret_value() if settings.persona_seed_secret else None
    try:
        return resolve_seed_secret(raw, production=settings.is_production)
    except SeedSecretError as exc:
        fail(str(exc))


def summary_table(summary: SimulationSummary) -> Table:
    table = Table(title="ratings per module")
    for column in ("module", "ratings", "mean", "1", "2", "3", "4", "5"):
        table.add_column(column, justify="left" if column == "module" else "right")
    for module, figures in sorted(summary.ratings.items()):
        table.add_row(
            module,
            str(figures.count),
            "—" if figures.mean is None else f"{figures.mean:.2f}",
            *(str(figures.distribution[k]) for k in range(1, 6)),
        )
    return table


def print_summary(
    summary: SimulationSummary, *, as_json: bool, faults_days: tuple[int, int] | None = None
) -> None:
    if as_json:
        figures: dict[str, Any] = {
            **summary.figures(),
            "faultDays": None if faults_days is None else list(faults_days),
            "wallSeconds": round(summary.wall_seconds, 3),
            "ticksPerSecond": round(summary.ticks_per_second, 3),
            "failures": summary.failures,
        }
        print(json.dumps(figures, ensure_ascii=False))
        return
    console.print(summary_table(summary))
    console.print(
        f"{summary.days} days ({summary.start} – {summary.last_day}), "
        f"{summary.ticks} ticks, {summary.tool_calls} tool calls, "
        f"{summary.tool_errors} tool errors, {summary.failed_ticks} failed ticks; "
        f"{summary.wall_seconds:.1f}s wall, {summary.ticks_per_second:.2f} ticks/s",
        highlight=False,
    )
    if faults_days is not None:
        console.print(f"faults on from day {faults_days[0]} to day {faults_days[1]}")
    for line in summary.failures:
        console.print(f"[red]✗[/] {escape(line)}", highlight=False)


@app.command()
def simulate(
    days: int = typer.Option(
        ..., "--days", help=f"How many days every persona lives (1–{MAX_DAYS})."
    ),
    start: str | None = typer.Option(
        None, "--start", help="First simulated day, YYYY-MM-DD (default: DAYS days ago)."
    ),
    brain: str = typer.Option(
        "scripted", "--brain", help="scripted (default, deterministic), anthropic, openai."
    ),
    catalog_path: Path | None = typer.Option(
        None, "--catalog", dir_okay=False, help="Catalog file (default: the shipped one)."
    ),
    seed: int = typer.Option(0, "--seed", help="Same seed, same inputs: same actions, ratings."),
    auth: str | None = typer.Option(None, "--auth", help="Remote mode: the auth service URL."),
    mcp: str | None = typer.Option(None, "--mcp", help="Remote mode: the MCP endpoint URL."),
    jwt: str | None = typer.Option(
        None, "--jwt", help="Remote mode: admin token (default: MANA_ADMIN_JWT)."
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="Embedded mode: use this database as it is (default: a fresh .mana/simulate.db).",
    ),
    hourly_cap: int = typer.Option(
        DEFAULT_HOURLY_CAP, "--hourly-cap", help="Ticks a day of an hourly persona (from 08:00)."
    ),
    concurrency: int = typer.Option(
        4, "--concurrency", help="Personas ticking side by side (never two sharing a space)."
    ),
    faults: Path | None = typer.Option(
        None,
        "--faults",
        dir_okay=False,
        help="Embedded mode: MANA_FAULTS rules for the MCP server (development fault mode).",
    ),
    faults_from_day: int = typer.Option(
        1, "--faults-from-day", help="First simulated day (1-based) with the faults on."
    ),
    faults_until_day: int | None = typer.Option(
        None, "--faults-until-day", help="Last day with the faults on (default: the last day)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON line."),
) -> None:
    """Every persona lives DAYS days, ticking as its cadence says, its history dated on those
    days. Exits 1 if any tick failed, 2 on bad input."""
    if not 1 <= days <= MAX_DAYS:
        fail(f"--days must be between 1 and {MAX_DAYS}, not {days}", BAD_INPUT)
    if concurrency < 1:
        fail("--concurrency must be at least 1", BAD_INPUT)
    if (auth is None) != (mcp is None):
        fail("remote mode needs both --auth URL and --mcp URL", BAD_INPUT)
    remote = auth is not None and mcp is not None
    if remote and database_url is not None:
        fail("--database-url is for embedded mode; remote services use their own", BAD_INPUT)
    faults_days = (faults_from_day, days if faults_until_day is None else faults_until_day)
    if faults is None and (faults_from_day != 1 or faults_until_day is not None):
        fail("--faults-from-day and --faults-until-day need --faults PATH", BAD_INPUT)
    if faults is not None and remote:
        fail(
            "--faults is for embedded mode: a remote MCP server takes MANA_FAULTS where it runs",
            BAD_INPUT,
        )
    if not 1 <= faults_days[0] <= faults_days[1] <= days:
        fail(f"the fault days must satisfy 1 <= from <= until <= {days}", BAD_INPUT)
    if brain not in BRAINS:
        fail(f"unknown brain {brain!r}: choose one of {', '.join(BRAINS)}", BAD_INPUT)
    first_day = _parse_start(start, days)
    settings = load_settings()
    catalog = _load_catalog(catalog_path, settings)
    try:
        slots = plan_slots(catalog, start=first_day, days=days, hourly_cap=hourly_cap)
        settings.require_production_secrets()
    except SimulationError as exc:
        fail(str(exc), BAD_INPUT)
    except ProductionConfigError as exc:
        fail(str(exc))
    if not slots:
        fail("nothing to simulate: no persona ticks on these days", BAD_INPUT)
    token = (jwt or settings.admin_jwt or "").strip()
    if remote and not token:
        fail("remote mode needs an admin token: --jwt=TOKEN or MANA_ADMIN_JWT", BAD_INPUT)

    running = importlib.import_module("mana.cli.simulate_run")
    sim = running.Simulation(
        catalog=catalog,
        slots=slots,
        start=first_day,
        days=days,
        seed=seed,
        brain=brain,
        concurrency=concurrency,
        secret=_secret(settings),
        remote=(auth.rstrip("/"), mcp, token) if auth is not None and mcp is not None else None,
        database_url=database_url,
        faults=faults,
        faults_days=faults_days,
    )
    # With --json stdout carries only the summary; progress and notes go to stderr.
    summary: SimulationSummary = running.execute(
        settings, sim, out=err_console if as_json else console
    )
    print_summary(summary, as_json=as_json, faults_days=None if faults is None else faults_days)
    if summary.failed_ticks or summary.unclaimed:
        fail(
            f"{summary.failed_ticks} failed ticks, {summary.unclaimed} personas not claimable "
            "(held by another runner)"
        )
