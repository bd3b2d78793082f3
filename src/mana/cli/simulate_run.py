"""The running part of `mana simulate`, imported once the input is valid: embedded services or
a remote target, the catalog seeded, the slots played with a progress bar.

Embedded: a database of its own (`.mana/simulate.db`, recreated each run, or the URL given),
the auth and MCP services in this process — the MCP server on the simulated clock, so the
product dates what personas write on the simulated day too —, an admin, the catalog seeded with
its shared spaces. Remote: running services, an admin token to seed the catalog, and the
service key (`MANA_SERVICE_KEY`) for the runner's internal API.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mana import migrate
from mana.auth.app import create_auth_app
from mana.cli.common import err_console, fail
from mana.cli.demo import DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, ensure_admin
from mana.clients.admin import AdminClient
from mana.clients.errors import ClientError
from mana.clients.internal import InternalApiError
from mana.clients.seed import seed_personas
from mana.clients.spaces import setup_shared_spaces
from mana.config import Settings
from mana.findings.settings import AlertSettings
from mana.kit.server import BackgroundServer
from mana.mcp.app import create_mcp_app
from mana.mcp.faults import FaultRulesError, load_rules
from mana.personas.catalog import Catalog
from mana.runner.brains import UnknownBrain, get_brain
from mana.runner.brains.base import Brain
from mana.runner.brains.llm_common import BrainConfigError
from mana.runner.brains.scripted import ScriptedBrain
from mana.runner.service import build_runner
from mana.runner.simulate.faults import FaultSchedule, with_seed
from mana.runner.simulate.plan import SimulatedClock, Slot
from mana.runner.simulate.run import run_simulation
from mana.runner.simulate.summary import SimulationSummary
from mana.runner.tick import TickReport

# Its own file: simulated weeks (perhaps with faults switched on) must not land in the history
# of the developer's default database, and a fresh file makes two runs with one seed equal.
EMBEDDED_DATABASE = Path(".mana") / "simulate.db"
BAD_INPUT = 2


@dataclass(frozen=True)
class Simulation:
    """A validated request: what to simulate, where, how."""

    catalog: Catalog
    slots: list[Slot]
    start: date
    days: int
    seed: int
    brain: str
    concurrency: int
    secret: str
    # Remote mode: (auth URL, MCP URL, admin token); None: embedded.
    remote: tuple[str, str, str] | None
    database_url: str | None
    # Embedded only: a MANA_FAULTS rules file, on from day `faults_days[0]` to `[1]` (1-based).
    faults: Path | None = None
    faults_days: tuple[int, int] = (1, 1)


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


def _fault_schedule(sim: Simulation, directory: Path) -> FaultSchedule | None:
    """The rules, checked now (a bad file is bad input), behind a file of the simulation's own
    that the MCP server watches."""
    if sim.faults is None:
        return None
    try:
        load_rules(sim.faults)
    except FaultRulesError as exc:
        fail(str(exc).replace("MANA_FAULTS", "--faults", 1), BAD_INPUT)
    rules = with_seed(json.loads(sim.faults.read_text(encoding="utf-8")), sim.seed)
    schedule = FaultSchedule(directory / "faults.json", rules, *sim.faults_days)
    schedule.apply(sim.slots[0].day_index + 1)
    return schedule


@contextmanager
def _embedded_services(
    settings: Settings,
    clock: SimulatedClock,
    database_url: str | None,
    faults: FaultSchedule | None,
) -> Iterator[tuple[Settings, str]]:
    """Migrated database, auth + MCP servers in this process, an admin: (settings, token)."""
    url = database_url or _fresh_embedded_database(EMBEDDED_DATABASE)
    settings = settings.model_copy(update={"database_url": url})
    if faults is not None:
        # Checked on every call, so a switch at a day's first slot holds for its first tick.
        settings = settings.model_copy(
            update={"faults": str(faults.watched), "faults_check_seconds": 0.0}
        )
    migrate.upgrade(url)
    with ExitStack() as stack:
        auth_app = create_auth_app(settings)
        # Alerts evaluated after every tick, as of its simulated time: the default debounce
        # (10 s of real time) is a simulated day or more here, so a fault from day 10 would
        # be alerted on day 11 or 12, and the last evaluation could miss the run's end.
        auth_app.state.alert_settings = AlertSettings().model_copy(update={"debounce_seconds": 0.0})
        auth = stack.enter_context(BackgroundServer(auth_app))
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


async def _play(
    settings: Settings,
    sim: Simulation,
    brain: Brain,
    clock: SimulatedClock,
    out: Console,
    faults: FaultSchedule | None,
) -> SimulationSummary:
    with _progress(out) as progress:
        task = progress.add_task("simulating", total=sum(s.ticks for s in sim.slots))

        def before_slot(slot: Slot) -> None:
            day = slot.day_index + 1
            if faults is not None and faults.apply(day):
                state = "on" if faults.on(day) else "off"
                progress.console.print(f"faults {state} from day {day} ({slot.at.date()})")
            marker = " [faults]" if faults is not None and faults.on(day) else ""
            progress.update(
                task,
                description=f"day {day}/{sim.days} {slot.at:%a %Y-%m-%d %H:%M}{marker}",
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
                sim.slots,
                start=sim.start,
                days=sim.days,
                seed=sim.seed,
                concurrency=sim.concurrency,
                on_tick=on_tick,
                before_slot=before_slot,
            )


def execute(settings: Settings, sim: Simulation, *, out: Console) -> SimulationSummary:
    """Run the simulation; any failure of the services is one line on stderr and exit 1."""
    brain = _brain(sim.brain, sim.catalog, settings)
    clock = SimulatedClock(sim.slots[0].at)
    with ExitStack() as stack:
        faults = _fault_schedule(sim, Path(stack.enter_context(tempfile.TemporaryDirectory())))
        if sim.remote is not None:
            auth_url, mcp_url, token = sim.remote
            settings = settings.model_copy(update={"auth_url": auth_url, "mcp_url": mcp_url})
        else:
            settings, token = stack.enter_context(
                _embedded_services(settings, clock, sim.database_url, faults)
            )
        try:
            asyncio.run(_seed(settings.auth_url, token, sim.catalog, sim.secret))
            return asyncio.run(_play(settings, sim, brain, clock, out, faults))
        except ClientError as exc:
            fail(str(exc))
        except InternalApiError as exc:
            fail(f"auth service refused the runner: {exc}")
        except httpx.TransportError as exc:
            fail(f"cannot reach the auth service at {settings.auth_url}: {exc}")
        finally:
            asyncio.run(brain.aclose())
