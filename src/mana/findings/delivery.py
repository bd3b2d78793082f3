"""Alert evaluation after ticks finish, and webhook delivery — both off the request path.

`AlertEvaluator.poke()` is what the tick-finish route schedules (as a background task, after
the response): it starts at most one evaluation per `debounce_seconds` per process, in a task
owned by the auth app's lifespan, so a finish never waits for it and never fails because of it.
The lifespan also pokes every `evaluate_interval_seconds`, so an alert resolves on time when
nothing ticks; `POST /api/v1/admin/alerts/evaluate` evaluates at once (the CI gate's call).

`AlertNotifier` posts a Slack-compatible body (`text`, plus `event` and the structured `alert`
beside it) for every alert that opens or resolves, retried with exponential backoff (tenacity).
Notifications are stored in an outbox table in the same transaction as the alert change
(`mana.findings.outbox`), so a restart or crash loses none: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from mana.db import transaction
from mana.findings import outbox
from mana.findings.alerts import AlertChange, AlertRow, evaluate_alerts
from mana.findings.service import alert_out
from mana.findings.settings import AlertSettings
from mana.kit.clock import Clock

logger = logging.getLogger("mana.findings")


class RetryableDelivery(Exception):
    """The receiver answered 429 or 5xx: worth another attempt."""


def webhook_body(change: AlertChange) -> dict[str, Any]:
    alert = alert_out(AlertRow(change.alert, None)).model_dump(mode="json", by_alias=True)
    icon = ":rotating_light:" if change.event == "opened" else ":white_check_mark:"
    return {
        "text": f"{icon} [mana] alert {change.event}: {change.alert.message}",
        "event": change.event,
        "alert": alert,
    }


def claim_lease(settings: AlertSettings) -> timedelta:
    """How long a claimed notification is left to its process: one delivery with every retry,
    so a live process is never overtaken, and a dead one's row is due again after it."""
    per_attempt = settings.webhook_timeout_seconds + settings.webhook_backoff_max_seconds
    return timedelta(seconds=settings.webhook_attempts * per_attempt + 30)


class AlertNotifier:
    """Posts the outbox's notifications to the webhook, oldest first, from a background task.

    Woken by `wake()` after a commit that stored notifications, and every
    `webhook_poll_seconds` regardless (rows another process stored, rows whose lease ran out).
    """

    def __init__(
        self,
        settings: AlertSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.delivered = 0
        self.failed = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.webhook_url)

    def start(self) -> None:
        if self.enabled:
            self._http = httpx.AsyncClient(timeout=self.settings.webhook_timeout_seconds)
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()

    async def store(
        self, session: AsyncSession, changes: list[AlertChange], *, now: datetime
    ) -> None:
        """In the caller's transaction: the notifications for these changes (if a webhook is
        set). Call `wake()` once it has committed."""
        if self.enabled and changes:
            stored = [(c.alert.id, c.event, webhook_body(c)) for c in changes]
            await outbox.enqueue(session, stored, now=now)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        # While the database is down every poll fails the same way: one warning (with its
        # traceback) when the outage starts and one line when it ends, not one per poll.
        unavailable_since: datetime | None = None
        while True:
            try:
                sent = await self._deliver_next()
            except Exception:  # the database is down, say: the next poll tries again
                if unavailable_since is None:
                    unavailable_since = self.clock.now()
                    logger.warning(
                        "alert webhook outbox unavailable; retrying every %ss",
                        self.settings.webhook_poll_seconds,
                        exc_info=True,
                    )
                sent = False
            else:
                if unavailable_since is not None:
                    logger.warning(
                        "alert webhook outbox available again after %.0fs",
                        (self.clock.now() - unavailable_since).total_seconds(),
                    )
                    unavailable_since = None
            if sent:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.webhook_poll_seconds):
                    await self._wake.wait()
            self._wake.clear()

    async def _deliver_next(self) -> bool:
        """Deliver the oldest due notification; False when there was none."""
        async with transaction(self.sessionmaker) as session:
            row = await outbox.claim_next(
                session, now=self.clock.now(), lease=claim_lease(self.settings)
            )
            if row is None:
                return False
            notification_id, body = row.id, row.body
        attempts, error = await self._post(body)
        async with transaction(self.sessionmaker) as session:
            await outbox.finish(
                session, notification_id, now=self.clock.now(), attempts=attempts, error=error
            )
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1
            logger.error("alert webhook gave up on %s: %s", body["alert"]["id"], error)
        return True

    async def _post(self, body: dict[str, Any]) -> tuple[int, str | None]:
        """(attempts made, None when delivered else the last error)."""
        assert self._http is not None and self.settings.webhook_url
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.webhook_attempts),
            wait=wait_exponential(
                multiplier=self.settings.webhook_backoff_seconds,
                max=self.settings.webhook_backoff_max_seconds,
            ),
            retry=retry_if_exception_type((httpx.TransportError, RetryableDelivery)),
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    response = await self._http.post(self.settings.webhook_url, json=body)
                    if response.status_code == 429 or response.status_code >= 500:
                        raise RetryableDelivery(f"HTTP {response.status_code}")
                    response.raise_for_status()  # another 4xx: the body is wrong, no retry
        except (httpx.HTTPError, RetryableDelivery) as exc:
            return attempts, f"{type(exc).__name__}: {exc}"
        return attempts, None


