"""Confirmed admins, remembered for a few seconds (issue 14).

Every admin request used to read the user's row before doing its work: a round trip and an
ORM load, a sizeable part of a small admin read. `AdminCache` remembers, per user id, that the
user was a live (not deleted) admin when last read, for `ttl` seconds of the app's clock
(`MANA_ADMIN_CACHE_SECONDS`, 0 turns it off). Bounds:

- time: an entry is trusted for `ttl` seconds after the read; a demoted or deleted admin loses
  access within that, also when the change was made elsewhere (another process, SQL by hand).
  A clock that jumps backwards ends the entry instead of stretching it;
- size: at most `max_entries` admins (least recently confirmed dropped first);
- only positive answers: a non-admin, a deleted or unknown user is read again on every request,
  so a promotion takes effect at once and nobody is refused from a stale entry;
- changes made in this process through our own code paths (deleting a user through the admin
  API) call `forget`, so they take effect on the next request here.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Admin:
    """What an admin route learns about its caller: who, and that they were an admin."""

    id: uuid.UUID
    email: str


class AdminCache:
    def __init__(self, *, ttl: float, now: Callable[[], float], max_entries: int = 1_000) -> None:
        self._ttl = ttl
        self._now = now
        self._max = max_entries
        # user id -> (when confirmed, the admin)
        self._entries: OrderedDict[uuid.UUID, tuple[float, Admin]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user_id: uuid.UUID) -> Admin | None:
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        confirmed_at, admin = entry
        if not confirmed_at <= self._now() < confirmed_at + self._ttl:
            del self._entries[user_id]
            return None
        return admin

    def put(self, admin: Admin) -> None:
        if self._ttl <= 0:
            return
        self._entries[admin.id] = (self._now(), admin)
        self._entries.move_to_end(admin.id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, user_id: uuid.UUID) -> None:
        self._entries.pop(user_id, None)
