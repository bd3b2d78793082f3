"""Findings and alerts over HTTP: the tick-finish hook, webhook delivery with retries, the admin
API (admin only) — against a real auth service on 127.0.0.1 and a local webhook receiver."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mana.db import create_engine, create_sessionmaker, transaction
from mana.kit.server import BackgroundServer
from tests.findings.history import Fault, History, write_history
from tests.fixtures.database import Db, create_database, drop_database
from tests.fixtures.personas import make_admin
from tests.fixtures.runner import wait_until
from tests.fixtures.servers import TEST_SERVICE_KEY, AuthService, running_auth_service

ENDPOINTS = [
    ("GET", "/api/v1/admin/findings"),
    ("GET", "/api/v1/admin/findings/modules/calendar"),
    ("GET", "/api/v1/admin/alerts"),
    ("POST", f"/api/v1/admin/alerts/{uuid.uuid4()}/acknowledge"),
    ("POST", "/api/v1/admin/alerts/evaluate"),
]


class Receiver:
    """A webhook receiver that holds the first delivery until released, then fails it and the
    next one with 503, and accepts everything after that."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        self.server = BackgroundServer(
            Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])
        )

    async def hook(self, request: Request) -> JSONResponse:
        body = await request.json()
        number = len(self.bodies)
        self.bodies.append(body)
        if number == 0:
            self.first_arrived.set()
            await asyncio.to_thread(self.release.wait, 60)
        status = 503 if number < 2 else 200
        self.answers.append(status)
        return JSONResponse({"ok": status == 200}, status_code=status)


@dataclass
class Stack:
    auth: AuthService
    db: Db
    admin_email: str
    admin_token: str
    receiver: Receiver
    history: History
    finishes: list[int] = field(default_factory=list)

    def admin(self) -> httpx.Client:
        return self.auth.client(self.admin_token)

    def open_alerts(self) -> list[dict[str, Any]]:
        with self.admin() as client:
            response = client.get("/api/v1/admin/alerts", params={"status": "open"})
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def tick(self, persona_id: uuid.UUID) -> int:
        """Start and finish a tick through the runner's internal API; the finish's status."""
        base = f"/api/v1/internal/personas/{persona_id}/ticks"
        headers = {"X-Service-Key": TEST_SERVICE_KEY}
        with httpx.Client(base_url=self.auth.url, headers=headers, timeout=30) as client:
            started = client.post(base, json={"runnerId": "findings-test", "brain": "scripted"})
            assert started.status_code == 201, started.text
            tick_id = started.json()["tickId"]
            finished = client.post(
                f"{base}/{tick_id}/finish", json={"status": "ok", "toolCalls": 0, "errors": 0}
            )
        return finished.status_code


