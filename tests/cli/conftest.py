"""Run the real `mana` console script as a subprocess, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# The console script installed next to the interpreter that runs the tests (the project venv).
MANA = Path(sys.executable).with_name("mana")
# Importing the CLI takes a few seconds on a busy machine; a refused start-up is expected well
# within this, and a server that wrongly starts is killed by the timeout.
TIMEOUT_SECONDS = 60

RunMana = Callable[..., subprocess.CompletedProcess[str]]


def mana_env(database_url: str, **extra: str) -> dict[str, str]:
    # Nothing inherited may steer the command: no MANA_* settings from the calling shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANA_")}
    # Wide lines: rich wraps at 80 columns when it is not writing to a terminal.
    env.update({"MANA_DATABASE_URL": database_url, "COLUMNS": "250", "NO_COLOR": "1"})
    env.update(extra)
    return env


def run_mana(
    *args: str,
    database_url: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    assert MANA.exists(), f"the mana console script is not installed at {MANA}"
    return subprocess.run(
        [str(MANA), *args],
        env=mana_env(database_url, **(env or {})),
        # A working directory of its own: no .env file or ./.mana database is picked up.
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        # A new session has no controlling terminal, so a password prompt reads stdin instead
        # of /dev/tty (which would block when the tests run in a terminal).
        start_new_session=True,
        check=False,
    )


@pytest.fixture
def mana(database_url: str, tmp_path: Path) -> RunMana:
    """`mana …` against the test database of this backend."""

    def run(
        *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_mana(*args, database_url=database_url, cwd=tmp_path, env=env, input=input)

    return run


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """A failed command: non-zero exit and exactly one line on stderr, which is returned."""
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]
