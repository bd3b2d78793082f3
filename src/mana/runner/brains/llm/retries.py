"""Retries of model API calls: which failures are worth another attempt, and how long to wait.

The runner owns retries (the SDK clients are built with `max_retries=0`) so that the attempt
count, the `Retry-After` handling and the budget checks are the same for every provider.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ModelCallFailed(Exception):
    """The model API refused a call or kept failing after the allowed attempts."""


@dataclass(frozen=True)
class ApiFailure:
    retryable: bool
    description: str
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay_seconds: float = 0.5
    # The longest wait the runner accepts; an API asking for more fails the call at once
    # (the tick has a deadline, and the persona can come back tomorrow).
    max_delay_seconds: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds to wait before attempt `attempt + 1`; None when asked to wait too long."""
        if retry_after is not None and retry_after > 0:
            if retry_after > self.max_delay_seconds:
                return None
            # Never sooner than asked; a little later, so that callers told the same moment do
            # not all come back at once.
            return retry_after * (1 + 0.1 * rng.random())
        backoff = min(self.base_delay_seconds * 2 ** (attempt - 1), self.max_delay_seconds)
        return backoff * (0.5 + 0.5 * rng.random())


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """`retry-after-ms`, then `Retry-After` as seconds or as an HTTP date."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def status_failure(status: int, headers: Mapping[str, str], message: str) -> ApiFailure:
    # 408/429/5xx are the API's own trouble or load (529: overloaded); any other 4xx is ours
    # and would fail the same way again.
    retryable = status in (408, 429) or status >= 500
    return ApiFailure(
        retryable=retryable,
        description=f"HTTP {status}: {message[:300]}",
        retry_after=retry_after_seconds(headers),
    )


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    errors: tuple[type[Exception], ...],
    classify: Callable[[Exception], ApiFailure],
    policy: RetryPolicy,
    provider: str,
    rng: random.Random | None = None,
) -> T:
    """Run `attempt` up to `policy.max_attempts` times; fail with ModelCallFailed."""
    rng = rng or random.Random()
    for number in range(1, policy.max_attempts + 1):
        try:
            return await attempt()
        except errors as exc:
            failure = classify(exc)
            if not failure.retryable:
                raise ModelCallFailed(
                    f"{provider} API refused the call: {failure.description}"
                ) from exc
            if number == policy.max_attempts:
                raise ModelCallFailed(
                    f"{provider} API failed {number} times, giving up: {failure.description}"
                ) from exc
            wait = policy.delay(number, failure.retry_after, rng)
            if wait is None:
                raise ModelCallFailed(
                    f"{provider} API asks to wait {failure.retry_after:g}s, longer than the "
                    f"{policy.max_delay_seconds:g}s a tick waits: {failure.description}"
                ) from exc
            logger.warning(
                "%s API call failed (%s); attempt %d of %d in %.2fs",
                provider,
                failure.description,
                number + 1,
                policy.max_attempts,
                wait,
            )
            await asyncio.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")
