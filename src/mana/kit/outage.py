"""Database outages answered as JSON 503 `database_unavailable`, logged once per outage.

Without this, a request that met a refused or reset database connection ended in Starlette's
plain-text 500 with a full traceback per request: hundreds of identical tracebacks in a few
seconds, and nothing that said "the database is down". Now each such request gets a 503 with
`Retry-After` and one log line; the first failure of an outage also logs its traceback; the
first commit that succeeds afterwards ends the outage (logged with how many requests it cost).
Nothing has to be restarted: the pool reconnects on its own (pre-ping on PostgreSQL).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import asyncpg
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from mana.db import unavailability
from mana.kit.errors import DatabaseUnavailable, error_body

logger = logging.getLogger("mana.outage")

RETRY_AFTER_SECONDS = 5


class OutageLog:
    """Counts failed requests of the current outage; thread-safe (the engine's events fire in
    the driver's threads on SQLite)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._lock = threading.Lock()
        self.failures = 0
        self.outages = 0
        self._since: float | None = None

    @property
    def in_outage(self) -> bool:
        return self._since is not None

    def failed(self, request: Request, reason: str, exc: BaseException) -> None:
        with self._lock:
            first = self._since is None
            if first:
                self._since = time.monotonic()
                self.outages += 1
            self.failures += 1
        where = f"{request.method} {request.url.path}"
        if first:
            logger.error(
                "%s: database unavailable (%s) on %s; answering 503 until it is back",
                self.service,
                reason,
                where,
                exc_info=exc,
            )
        else:
            logger.warning("%s: database unavailable (%s) on %s: 503", self.service, reason, where)

    def succeeded(self) -> None:
        if self._since is None:  # the common case: no lock on the hot path
            return
        with self._lock:
            if self._since is None:
                return
            lasted, self._since = time.monotonic() - self._since, None
            failures, self.failures = self.failures, 0
        logger.warning(
            "%s: database reachable again after %.1fs (%d requests answered 503)",
            self.service,
            lasted,
            failures,
        )


def install_database_outage_handling(app: FastAPI, *, service: str) -> OutageLog:
    """Render database outages as 503 JSON. Call `watch_engine` once the engine exists."""
    outage = OutageLog(service)
    app.state.outage = outage

    async def _maybe_unavailable(request: Request, exc: Exception) -> JSONResponse:
        reason = unavailability(exc)
        if reason is None:
            # Not an outage (a bug, a conflict the service did not map): the default 500 path.
            raise exc
        outage.failed(request, reason, exc)
        error = DatabaseUnavailable(
            "the database is unavailable; try again shortly", retry_after=RETRY_AFTER_SECONDS
        )
        return JSONResponse(
            error_body(error.error, error.message, {"reason": reason}),
            status_code=error.status_code,
            headers=error.headers,
        )

    for exc_type in (sa.exc.DBAPIError, sa.exc.TimeoutError, OSError, asyncpg.PostgresError):
        app.add_exception_handler(exc_type, _maybe_unavailable)
    return outage


def watch_engine(engine: AsyncEngine, outage: OutageLog) -> None:
    """A committed transaction is proof the database is back."""

    def _on_commit(_conn: Any) -> None:
        outage.succeeded()

    event.listen(engine.sync_engine, "commit", _on_commit)
