"""The dashboard on 127.0.0.1 over a fortnight of persona history, and a real Chromium.

One site per test session: a fresh SQLite database holding 14 days of history that ends today,
with a planted fault (the calendar's writes fail from day 10), alerts evaluated on it, an admin
and a plain user; the auth service and the dashboard in front of it. SQLite only: the dashboard
never touches the database, and the findings API it reads is tested on both backends.

Chromium is Debian's package, driven by Playwright; no browser is ever downloaded. When it is
missing the tests fail with the one line that installs it (never a silent skip).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy.ext.asyncio import AsyncSession

from mana.dashboard.app import create_dashboard_app
from mana.db import create_engine, create_sessionmaker, transaction
from mana.findings.alerts import evaluate_alerts
from mana.findings.settings import AlertSettings
from mana.kit.clock import OffsetClock
from mana.kit.server import BackgroundServer
from mana.personas.models import PersonaAction, PersonaFeedback, PersonaObservation, PersonaTick
from tests.findings.history import Fault, History, write_history
from tests.fixtures.database import Db, create_database
from tests.fixtures.personas import make_admin
from tests.fixtures.servers import DEFAULT_PASSWORD, AuthService, running_auth_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".scratch" / "screenshots"
HISTORY_DAYS = 14
FAULTY_MODULE = "calendar"
FAULT_FROM_DAY = 10
SMALL_HOURS_SHIFT = timedelta(hours=8)
TODAY_TICKS_DONE = timedelta(hours=1, minutes=30)
# Playwright waits up to this for a page or an element; pages here answer in milliseconds.
TIMEOUT_MS = 10_000


@dataclass
class Site:
    url: str
    auth: AuthService
    db: Db
    clock: OffsetClock
    history: History
    admin_email: str
    user_email: str
    password: str = DEFAULT_PASSWORD

    def http(self) -> httpx.Client:
        """A cookie-keeping client, for what needs no browser (redirects, forged cookies)."""
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)

    def sign_in(self, client: httpx.Client, email: str | None = None) -> httpx.Response:
        form = client.get("/signin")
        csrf = csrf_of(form.text)
        return client.post(
            "/signin",
            data={"csrf": csrf, "email": email or self.admin_email, "password": self.password},
        )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


async def _move_to_small_hours(session: AsyncSession) -> None:
    """The history's ticks start at 08:00 UTC; moved to just after midnight (same days), today's
    tick has already happened whenever the tests run after ~01:30 UTC, so every day of the
    window has data."""
    for model, columns in (
        (PersonaTick, ("started_at", "finished_at")),
        (PersonaAction, ("created_at",)),
        (PersonaFeedback, ("created_at",)),
        (PersonaObservation, ("created_at",)),
    ):
        for row in await session.scalars(sa.select(model)):
            for column in columns:
                setattr(row, column, getattr(row, column) - SMALL_HOURS_SHIFT)
    await session.flush()


def _midnight(history: History, day: int) -> datetime:
    return datetime.combine(history.start + timedelta(days=day), time(0), tzinfo=UTC)


def days_with_history(history: History) -> int:
    """Days of the window whose ticks have happened (all of them after ~01:30 UTC)."""
    now = datetime.now(UTC)
    return sum(_midnight(history, day) + TODAY_TICKS_DONE <= now for day in range(history.days))


async def _write_fortnight(url: str) -> History:
    """14 days ending today, the fault from day 10, alerts evaluated at the end of each faulty
    day and now — as the tick-finish hook would have done while the history was written."""
    today = datetime.now(UTC).date()
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    settings = AlertSettings(_env_file=None)  # type: ignore[call-arg]
    try:
        async with transaction(sessions) as session:
            history = await write_history(
                session,
                start=today - timedelta(days=HISTORY_DAYS - 1),
                days=HISTORY_DAYS,
                faults=(Fault(FAULTY_MODULE, first=FAULT_FROM_DAY),),
            )
            await _move_to_small_hours(session)
        for day in range(FAULT_FROM_DAY, HISTORY_DAYS - 1):
            async with transaction(sessions) as session:
                await evaluate_alerts(session, now=history.day_end(day), settings=settings)
        async with transaction(sessions) as session:
            await evaluate_alerts(session, now=datetime.now(UTC), settings=settings)
    finally:
        await engine.dispose()
    return history


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = create_database("sqlite", tmp_path_factory.mktemp("dashboard"))
    history = asyncio.run(_write_fortnight(url))
    db = Db(url)
    with running_auth_service(url) as auth:
        admin_email = make_admin(auth, db)
        user_email = auth.register()["email"]
        clock = OffsetClock()
        settings = auth.settings.model_copy(update={"auth_url": auth.url})
        with BackgroundServer(create_dashboard_app(settings, clock=clock)) as server:
            yield Site(
                url=server.url,
                auth=auth,
                db=db,
                clock=clock,
                history=history,
                admin_email=admin_email,
                user_email=user_email,
            )


@pytest.fixture
def dashboard(site: Site) -> Iterator[Site]:
    """The shared site, with the dashboard's and the auth service's clocks reset after each
    test."""
    yield site
    site.clock.reset()
    site.auth.clock.reset()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    """Module-scoped, and after `site`: Playwright's sync API keeps an event loop running in
    this thread, so nothing may call asyncio.run() while it is open (the site's set-up does)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed ({CHROMIUM} missing): apt-get install -y chromium",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, dashboard: Site) -> Iterator[Page]:
    """A fresh browser context (no cookies) on a laptop-sized window. Script errors and missing
    static files fail the test: a chart that throws is a broken page however right the HTML."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=dashboard.url)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    # Pages answer 401/403 on purpose (a wrong password); a missing script or style is a bug.
    tab.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    tab.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and "/static/" in r.url
            else None
        ),
    )
    yield tab
    context.close()
    assert errors == [], errors


def screenshot(tab: Page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(tab: Page, email: str, password: str = DEFAULT_PASSWORD) -> None:
    tab.goto("/signin")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_load_state()


def charts_drawn(tab: Page) -> None:
    """Wait until dashboard.js has drawn every chart of the page."""
    tab.wait_for_function("document.documentElement.dataset.chartsReady === 'true'")
