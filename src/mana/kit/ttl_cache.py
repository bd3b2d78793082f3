"""A small expiring, size-bounded map for "remembered for a few seconds" answers.

Used where a service trades a bounded delay for a round trip per request (issue 14): the MCP
server's space memberships, the auth service's confirmed admins. An entry is trusted from the
time it was stored for `ttl` seconds of the given clock; a clock that runs backwards ends it
instead of stretching it. At most `max_entries` are kept (least recently stored dropped first);
`ttl <= 0` keeps nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, *, ttl: float, max_entries: int, now: Callable[[], float]) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._now = now
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if not stored_at <= self._now() < stored_at + self._ttl:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V) -> None:
        if self._ttl <= 0:
            return
        self._entries[key] = (self._now(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
