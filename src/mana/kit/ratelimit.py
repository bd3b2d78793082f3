"""A small in-process sliding-window limiter (sign-in brute-force protection).

It lives in one process: behind several auth replicas each replica limits on its own, which
still bounds an attacker to N × limit. A shared store (Redis) is the next step if that matters.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable


class SlidingWindowLimiter:
    def __init__(
        self, *, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[Hashable, deque[float]] = {}

    def _prune(self, key: Hashable, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            # Keep memory bounded by the keys active within one window.
            self._hits.pop(key, None)
            hits = self._hits.setdefault(key, deque())
        return hits

    def retry_after(self, key: Hashable) -> int | None:
        """Seconds until the next attempt is allowed, or None if it is allowed now."""
        now = self._clock()
        hits = self._prune(key, now)
        if len(hits) < self.limit:
            return None
        return max(1, math.ceil(hits[0] + self.window - now))

    def hit(self, key: Hashable) -> None:
        now = self._clock()
        self._prune(key, now).append(now)

    def reset(self, key: Hashable) -> None:
        self._hits.pop(key, None)
