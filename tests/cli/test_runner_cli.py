"""`mana runner tick --once` as an operator runs it, against the real servers: a progress line
per persona, a summary table, exit 1 when a persona's tick failed, one clear line for every
refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from mana.kit.server import free_port
from tests.fixtures.runner import RunnerWorld
from tests.personas.seed_support import CliResult, cli_env, run_cli_concurrently


def only_error_line(result: CliResult) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith("error: "), result
    return lines[0]


# What the command prints does not depend on the backend (the in-process tests run on both).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_tick_once_for_one_persona_shows_progress_and_a_table_and_exits_by_outcome(
    runner_world: RunnerWorld, tmp_path: Path
) -> None:
    good_id, good = runner_world.create_persona(module_mix={"journal": 1})
    bad_id, bad = runner_world.create_persona(secret="a-different-seed-secret")
    env = runner_world.cli_env()

    ok, failed, unknown = run_cli_concurrently(
        [
            (["runner", "tick", "--once", "--persona", good], env),
            (["runner", "tick", "--once", "--persona", bad, "--brain", "scripted"], env),
            (["runner", "tick", "--once", "--persona", "nobody.at.all@mana.test"], env),
        ],
        cwd=tmp_path,
    )

    assert ok.returncode == 0, ok
    (tick,) = runner_world.ticks(good_id)
    assert tick.status == "ok"
    assert f"✓ {good}: ok, {tick.tool_calls} calls, 0 errors" in ok.stdout
    assert "persona ticks" in ok.stdout  # the table's title
    row = next(line for line in ok.stdout.splitlines() if good in line and "│" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[:4] == [good, "ok", str(tick.tool_calls), "0"]
    assert cells[4].startswith("journal ")

    assert only_error_line(failed) == "error: 1 of 1 persona ticks failed"
    assert f"✗ {bad}: error, 0 calls, 0 errors" in failed.stdout
    assert "error: login failed (401)" in failed.stdout
    assert runner_world.tick_statuses(bad_id) == ["error"]

    assert only_error_line(unknown) == "error: no persona with email nobody.at.all@mana.test"


def test_runner_commands_refuse_what_they_cannot_do_in_one_line(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = cli_env(
        MANA_AUTH_URL=nowhere,
        MANA_MCP_URL=f"{nowhere}/mcp",
        MANA_SERVICE_KEY="a-service-key-0123456789",
        PERSONA_SEED_SECRET="a-seed-secret",
    )
    production = {**env, "MANA_ENV": "production", "MANA_SERVICE_KEY": "mana-dev-service-key"}

    bad_brain, unreachable, serve_prod = run_cli_concurrently(
        [
            (["runner", "tick", "--once", "--brain", "clever"], env),
            (["runner", "tick", "--once"], env),
            (["serve", "runner", "--port", str(free_port())], production),
        ],
        cwd=tmp_path,
    )

    assert "unknown brain 'clever'" in only_error_line(bad_brain)
    # The claim is retried (each retry noted on stderr) before the command gives up.
    *retries, last = unreachable.stderr.strip().splitlines()
    assert unreachable.returncode == 1, unreachable
    assert last.startswith(f"error: cannot reach the auth service at {nowhere}")
    assert len(retries) == 2
    assert all(line.startswith("internal API POST /claim failed") for line in retries)
    line = only_error_line(serve_prod)
    assert "MANA_SERVICE_KEY" in line and "MANA_ENV=production" in line
