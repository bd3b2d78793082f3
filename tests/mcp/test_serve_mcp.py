"""`mana serve mcp` as an operator runs it: a real process, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mana.kit.server import free_port
from tests.fixtures.database import create_database
from tests.fixtures.mcp import mcp_session
from tests.fixtures.servers import AuthService, running_auth_service

MANA = Path(sys.executable).with_name("mana")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class McpProcess:
    def __init__(self, auth: AuthService, cwd: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MANA_")}
        env.update(
            {
                "MANA_DATABASE_URL": auth.settings.database_url,
                "MANA_AUTH_URL": auth.url,
                "NO_COLOR": "1",
            }
        )
        self.process = subprocess.Popen(
            [str(MANA), "serve", "mcp", "--port", str(self.port)],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process.poll() is None, self.process.communicate()[1]
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mana serve mcp did not come up"
            time.sleep(0.1)

    def stop(self) -> str:
        """SIGTERM, as a process manager sends it; returns what it wrote to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=STOP_TIMEOUT)
        return stderr


@pytest.fixture
def auth_for_cli(tmp_path: Path) -> Iterator[AuthService]:
    """The command is what is tested here, not the backend: one run, on SQLite."""
    with running_auth_service(create_database("sqlite", tmp_path)) as auth:
        yield auth


@pytest.fixture
def mcp_process(auth_for_cli: AuthService, tmp_path: Path) -> Iterator[McpProcess]:
    process = McpProcess(auth_for_cli, tmp_path)
    try:
        process.wait_healthy()
        yield process
    finally:
        if process.process.poll() is None:
            process.process.kill()
            process.process.communicate()


@pytest.mark.anyio
async def test_mana_serve_mcp_serves_tools_logs_json_lines_and_stops_on_sigterm(
    auth_for_cli: AuthService, mcp_process: McpProcess
) -> None:
    user, token = auth_for_cli.user_token()
    async with mcp_session(f"{mcp_process.url}/mcp", token) as mcp:
        result = await mcp.client.call_tool("todo.create", {"title": "from the CLI server"})
        assert not result.is_error
    stderr = mcp_process.stop()
    # uvicorn shuts down cleanly, then re-raises the signal so the exit status says SIGTERM.
    assert mcp_process.process.returncode in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete." in stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines, stderr
    assert {"userId": user["id"], "tool": "todo.create", "result": "ok"}.items() <= lines[
        -1
    ].items()
    assert token not in stderr
