"""`mana findings` as a real subprocess: the report, --json, and the CI gate's exit codes."""

from __future__ import annotations

import asyncio
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mana.db import create_engine, create_sessionmaker, transaction
from mana.findings.alerts import evaluate_alerts
from mana.findings.settings import AlertSettings
from mana.kit.server import free_port
from tests.cli.conftest import one_line_error, run_mana
from tests.findings.history import Fault, write_history
from tests.fixtures.database import Db
from tests.fixtures.personas import make_admin
from tests.fixtures.servers import running_auth_service


async def _write_broken_calendar(url: str) -> None:
    """The same history, not evaluated: only the gate's own evaluation can see the fault."""
    engine = create_engine(url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            start = datetime.now(UTC).date() - timedelta(days=10)
            await write_history(session, start=start, days=10, faults=(Fault("calendar", 7),))
    finally:
        await engine.dispose()


def test_the_gate_evaluates_before_it_reads(fresh_database_url: str, tmp_path: Path) -> None:
    asyncio.run(_write_broken_calendar(fresh_database_url))
    with running_auth_service(fresh_database_url) as auth:
        token = str(auth.login(make_admin(auth, Db(fresh_database_url)))["token"])
        target = ("--auth", auth.url, "--jwt", token)
        # No tick finished on this service, so nothing evaluated the history before: a
        # report alone shows no alert, the gate evaluates and fails.
        report = run_mana("findings", *target, database_url=fresh_database_url, cwd=tmp_path)
        gate = run_mana(
            "findings", *target, "--fail-on-alert", database_url=fresh_database_url, cwd=tmp_path
        )
    assert report.returncode == 0 and "no open alerts" in report.stdout, report.stderr
    assert gate.returncode == 1, gate.stderr
    assert "open alert" in gate.stderr and "calendar" in gate.stdout


async def _break_calendar(url: str) -> int:
    """Ten days of history, calendar broken for the last three; evaluate as of now."""
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    start = datetime.now(UTC).date() - timedelta(days=10)
    try:
        async with transaction(sessions) as session:
            await write_history(session, start=start, days=10, faults=(Fault("calendar", 7),))
        async with transaction(sessions) as session:
            changes = await evaluate_alerts(
                session,
                now=datetime.now(UTC),
                settings=AlertSettings(_env_file=None),  # type: ignore[call-arg]
            )
    finally:
        await engine.dispose()
    return len(changes)


def test_the_gate_passes_without_alerts_fails_with_them_and_reports_usage_errors_as_2(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with running_auth_service(fresh_database_url) as auth:
        token = str(auth.login(make_admin(auth, Db(fresh_database_url)))["token"])

        def mana(*args: str) -> subprocess.CompletedProcess[str]:
            return run_mana(*args, database_url=fresh_database_url, cwd=tmp_path)

        target = ("--auth", auth.url, "--jwt", token)
        clean = mana("findings", *target, "--fail-on-alert")
        assert clean.returncode == 0, clean.stderr
        assert "no open alerts" in clean.stdout and "calendar" in clean.stdout

        assert asyncio.run(_break_calendar(fresh_database_url)) > 0

        runs = {
            "gate": ("findings", *target, "--fail-on-alert"),
            "report": ("findings", *target, "--days", "7"),
            "json": ("findings", *target, "--module", "calendar", "--json", "--fail-on-alert"),
            "other-module": ("findings", *target, "--module", "todo", "--fail-on-alert"),
            "unreachable": ("findings", "--auth", f"http://127.0.0.1:{free_port()}", "--jwt", "t"),
            "bad-token": ("findings", "--auth", auth.url, "--jwt", "not-a-token"),
            "no-token": ("findings", "--auth", auth.url),
            "bad-days": ("findings", *target, "--days", "0"),
        }
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = dict(zip(runs, pool.map(lambda a: mana(*a), runs.values()), strict=True))

    gate = results["gate"]
    assert gate.returncode == 1, gate.stderr
    assert "open alert" in gate.stderr and "calendar" in gate.stdout
    assert any(spark in gate.stdout for spark in "▁▂▃▄▅▆▇█")
    assert results["report"].returncode == 0
    assert "open alerts" in results["report"].stdout

    as_json = results["json"]
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["module"] == "calendar" and len(data["days"]) == 14
    assert data["alerts"] and {a["module"] for a in data["alerts"]} == {"calendar"}
    assert results["other-module"].returncode == 0

    assert results["unreachable"].returncode == 2
    assert "cannot reach the auth service" in one_line_error(results["unreachable"])
    assert results["bad-token"].returncode == 2
    assert "refused the admin token" in one_line_error(results["bad-token"])
    assert results["no-token"].returncode == 2
    assert "no admin token" in one_line_error(results["no-token"])
    assert results["bad-days"].returncode == 2
