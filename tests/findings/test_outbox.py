"""The webhook outbox: a notification stored with its alert change is delivered by whichever
auth process is up later — after a restart, or once a dead process's claim has run out — and
only once. A real auth service on 127.0.0.1 and a local receiver."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mana.db import create_engine, create_sessionmaker, transaction
from mana.findings import outbox
from mana.findings.alerts import evaluate_alerts
from mana.findings.delivery import AlertNotifier, claim_lease
from mana.findings.settings import AlertSettings
from mana.kit.clock import Clock
from mana.kit.server import BackgroundServer
from tests.findings.history import Fault, write_history
from tests.fixtures.database import Db
from tests.fixtures.runner import wait_until
from tests.fixtures.servers import running_auth_service
from tests.fixtures.tcp_proxy import TcpProxy


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.server = BackgroundServer(
            Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])
        )

    async def hook(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self.lock:
            self.bodies.append(body)
        return JSONResponse({"ok": True})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.server.start()
    yield receiver
    receiver.server.stop()


async def _evaluate_and_store_then_die(url: str, settings: AlertSettings) -> int:
    """A process that committed alert changes with their notifications and stopped before it
    delivered any (its notifier never ran)."""
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    notifier = AlertNotifier(settings, sessions, Clock())
    try:
        async with transaction(sessions) as session:
            start = datetime.now(UTC).date() - timedelta(days=10)
            await write_history(
                session, start=start, days=10, faults=(Fault("calendar", 7), Fault("notes", 7))
            )
        async with transaction(sessions) as session:
            now = datetime.now(UTC)
            changes = await evaluate_alerts(session, now=now, settings=settings)
            await notifier.store(session, changes, now=now)
    finally:
        await engine.dispose()
    return len(changes)


async def _claim_and_die(url: str, settings: AlertSettings) -> None:
    """A process that claimed the oldest notification and died while posting it."""
    engine = create_engine(url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            claimed = await outbox.claim_next(
                session, now=datetime.now(UTC), lease=claim_lease(settings)
            )
            assert claimed is not None
    finally:
        await engine.dispose()


def test_notifications_stored_before_a_restart_are_delivered_after_it_once(
    fresh_database_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MANA_ALERT_WEBHOOK_URL", f"{receiver.server.url}/hook")
    monkeypatch.setenv("MANA_ALERT_WEBHOOK_POLL_SECONDS", "0.1")
    settings = AlertSettings()
    opened = asyncio.run(_evaluate_and_store_then_die(fresh_database_url, settings))
    assert opened >= 2
    asyncio.run(_claim_and_die(fresh_database_url, settings))
    db = Db(fresh_database_url)

    with running_auth_service(fresh_database_url) as auth:
        # Everything but the claimed row goes out at once, without any tick or evaluation.
        wait_until(lambda: len(receiver.bodies) == opened - 1, what="the stored notifications")
        # The dead process's claim holds until its lease runs out; then this process sends it.
        auth.clock.advance(claim_lease(settings))
        wait_until(lambda: len(receiver.bodies) == opened, what="the claimed notification")
        rows = db.fetch("SELECT delivered_at, failed_at, attempts FROM auth.alert_notifications")

    ids = [b["alert"]["id"] for b in receiver.bodies]
    assert len(set(ids)) == opened  # each alert announced once
    assert all(b["event"] == "opened" for b in receiver.bodies)
    assert {b["alert"]["module"] for b in receiver.bodies} == {"calendar", "notes"}
    assert len(rows) == opened
    assert all(r.delivered_at is not None and r.failed_at is None for r in rows)
    assert all(r.attempts == 1 for r in rows)


def test_a_database_outage_is_logged_once_and_the_stored_notifications_go_out_after_it(
    fresh_database_url: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not fresh_database_url.startswith("postgresql"):
        pytest.skip("a TCP proxy sits in front of PostgreSQL; SQLite has no network")
    monkeypatch.setenv("MANA_ALERT_WEBHOOK_URL", f"{receiver.server.url}/hook")
    monkeypatch.setenv("MANA_ALERT_WEBHOOK_POLL_SECONDS", "0.05")
    settings = AlertSettings()
    opened = asyncio.run(_evaluate_and_store_then_die(fresh_database_url, settings))
    caplog.set_level(logging.INFO, logger="mana.findings")
    url = make_url(fresh_database_url)

    async def run(proxy: TcpProxy) -> int:
        engine = create_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
        notifier = AlertNotifier(settings, create_sessionmaker(engine), Clock())
        proxy.cut()
        notifier.start()
        try:
            await asyncio.sleep(1.0)  # about 20 polls, every one refused
            during = len(receiver.bodies)
            proxy.restore()
            await asyncio.to_thread(
                wait_until, lambda: len(receiver.bodies) >= opened, what="the stored notifications"
            )
            return during
        finally:
            await notifier.stop()
            await engine.dispose()

    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        delivered_during_outage = asyncio.run(run(proxy))

    assert delivered_during_outage == 0
    assert len({b["alert"]["id"] for b in receiver.bodies}) == opened
    messages = [r.getMessage() for r in caplog.records if r.name == "mana.findings"]
    assert [m for m in messages if "outbox unavailable" in m] == [
        "alert webhook outbox unavailable; retrying every 0.05s"
    ]
    assert len([m for m in messages if "outbox available again" in m]) == 1