async def _write(url: str, start: datetime) -> History:
    engine = create_engine(url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return await write_history(
                session, start=start.date(), days=12, faults=(Fault("calendar", first=9),)
            )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A database of its own with 12 days of history (calendar broken from day 9, i.e. the last
    three days before today), an auth service with a webhook, and two finished ticks: the
    second finished while the first webhook delivery was still hanging."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgres"
    url = create_database(backend, Path(tmp_path_factory.mktemp("findings-api")))
    receiver = Receiver()
    receiver.server.start()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MANA_ALERT_WEBHOOK_URL", f"{receiver.server.url}/hook")
            env.setenv("MANA_ALERT_WEBHOOK_BACKOFF_SECONDS", "0.05")
            env.setenv("MANA_ALERT_WEBHOOK_TIMEOUT_SECONDS", "60")
            env.setenv("MANA_ALERT_DEBOUNCE_SECONDS", "0.2")
            with running_auth_service(url) as auth:
                today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                history = asyncio.run(_write(url, today - timedelta(days=12)))
                db = Db(url)
                admin_email = make_admin(auth, db)
                stack = Stack(
                    auth=auth,
                    db=db,
                    admin_email=admin_email,
                    admin_token=str(auth.login(admin_email)["token"]),
                    receiver=receiver,
                    history=history,
                )
                stack.finishes.append(stack.tick(history.persona_ids[0]))
                assert receiver.first_arrived.wait(60), "no webhook delivery after a finish"
                # The delivery hangs in the receiver now; a tick must finish regardless.
                stack.finishes.append(stack.tick(history.persona_ids[1]))
                receiver.release.set()
                wait_until(
                    lambda: receiver.answers.count(200) >= len(stack.open_alerts()),
                    what="every open alert delivered",
                )
                yield stack
    finally:
        receiver.release.set()
        receiver.server.stop()
        drop_database(url)


def test_findings_and_alerts_are_for_admins_only(stack: Stack) -> None:
    _user, token = stack.auth.user_token()
    for method, path in ENDPOINTS:
        with stack.auth.client() as anonymous:
            assert anonymous.request(method, path).status_code == 401, path
        with stack.auth.client(token) as user:
            response = user.request(method, path)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"] == "forbidden"


def test_a_finish_evaluates_alerts_afterwards_and_a_failing_webhook_is_retried(
    stack: Stack,
) -> None:
    # Both finishes answered although the first delivery was hanging: delivery never blocks.
    assert stack.finishes == [200, 200]
    alerts = stack.open_alerts()
    assert alerts and {a["module"] for a in alerts} == {"calendar"}
    receiver = stack.receiver
    first = receiver.bodies[0]["alert"]["id"]
    # The first delivery failed twice (503) and went through on the third attempt.
    assert [b["alert"]["id"] for b in receiver.bodies[:3]] == [first] * 3
    assert receiver.answers[:3] == [503, 503, 200]
    delivered = {
        body["alert"]["id"]
        for body, answer in zip(receiver.bodies, receiver.answers, strict=False)
        if answer == 200
    }
    assert delivered == {a["id"] for a in alerts}
    for body in receiver.bodies:
        # Slack-compatible: `text`, with the structured fields beside it.
        assert body["event"] == "opened" and "alert opened" in body["text"]
        assert body["alert"]["rule"] in body["text"] or body["alert"]["module"] in body["text"]
        assert set(body["alert"]) >= {"rule", "subject", "module", "status", "figures", "openedAt"}


def test_the_overview_shows_every_module_and_the_regression(stack: Stack) -> None:
    with stack.admin() as client:
        response = client.get("/api/v1/admin/findings", params={"days": 14})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["window"]["days"] == 14 and len(data["dates"]) == 14
    modules = {m["module"]: m for m in data["modules"]}
    assert {"calendar", "todo", "notes", "journal", "mood", "habits", "contacts"} <= set(modules)
    calendar = modules["calendar"]
    assert len(calendar["ratingTrend"]) == 14 and calendar["openAlerts"] >= 1
    assert calendar["observations"].get("not_applied", 0) > 0
    assert calendar["errorRate"] > modules["todo"]["errorRate"]
    # The last days of the trend are clearly worse than the days before the fault.
    trend = [v for v in calendar["ratingTrend"] if v is not None]
    assert max(trend[-3:]) < min(trend[:6])
    assert modules["todo"]["openAlerts"] == 0
    top = data["topClusters"][0]
    assert top["tool"] == "calendar.create"
    assert top["message"] == "could not save calendar item <id>: storage timeout after <n> ms"
    assert top["personas"] >= 3 and uuid.UUID(top["exampleTickId"])
    assert all(n["rating"] <= 2 for n in data["worstNotes"]) and data["worstNotes"]
    assert "calendar.update" in data["coverage"]["neverCalled"]
    assert {a["module"] for a in data["openAlerts"]} == {"calendar"}


def test_a_module_has_a_daily_series_tools_clusters_and_filtered_notes(stack: Stack) -> None:
    with stack.admin() as client:
        response = client.get(
            "/api/v1/admin/findings/modules/calendar", params={"days": 14, "maxRating": 2}
        )
        missing = client.get("/api/v1/admin/findings/modules/nope")
        bad = client.get("/api/v1/admin/findings/modules/Bad!")
        zero = client.get("/api/v1/admin/findings", params={"days": 0})
    assert response.status_code == 200, response.text
    data = response.json()
    assert [d["date"] for d in data["days"]] == sorted(d["date"] for d in data["days"])
    assert len(data["days"]) == 14
    assert sum(d["ratings"]["count"] for d in data["days"]) == data["ratings"]["count"]
    tools = {t["tool"]: t for t in data["tools"]}
    assert set(tools) == {"calendar.create", "calendar.list"}
    assert tools["calendar.create"]["errorRate"] > 0.1
    assert 0 < tools["calendar.list"]["p50Ms"] <= tools["calendar.list"]["p95Ms"]
    assert data["clusters"] and all(c["module"] == "calendar" for c in data["clusters"])
    assert data["notes"] and all(n["rating"] <= 2 for n in data["notes"])
    assert all(n["module"] == "calendar" and n["personaEmail"] for n in data["notes"])
    assert {a["module"] for a in data["alerts"]} == {"calendar"}
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert bad.status_code == 422 and zero.status_code == 422


def test_evaluating_now_again_changes_nothing_and_lists_what_is_open(stack: Stack) -> None:
    before = stack.open_alerts()
    deliveries = len(stack.receiver.bodies)
    with stack.admin() as client:
        response = client.post("/api/v1/admin/alerts/evaluate")
    assert response.status_code == 200, response.text
    data = response.json()
    # The fault is still in the recent window: nothing opens twice, nothing resolves.
    assert data["opened"] == [] and data["resolved"] == []
    assert {a["id"] for a in data["openAlerts"]} == {a["id"] for a in before}
    assert all(a["status"] == "open" for a in data["openAlerts"])
    assert datetime.fromisoformat(data["evaluatedAt"]) <= datetime.now(UTC)
    assert len(stack.receiver.bodies) == deliveries  # no change, no webhook


def test_acknowledging_an_alert_persists_and_keeps_it_open(stack: Stack) -> None:
    alert = stack.open_alerts()[0]
    path = f"/api/v1/admin/alerts/{alert['id']}/acknowledge"
    with stack.admin() as client:
        first = client.post(path)
        again = client.post(path)
        unknown = client.post(f"/api/v1/admin/alerts/{uuid.uuid4()}/acknowledge")
    assert first.status_code == 200, first.text
    assert first.json()["acknowledgedByEmail"] == stack.admin_email
    assert again.json()["acknowledgedAt"] == first.json()["acknowledgedAt"]
    assert unknown.status_code == 404
    reloaded = next(a for a in stack.open_alerts() if a["id"] == alert["id"])
    assert reloaded["status"] == "open"
    assert reloaded["acknowledgedAt"] == first.json()["acknowledgedAt"]
    assert reloaded["acknowledgedByEmail"] == stack.admin_email


def test_the_openapi_document_describes_the_findings_responses(stack: Stack) -> None:
    with stack.auth.client() as client:
        spec = client.get("/openapi.json").json()
    ok = spec["paths"]["/api/v1/admin/findings"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("FindingsOverviewOut")
    overview = spec["components"]["schemas"]["FindingsOverviewOut"]["properties"]
    assert {"modules", "topClusters", "worstNotes", "coverage", "openAlerts"} <= set(overview)
