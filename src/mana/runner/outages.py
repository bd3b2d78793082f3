"""Which service a failure came from, and a circuit breaker per service.

A tick that fails because the auth service, the MCP server or the database was unreachable is
not the persona's day: it is finished `unavailable` and the runner stops starting ticks that
would fail the same way. Each service has its own breaker: the first failure opens it (logged
once, with its traceback), further failures while it is open are one line each, and after a
growing pause (1 s, 2 s, 4 s … `max_pause_seconds`) one probing tick is let through; its
success closes the breaker ("… is back after 12.3s").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import httpx2

logger = logging.getLogger(__name__)

AUTH, MCP, DATABASE = "auth", "mcp", "database"
SERVICES = (AUTH, MCP, DATABASE)
DESCRIPTIONS = {
    AUTH: "auth service",
    MCP: "MCP server",
    DATABASE: "database (behind the auth service)",
}


class ServiceUnreachable(Exception):
    """Raised where a failure is known to be a service's (e.g. a refused persona login)."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(message)
        self.service = service


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, the members of its groups, and their causes, each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)


def _netloc(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def failed_service(exc: BaseException, *, auth_url: str, mcp_url: str) -> str | None:
    """The service an exception says is unreachable, or None when it is not an outage (a bug,
    a refusal, a timeout of the tick itself)."""
    # Imported here: the internal client imports the runner's types, not the other way round.
    from mana.clients.internal import InternalApiError

    hosts = {_netloc(auth_url): AUTH, _netloc(mcp_url): MCP}
    for item in _chain(exc):
        # ServiceUnreachable, and a LoginFailed that was an outage, name their service.
        service = getattr(item, "service", None)
        if isinstance(service, str) and service in SERVICES:
            return service
        if isinstance(item, InternalApiError) and item.status is not None:
            if item.error == "database_unavailable":
                return DATABASE
            if item.status >= 500:
                return AUTH
        if isinstance(item, httpx.TransportError | httpx2.TransportError):
            try:
                url = str(item.request.url)
            except RuntimeError:  # no request attached: the MCP transport is the only other
                return MCP
            return hosts.get(_netloc(url), MCP)
    return None


def one_line(exc: BaseException) -> str:
    """The innermost useful message of an exception (groups unwrapped), on one line."""
    inner = exc
    while isinstance(inner, BaseExceptionGroup) and inner.exceptions:
        inner = inner.exceptions[0]
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


@dataclass
class _Breaker:
    opened_at: float | None = None
    pause: float = 0.0
    retry_at: float = 0.0
    failures: int = 0
    probing: bool = False


class Breakers:
    def __init__(
        self,
        *,
        first_pause_seconds: float = 1.0,
        max_pause_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._first = first_pause_seconds
        self._max = max_pause_seconds
        self._now = monotonic
        self._state = {service: _Breaker() for service in SERVICES}
        self.outages = 0  # how many times a breaker opened (metrics, tests)

    def is_open(self, service: str) -> bool:
        return self._state[service].opened_at is not None

    def open_services(self) -> list[str]:
        return [s for s in SERVICES if self.is_open(s)]

    def admit(self) -> int | None:
        """How many ticks may start now: None for no limit, 0 while a breaker pauses, 1 for a
        probe once the pause is over."""
        open_ = [self._state[s] for s in self.open_services()]
        if not open_:
            return None
        now = self._now()
        if any(b.probing or now < b.retry_at for b in open_):
            return 0
        for breaker in open_:
            breaker.probing = True
        return 1

    def failure(self, service: str, exc: BaseException, *, where: str) -> None:
        breaker = self._state[service]
        breaker.failures += 1
        breaker.probing = False
        if breaker.opened_at is None:
            breaker.opened_at = self._now()
            breaker.pause = self._first
            self.outages += 1
            # One traceback per outage, not one per tick.
            logger.error(
                "%s unreachable (%s, %s): pausing ticks, next try in %.0fs",
                DESCRIPTIONS[service],
                where,
                one_line(exc),
                breaker.pause,
                exc_info=exc,
            )
        else:
            breaker.pause = min(self._max, breaker.pause * 2)
            logger.warning(
                "%s still unreachable (%s, %s); next try in %.0fs",
                DESCRIPTIONS[service],
                where,
                one_line(exc),
                breaker.pause,
            )
        breaker.retry_at = self._now() + breaker.pause

    def success(self, *services: str) -> None:
        for service in services:
            breaker = self._state[service]
            if breaker.opened_at is not None:
                logger.warning(
                    "%s is back after %.1fs (%d failures)",
                    DESCRIPTIONS[service],
                    self._now() - breaker.opened_at,
                    breaker.failures,
                )
            self._state[service] = _Breaker()

    def release_probe(self) -> None:
        """A probe that ended without telling either way (e.g. nothing was due)."""
        for breaker in self._state.values():
            breaker.probing = False