class AlertEvaluator:
    """Debounced background evaluation, owned by the auth app's lifespan."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: AlertSettings,
        notifier: AlertNotifier,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.settings = settings
        self.notifier = notifier
        self.runs = 0
        self._last = float("-inf")
        self._pending = False
        self._task: asyncio.Task[None] | None = None
        self._periodic: asyncio.Task[None] | None = None
        # `mana simulate`: the time of the latest finished tick, when it was a simulated one
        # (dated on its simulated day); the windows are then taken as of that time.
        self._as_of: datetime | None = None

    async def poke(self, as_of: datetime | None = None) -> None:
        """Ask for an evaluation soon; returns at once. `as_of`: the finished tick's time
        when it is not the clock's (a simulated tick); the latest poke decides."""
        self._as_of = as_of
        if self._task is not None and not self._task.done():
            self._pending = True  # evaluate once more after the running/waiting one
            return
        delay = max(0.0, self._last + self.settings.debounce_seconds - time.monotonic())
        self._task = asyncio.get_running_loop().create_task(self._loop(delay))

    async def _loop(self, delay: float) -> None:
        while True:
            if delay:
                await asyncio.sleep(delay)
            self._pending = False
            self._last = time.monotonic()
            try:
                await self.evaluate_now()
            except Exception:  # an evaluation failure must never reach a tick: log, go on
                logger.exception("alert evaluation failed")
            if not self._pending:
                return
            delay = self.settings.debounce_seconds

    async def evaluate_now(self) -> Evaluation:
        """Evaluate in a transaction of its own, as of `as_of()`."""
        async with transaction(self.sessionmaker) as session:
            evaluation = await self.evaluate_in(session)
        if evaluation.changes:
            self.notifier.wake()  # after the commit: never announce a rolled-back alert
        return evaluation

    async def evaluate_in(self, session: AsyncSession) -> Evaluation:
        """Evaluate as of `as_of()` in the caller's transaction, storing the notifications
        with the changes; call `notifier.wake()` once it has committed."""
        now = self.as_of()
        changes = await evaluate_alerts(session, now=now, settings=self.settings)
        await self.notifier.store(session, changes, now=now)
        self.runs += 1
        return Evaluation(now, changes)

    def as_of(self) -> datetime:
        """Where an evaluation's windows end: the latest simulated tick's time if there was
        one, else the clock's now."""
        return self._as_of or self.clock.now()

    def start_periodic(self) -> None:
        """Poke every `evaluate_interval_seconds` (0: never) until `stop()`."""
        interval = self.settings.evaluate_interval_seconds
        if interval > 0 and self._periodic is None:
            self._periodic = asyncio.get_running_loop().create_task(self._every(interval))

    async def _every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.poke(self._as_of)

    async def wait_idle(self) -> None:
        """Until nothing is running or waiting to run (tests, an orderly hand-over)."""
        while self._task is not None and not self._task.done():
            await asyncio.gather(asyncio.shield(self._task), return_exceptions=True)

    async def stop(self) -> None:
        for task in (self._periodic, self._task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: the time its windows end at, and what it opened or resolved."""

    as_of: datetime
    changes: list[AlertChange]


@dataclass
class EvaluationRequest:
    """What a route tells the evaluation it schedules: `as_of`, a simulated tick's time."""

    as_of: datetime | None = None


async def _evaluate_after_response(
    request: Request, background: BackgroundTasks
) -> EvaluationRequest:
    evaluator: AlertEvaluator | None = getattr(request.app.state, "alert_evaluator", None)
    wanted = EvaluationRequest()
    if evaluator is not None:

        async def poke() -> None:  # runs after the response: the route has set `as_of`
            await evaluator.poke(wanted.as_of)

        background.add_task(poke)
    return wanted


EvaluateAlertsAfterResponse = Annotated[EvaluationRequest, Depends(_evaluate_after_response)]
"""Add to a route's parameters: alert evaluation is scheduled after its response is sent."""


async def start_alerts(app: Any, settings: AlertSettings | None = None) -> AlertEvaluator:
    """Create, start and attach the notifier and evaluator (call in the app lifespan)."""
    settings = settings or getattr(app.state, "alert_settings", None) or AlertSettings()
    notifier = AlertNotifier(settings, app.state.sessionmaker, app.state.clock)
    notifier.start()
    evaluator = AlertEvaluator(app.state.sessionmaker, app.state.clock, settings, notifier)
    evaluator.start_periodic()
    app.state.alert_evaluator = evaluator
    return evaluator


async def stop_alerts(app: Any) -> None:
    evaluator: AlertEvaluator | None = getattr(app.state, "alert_evaluator", None)
    if evaluator is not None:
        await evaluator.stop()
        await evaluator.notifier.stop()
