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
from collections.abc import Callable
from dataclasses import dataclass

from mana.kit.ttl_cache import TtlCache


@dataclass(frozen=True)
class Admin:
    """What an admin route learns about its caller: who, and that they were an admin."""

    id: uuid.UUID
    email: str


class AdminCache:
    def __init__(self, *, ttl: float, now: Callable[[], float], max_entries: int = 1_000) -> None:
        self._admins: TtlCache[uuid.UUID, Admin] = TtlCache(
            ttl=ttl, max_entries=max_entries, now=now
        )

    def __len__(self) -> int:
        return len(self._admins)

    def get(self, user_id: uuid.UUID) -> Admin | None:
        return self._admins.get(user_id)

    def put(self, admin: Admin) -> None:
        self._admins.put(admin.id, admin)

    def forget(self, user_id: uuid.UUID) -> None:
        self._admins.forget(user_id)
