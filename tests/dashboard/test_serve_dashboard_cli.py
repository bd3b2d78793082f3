"""`mana serve dashboard` as an operator runs it: it serves and signs an admin in. (Its
production refusal is the app's, tested in test_dashboard_sessions.py without a subprocess.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mana.kit.server import free_port
from tests.cli.conftest import mana_env
from tests.dashboard.conftest import Site

START_TIMEOUT_SECONDS = 60
MANA = Path(sys.executable).with_name("mana")


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "mana serve dashboard exited"
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)  # not listening yet: poll again until the deadline
    raise TimeoutError(f"{url} did not become healthy in {START_TIMEOUT_SECONDS}s")


def test_serve_dashboard_serves_the_sign_in_and_an_admin_gets_in(
    site: Site, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = mana_env(site.db.url, MANA_AUTH_URL=site.auth.url)
    process = subprocess.Popen(
        [str(MANA), "serve", "dashboard", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_healthy(url, process)
        with httpx.Client(base_url=url, timeout=30) as client:
            signed_in = site.sign_in(client)
            assert signed_in.status_code == 303
            assert client.get("/alerts").status_code == 200
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
