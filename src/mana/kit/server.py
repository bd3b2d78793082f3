"""Run an ASGI app with uvicorn in a background thread (demo, tests, `mana serve all`).

Each server gets its own event loop in its own thread; `start()` returns once the socket is
accepting connections, `stop()` shuts it down gracefully with a bounded timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

# An MCP session can hold a request open; never let that block shutdown for minutes.
GRACEFUL_SHUTDOWN_SECONDS = 5


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def uvicorn_config(app: Any, *, host: str, port: int, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        access_log=False,
        # uvicorn would otherwise rewrite the client address from X-Forwarded-For for any
        # peer on 127.0.0.1; who is a trusted proxy is the auth service's own setting
        # (MANA_TRUSTED_PROXIES), applied where the address is used.
        proxy_headers=False,
    )


class BackgroundServer:
    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.server = uvicorn.Server(uvicorn_config(app, host=self.host, port=self.port))
        self._thread = threading.Thread(
            target=self.server.run, name=f"uvicorn:{self.port}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"server on {self.url} failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on {self.url} did not start within {timeout}s")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = GRACEFUL_SHUTDOWN_SECONDS + 5) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
