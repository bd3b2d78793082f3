"""`mana simulate` as an operator runs it: embedded (its own database and services) on SQLite
and PostgreSQL, remote against running services, and bad input refused with one line."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mana.runner.recording import SLOW_CALL_MS
from tests.cli.conftest import one_line_error
from tests.fixtures.database import BACKENDS, Db, create_database, drop_database
from tests.fixtures.runner import RunnerWorld
from tests.personas.seed_support import CliResult, cli_env, finish, start_cli
from tests.simulate.conftest import recent_friday, small_catalog

TIMINGS = ("wallSeconds", "ticksPerSecond")


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _figures(result: CliResult) -> dict[str, Any]:
    assert result.returncode == 0, result
    figures = dict(json.loads(result.stdout))
    assert figures["failedTicks"] == 0 and figures["failures"] == [], figures
    return {k: v for k, v in figures.items() if k not in TIMINGS}


def _key(tick_id: Any) -> str:
    return uuid.UUID(str(tick_id)).hex  # SQLite stores 32 hex digits, PostgreSQL a uuid


def _history(db: Db, emails: set[str] | None = None) -> list[dict[str, Any]]:
    """Per tick, in time order: who, when, which calls with which result, which ratings."""
    actions = defaultdict(list)
    for row in db.fetch(
        "SELECT tick_id, tool_name, result, latency_ms, created_at FROM auth.persona_actions "
        "ORDER BY seq"
    ):
        actions[_key(row.tick_id)].append(row)
    ratings = defaultdict(list)
    for row in db.fetch(
        "SELECT tick_id, module, rating, created_at FROM auth.persona_feedback ORDER BY module"
    ):
        ratings[_key(row.tick_id)].append(row)
    history = []
    for tick in db.fetch(
        "SELECT t.id, u.email, t.started_at, t.finished_at FROM auth.persona_ticks t "
        "JOIN auth.users u ON u.id = t.persona_id ORDER BY t.started_at, u.email"
    ):
        if emails is not None and tick.email not in emails:
            continue
        key = _key(tick.id)
        history.append(
            {
                "email": tick.email,
                "started": _utc(tick.started_at),
                "finished": _utc(tick.finished_at),
                "calls": [(a.tool_name, a.result) for a in actions[key]],
                "slow": any(a.latency_ms >= SLOW_CALL_MS for a in actions[key]),
                "callDays": {_utc(a.created_at).date() for a in actions[key]},
                "ratings": [(r.module, r.rating) for r in ratings[key]],
                "ratingDays": {_utc(r.created_at).date() for r in ratings[key]},
            }
        )
    return history


def _assert_same_runs(
    first: list[dict[str, Any]],
    second: list[dict[str, Any]],
    first_figures: dict[str, Any],
    second_figures: dict[str, Any],
) -> None:
    """The same ticks with the same calls, results and ratings. Inside a slot, times move on
    with real time (ms) and unrelated personas run side by side, so ticks are matched by
    persona, day and hour. A call over SLOW_CALL_MS costs a point, and a loaded machine can
    make any call slow: a tick that had one (in either run) keeps its calls but may differ in
    its ratings."""

    def keyed(history: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
        return {(t["email"], t["started"].date(), t["started"].hour): t for t in history}

    one, two = keyed(first), keyed(second)
    assert one.keys() == two.keys() and len(one) == len(first)
    slow = {key for key in one if one[key]["slow"] or two[key]["slow"]}
    for key in one:
        assert one[key]["calls"] == two[key]["calls"], key
        if key not in slow:
            assert one[key]["ratings"] == two[key]["ratings"], key
    if not slow:
        assert first_figures == second_figures
    else:
        drop = ("ratings",)
        assert {k: v for k, v in first_figures.items() if k not in drop} == {
            k: v for k, v in second_figures.items() if k not in drop
        }


def _assert_dated_on_their_days(history: list[dict[str, Any]]) -> None:
    for tick in history:
        day = tick["started"].date()
        assert tick["finished"].date() == day, tick
        assert tick["calls"] and tick["callDays"] == {day}, tick
        assert tick["ratings"] and tick["ratingDays"] == {day}, tick


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_embedded_simulation_lands_on_its_days_keeps_cadences_and_repeats_itself(
    backend: str, tmp_path: Path
) -> None:
    friday = recent_friday()
    days = [friday + timedelta(days=i) for i in range(3)]
    catalog = small_catalog(tmp_path / "catalog.json")
    args = [
        "simulate", "--days", "3", "--start", friday.isoformat(), "--catalog", str(catalog),
        "--hourly-cap", "2", "--seed", "5", "--json",
    ]  # fmt: skip
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    second_url = create_database(backend, tmp_path)
    if backend == "sqlite":  # the default: a fresh ./.mana/simulate.db
        first_url, first_args = f"sqlite:///{first_dir / '.mana' / 'simulate.db'}", args
    else:
        first_url = create_database(backend, tmp_path)
        first_args = [*args, "--database-url", first_url]
    second_args = [*args, "--database-url", second_url]
    try:
        # Side by side, each in a working directory of its own.
        first = start_cli(first_args, env=cli_env(), cwd=first_dir)
        second = start_cli(second_args, env=cli_env(), cwd=second_dir)
        figures = _figures(finish(first, first_args))
        second_figures = _figures(finish(second, second_args))
        db = Db(first_url)
        history = _history(db)
        _assert_same_runs(history, _history(Db(second_url)), figures, second_figures)
        last_active = {
            row.email: _utc(row.last_active_at)
            for row in db.fetch(
                "SELECT u.email, p.last_active_at FROM auth.personas p "
                "JOIN auth.users u ON u.id = p.user_id"
            )
        }
        product_days = {
            _utc(value).date() for (value,) in db.fetch("SELECT created_at FROM app.todos")
        }
    finally:
        for url in {first_url, second_url}:
            drop_database(url)

    per_day = Counter((t["email"], t["started"].date()) for t in history)
    for email, expected in {
        "persona.mia@mana.test": [1, 1, 1],
        "persona.jonas@mana.test": [1, 1, 1],
        "persona.priya@mana.test": [1, 0, 0],  # weekdays: Friday only
        "persona.kai@mana.test": [2, 2, 2],  # hourly, capped at 2 a day
    }.items():
        assert [per_day[email, day] for day in days] == expected, email
        assert last_active[email] == max(t["finished"] for t in history if t["email"] == email)
    assert figures["ticks"] == len(history) == 13
    assert figures["ticksPerDay"] == {
        d.isoformat(): n for d, n in zip(days, [5, 4, 4], strict=True)
    }
    assert figures["toolCalls"] == sum(len(t["calls"]) for t in history)
    _assert_dated_on_their_days(history)
    # The embedded product runs on the simulated clock too: what personas wrote is dated there.
    assert product_days and product_days <= set(days)


def test_a_remote_simulation_runs_against_running_services_with_an_admin_token(
    runner_world: RunnerWorld, tmp_path: Path
) -> None:
    suffix = f".{uuid.uuid4().hex[:8]}"
    catalog = small_catalog(tmp_path / "catalog.json", suffix=suffix)
    friday = recent_friday()
    args = [
        "simulate", "--days", "2", "--start", friday.isoformat(), "--catalog", str(catalog),
        "--hourly-cap", "1", "--auth", runner_world.auth.url, "--mcp", runner_world.mcp.endpoint,
        "--jwt", runner_world.api.admin_token, "--json",
    ]  # fmt: skip
    figures = _figures(finish(start_cli(args, env=runner_world.cli_env(), cwd=tmp_path), args))

    emails = {f"persona.{n}{suffix}@mana.test" for n in ("mia", "jonas", "priya", "kai")}
    history = _history(runner_world.db, emails)
    # Friday: all four; Saturday: the weekdays persona rests.
    assert figures["ticks"] == len(history) == 7
    assert {t["started"].date() for t in history} == {friday, friday + timedelta(days=1)}
    _assert_dated_on_their_days(history)


def test_bad_input_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    runs = [
        ["simulate", "--days", "0"],
        ["simulate", "--days", "3", "--start", "2026-02-30"],
        ["simulate", "--days", "3", "--auth", "http://127.0.0.1:9"],
        ["simulate", "--days", "3", "--start", "2001-01-01"],
        ["simulate", "--days", "3", "--faults-from-day", "2"],
    ]
    processes = [(start_cli(args, env=cli_env(), cwd=tmp_path), args) for args in runs]
    results = [finish(process, args) for process, args in processes]
    messages = []
    for result in results:
        assert result.returncode == 2, result
        messages.append(one_line_error(result))  # type: ignore[arg-type]
    assert "--days" in messages[0]
    assert "--start" in messages[1] and "2026-02-30" in messages[1]
    assert "--mcp" in messages[2]
    assert "within 399 days of today" in messages[3]
    assert "--faults PATH" in messages[4]
    assert not (tmp_path / ".mana").exists()  # nothing was started or written


def test_faults_switched_on_for_one_day_break_that_module_on_that_day_only(tmp_path: Path) -> None:
    friday = recent_friday()
    catalog = small_catalog(tmp_path / "catalog.json")
    rules = tmp_path / "faults.json"
    rules.write_text(
        json.dumps({"rules": [{"tool": "todo.*", "fault": "error", "message": "todo is down"}]}),
        encoding="utf-8",
    )
    args = [
        "simulate", "--days", "3", "--start", friday.isoformat(), "--catalog", str(catalog),
        "--hourly-cap", "1", "--faults", str(rules), "--faults-from-day", "2",
        "--faults-until-day", "2", "--json",
    ]  # fmt: skip
    figures = _figures(finish(start_cli(args, env=cli_env(), cwd=tmp_path), args))
    assert figures["faultDays"] == [2, 2]

    db = Db(f"sqlite:///{tmp_path / '.mana' / 'simulate.db'}")
    results: dict[tuple[Any, bool], Counter[str]] = defaultdict(Counter)
    for row in db.fetch("SELECT tool_name, result, error_message, created_at FROM persona_actions"):
        results[_utc(row.created_at).date(), row.tool_name.startswith("todo.")][row.result] += 1
        if row.result == "error" and row.tool_name.startswith("todo."):
            assert row.error_message == "todo is down"
    faulty = friday + timedelta(days=1)
    for day in (friday, faulty, friday + timedelta(days=2)):
        others = results[day, False]
        assert others["ok"] and not others["error"], (day, others)  # untouched modules
        todo = results[day, True]
        assert todo["ok"] + todo["error"] > 0, day
        if day == faulty:
            assert todo["error"] and not todo["ok"], todo
        else:
            assert todo["ok"] and not todo["error"], (day, todo)
