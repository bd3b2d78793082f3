"""Issue 11's end-to-end check: a real simulation (the functions behind `mana simulate`, in this
process: embedded auth + MCP servers, the scripted brain, real ticks), its alerts evaluated by
the auth service as ticks finish, on the ticks' simulated clock.

Days 1–9 are played once; the database is then cloned, and days 10–14 played on each copy:
clean on one, with `todo.*` failing (the MCP fault mode) on the other. Both branches share the
very same first nine days, which is also what keeps the test within its time. The faulty branch
then lives five more days with the fault switched off, and its alerts resolve.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mana.cli.simulate_run import Simulation, execute
from mana.personas.catalog import Catalog, load_catalog
from mana.runner.simulate.plan import plan_slots
from mana.runner.simulate.summary import SimulationSummary
from tests.fixtures.database import (
    BACKENDS,
    POSTGRES_ADMIN_DSN,
    Db,
    _pg_admin,
    create_database,
    drop_database,
)
from tests.fixtures.servers import TEST_SEED_SECRET, make_settings
from tests.simulate.conftest import small_catalog

FAULT_DAY = 10  # 1-based, as `--faults-from-day`
FAULT_DAYS = 5  # days 10–14 faulty
CLEAN_AFTER = 5  # days 15–19 with the fault off: the recent window (3 days) empties of
# failures, then the alerts stay clear for MANA_ALERT_RESOLVE_AFTER_HOURS (24)
# Kai (hourly) ticks 3 times a day: with the daily and weekday personas that is ~6 todo
# ratings a day — enough for the rating rule's minimum counts (8 recent, 20 baseline).
HOURLY_CAP = 3
SEED = 11
TODO_FAILS = {"rules": [{"tool": "todo.*", "fault": "error"}]}


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _simulate(
    url: str, catalog: Catalog, start: date, days: int, faults: Path | None = None
) -> SimulationSummary:
    """`mana simulate --database-url URL --start START --days DAYS [--faults F]` in-process."""
    sim = Simulation(
        catalog=catalog,
        slots=plan_slots(catalog, start=start, days=days, hourly_cap=HOURLY_CAP),
        start=start,
        days=days,
        seed=SEED,
        brain="scripted",
        concurrency=4,
        secret=TEST_SEED_SECRET,
        remote=None,
        database_url=url,
        faults=faults,
        faults_days=(1, days),
    )
    summary = execute(make_settings(url), sim, out=Console(file=io.StringIO()))
    assert summary.failed_ticks == 0 and summary.unclaimed == 0, summary.failures
    return summary


def _clone(url: str, backend: str, tmp_path: Path) -> str:
    """A copy of the database as it is (its services stopped)."""
    if backend == "sqlite":
        source = Path(url.removeprefix("sqlite:///"))
        target = tmp_path / f"clone-{uuid.uuid4().hex[:8]}.db"
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
        return f"sqlite:///{target}"
    name = f"mana_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{url.rsplit("/", 1)[1]}"'))
    return f"{POSTGRES_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"


def _alerts(url: str) -> list[Any]:
    return Db(url).fetch(
        "SELECT rule, subject, module, status, opened_at, resolved_at, message "
        "FROM auth.alerts ORDER BY opened_at, rule, subject"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_clean_fortnight_alerts_nothing_a_fault_from_day_10_alerts_its_module_and_then_resolves(
    backend: str, tmp_path: Path
) -> None:
    catalog = load_catalog(small_catalog(tmp_path / "catalog.json"))
    start = datetime.now(UTC).date() - timedelta(days=FAULT_DAYS + 1 + 30)
    fault_start = start + timedelta(days=FAULT_DAY - 1)
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps(TODO_FAILS), encoding="utf-8")

    clean = create_database(backend, tmp_path)
    urls = [clean]
    try:
        _simulate(clean, catalog, start, FAULT_DAY - 1)
        faulty = _clone(clean, backend, tmp_path)
        urls.append(faulty)
        clean_tail = _simulate(clean, catalog, fault_start, FAULT_DAYS)
        faulty_tail = _simulate(faulty, catalog, fault_start, FAULT_DAYS, faults=faults)

        # The clean fortnight: every rule evaluated after every tick, nothing opened.
        assert clean_tail.tool_errors == 0
        assert _alerts(clean) == []

        # The fault: todo's tools fail, todo is rated worse, and todo alone is alerted.
        assert faulty_tail.tool_errors > 0 and faulty_tail.ratings["todo"].mean is not None
        assert faulty_tail.ratings["todo"].mean < clean_tail.ratings["todo"].mean  # type: ignore[operator]
        alerts = _alerts(faulty)
        assert alerts and {a.module for a in alerts} == {"todo"}, alerts
        assert {"error_rate", "rating_drop"} <= {a.rule for a in alerts}, alerts
        for alert in alerts:
            opened = _utc(alert.opened_at)
            assert fault_start <= opened.date() < fault_start + timedelta(days=2), alert
            assert alert.status == "open", alert

        # The fault off for five more days: every alert resolves, none opens.
        after = fault_start + timedelta(days=FAULT_DAYS)
        _simulate(faulty, catalog, after, CLEAN_AFTER)
        resolved = _alerts(faulty)
        assert [(a.rule, a.subject) for a in resolved] == [(a.rule, a.subject) for a in alerts]
        for alert in resolved:
            assert alert.status == "resolved", alert
            assert after <= _utc(alert.resolved_at).date() < after + timedelta(days=CLEAN_AFTER)
    finally:
        for url in urls:
            drop_database(url)
