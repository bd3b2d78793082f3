"""`mana simulate`: days of persona life in minutes (the logic is in `mana.runner.simulate`).

Embedded mode (default): a database of its own (`.mana/simulate.db`, recreated each run), the
auth and MCP services in this process (the MCP server on the simulated clock, so the product
dates what personas write on the simulated day too), an admin, the catalog seeded with its
shared spaces. Remote mode (`--auth URL --mcp URL`): running services, an admin token to seed
the catalog, and the service key (`MANA_SERVICE_KEY`) for the runner's internal API.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from mana import migrate
from mana.auth.app import create_auth_app
from mana.cli.common import console, err_console, fail, load_settings
from mana.cli.demo import DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, ensure_admin
from mana.config import ProductionConfigError, Settings
from mana.kit.server import BackgroundServer
from mana.mcp.app import create_mcp_app
from mana.personas.admin_client import AdminClient, ClientError
from mana.personas.catalog import Catalog, CatalogError, load_catalog
from mana.personas.seed import seed_personas
from mana.personas.shared_spaces import setup_shared_spaces
from mana.runner.brains import UnknownBrain, get_brain
from mana.runner.brains.base import Brain
from mana.runner.brains.llm_common import BrainConfigError
from mana.runner.brains.scripted import ScriptedBrain
from mana.runner.internal_client import InternalApiError
from mana.runner.service import build_runner, seed_secret
from mana.runner.simulate import (
    DEFAULT_HOURLY_CAP,
    SimulatedClock,
    SimulationError,
    SimulationSummary,
    Slot,
    default_start,
    plan_slots,
    run_simulation,
)
from mana.runner.tick import TickReport

# Its own file: simulated weeks (perhaps with faults switched on) must not land in the history
# of the developer's default database, and a fresh file makes two runs with one seed equal.
EMBEDDED_DATABASE = Path(".mana") / "simulate.db"
BAD_INPUT = 2

app = typer.Typer()


def _parse_start(value: str | None, days: int) -> date:
    if value is None:
        return default_start(days, datetime.now(UTC).date())
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"--start must be a date as YYYY-MM-DD, not {value!r}", BAD_INPUT)


def _load_catalog(path: Path | None, settings: Settings) -> Catalog:
    try:
        return load_catalog(path, email_domain=settings.persona_email_domain)
    except CatalogError as exc:
        fail(f"{path or 'the shipped catalog'}: {'; '.join(exc.errors[:3])}", BAD_INPUT)


def _brain(name: str, catalog: Catalog, settings: Settings) -> Brain:
    # The scripted brain speaks in the voices of the catalog being simulated.
    if name == "scripted":
        return ScriptedBrain(catalog)
    try:
        return get_brain(name, settings)
    except (UnknownBrain, BrainConfigError) as exc:
        fail(str(exc), BAD_INPUT)


def _fresh_embedded_database(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


async def _seed(auth_url: str, token: str, catalog: Catalog, secret: str) -> None:
    async with AdminClient(auth_url, token, concurrency=4) as client:
        seeded = await seed_personas(client, catalog, secret=secret)
        if not seeded.ok:
            fail("seeding failed: " + "; ".join(f"{r.email}: {r.error}" for r in seeded.failed))
        spaces = await setup_shared_spaces(client, catalog, secret=secret)
        if not spaces.ok:
            fail(
                "shared spaces failed: " + "; ".join(f"{r.name}: {r.error}" for r in spaces.failed)
            )
    err_console.print(f"✓ seeded {seeded.summary()}; {spaces.summary()}", highlight=False)


@contextmanager
def _embedded_services(
    settings: Settings, clock: SimulatedClock, database_url: str | None
) -> Iterator[tuple[Settings, str]]:
    """Migrated database, auth + MCP servers in this process, an admin: (settings, token)."""
    url = database_url or _fresh_embedded_database(EMBEDDED_DATABASE)
    settings = settings.model_copy(update={"database_url": url})
    migrate.upgrade(url)
    with ExitStack() as stack:
        auth = stack.enter_context(BackgroundServer(create_auth_app(settings)))
        settings = settings.model_copy(update={"auth_url": auth.url})
        # The product on the simulated clock too: "today" in a tool is the persona's day.
        mcp = stack.enter_context(BackgroundServer(create_mcp_app(settings, clock=clock)))
        settings = settings.model_copy(update={"mcp_url": f"{mcp.url}/mcp"})
        asyncio.run(ensure_admin(settings))

        async def login() -> str:
            async with AdminClient(settings.auth_url) as anonymous:
                return (await anonymous.login(DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD)).token

        err_console.print(f"✓ embedded services on {url}", highlight=False)
        yield settings, asyncio.run(login())


def _progress(out: Console) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ticks"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=out,
        transient=True,
    )


async def _simulate(
    settings: Settings,
    *,
    brain: Brain,
    clock: SimulatedClock,
    slots: list[Slot],
    start: date,
    days: int,
    seed: int,
    concurrency: int,
    out: Console,
) -> SimulationSummary:
    with _progress(out) as progress:
        task = progress.add_task("simulating", total=sum(s.ticks for s in slots))

        def before_slot(slot: Slot) -> None:
            progress.update(
                task,
                description=f"day {slot.day_index + 1}/{days} {slot.at:%a %Y-%m-%d %H:%M}",
            )

        def on_tick(_slot: Slot, _report: TickReport | None) -> None:
            progress.advance(task)

        async with build_runner(
            settings, brain=brain, clock=clock, runner_id=f"simulate-{uuid.uuid4().hex[:8]}"
        ) as runner:
            return await run_simulation(
                runner,
                brain,
                clock,
                slots,
                start=start,
                days=days,
                seed=seed,
                concurrency=concurrency,
                on_tick=on_tick,
                before_slot=before_slot,
            )


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


def _print_summary(summary: SimulationSummary, as_json: bool) -> None:
    if as_json:
        figures: dict[str, Any] = {
            **summary.figures(),
            "wallSeconds": round(summary.wall_seconds, 3),
            "ticksPerSecond": round(summary.ticks_per_second, 3),
            "failures": summary.failures,
        }
        print(json.dumps(figures, ensure_ascii=False))
        return
    console.print(summary_table(summary))
    last = summary.start.toordinal() + summary.days - 1
    console.print(
        f"{summary.days} days ({summary.start} – {date.fromordinal(last)}), "
        f"{summary.ticks} ticks, {summary.tool_calls} tool calls, "
        f"{summary.tool_errors} tool errors, {summary.failed_ticks} failed ticks; "
        f"{summary.wall_seconds:.1f}s wall, {summary.ticks_per_second:.2f} ticks/s",
        highlight=False,
    )
    for line in summary.failures:
        console.print(f"[red]✗[/] {escape(line)}", highlight=False)


@app.command()
def simulate(
    days: int = typer.Option(..., "--days", help="How many days every persona lives (1–366)."),
    start: str | None = typer.Option(
        None, "--start", help="First simulated day, YYYY-MM-DD (default: DAYS days ago)."
    ),
    brain_name: str = typer.Option(
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
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON line."),
) -> None:
    """Every persona lives DAYS days, ticking as its cadence says, its history dated on those
    days. Exits 1 if any tick failed; 2 on bad input."""
    if not 1 <= days <= 366:
        fail(f"--days must be between 1 and 366, not {days}", BAD_INPUT)
    if concurrency < 1:
        fail("--concurrency must be at least 1", BAD_INPUT)
    remote = auth is not None or mcp is not None
    if remote and (auth is None or mcp is None):
        fail("remote mode needs both --auth URL and --mcp URL", BAD_INPUT)
    if remote and database_url is not None:
        fail("--database-url is for embedded mode; remote services use their own", BAD_INPUT)
    first_day = _parse_start(start, days)
    settings = load_settings()
    catalog = _load_catalog(catalog_path, settings)
    try:
        slots = plan_slots(catalog, start=first_day, days=days, hourly_cap=hourly_cap)
        secret = seed_secret(settings)
        settings.require_production_secrets()
    except SimulationError as exc:
        fail(str(exc), BAD_INPUT)
    except ProductionConfigError as exc:
        fail(str(exc))
    token = (jwt or settings.admin_jwt or "").strip()
    if remote and not token:
        fail("remote mode needs an admin token: --jwt=TOKEN or MANA_ADMIN_JWT", BAD_INPUT)
    brain = _brain(brain_name, catalog, settings)
    clock = SimulatedClock(slots[0].at if slots else datetime.now(UTC))
    # With --json stdout carries only the summary; progress and notes go to stderr.
    out = err_console if as_json else console

    with ExitStack() as stack:
        if remote:
            assert auth is not None and mcp is not None
            settings = settings.model_copy(update={"auth_url": auth.rstrip("/"), "mcp_url": mcp})
        else:
            settings, token = stack.enter_context(_embedded_services(settings, clock, database_url))
        try:
            asyncio.run(_seed(settings.auth_url, token, catalog, secret))
            summary = asyncio.run(
                _simulate(
                    settings,
                    brain=brain,
                    clock=clock,
                    slots=slots,
                    start=first_day,
                    days=days,
                    seed=seed,
                    concurrency=concurrency,
                    out=out,
                )
            )
        except ClientError as exc:
            fail(str(exc))
        except InternalApiError as exc:
            fail(f"auth service refused the runner: {exc}")
        except httpx.TransportError as exc:
            fail(f"cannot reach the auth service at {settings.auth_url}: {exc}")
        finally:
            asyncio.run(brain.aclose())
    _print_summary(summary, as_json)
    if summary.failed_ticks or summary.unclaimed:
        fail(
            f"{summary.failed_ticks} failed ticks, {summary.unclaimed} personas not claimable "
            "(held by another runner)"
        )
