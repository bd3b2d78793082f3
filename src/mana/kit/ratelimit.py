"""Rate limits shared by every auth process: the `limits` library over Redis or the database.

Sign-in throttling has to hold across replicas, or N auth processes allow N × the limit. The
counting is `limits`' fixed-window strategy; where the counters live is a setting:

- `MANA_REDIS_URL` set: Redis (`limits`' own async Redis storage).
- otherwise: the service's database, through `SqlCounterStorage` below — a `limits` storage
  over one small table (`auth.rate_limit_counters`), one upsert per hit. No new moving part
  for a deployment that has only the database.

The window of a key starts at its first hit and lasts `window` seconds (a fixed window, not a
sliding one: a client can make up to 2 × limit attempts around a window boundary, which for
brute-force protection is the same order of magnitude).

Who the client is: the socket peer, unless the peer is a trusted proxy (`MANA_TRUSTED_PROXIES`,
CIDRs); only then is `X-Forwarded-For` believed, read from the right, skipping trusted hops.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import sqlalchemy as sa
from fastapi import Request
from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base, one_statement_engine
from mana.kit.errors import RateLimitStoreUnavailable

# One expired-row sweep per this many hits keeps the table at about the keys of one window.
_SWEEP_ONE_IN = 200


class RateLimitCounter(Base):
    __tablename__ = "rate_limit_counters"
    __table_args__ = ({"schema": "auth"},)

    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer)
    # Epoch seconds (what `limits` works in); indexed for the sweep of expired windows.
    expires_at: Mapped[float] = mapped_column(sa.Float, index=True)


_counters = cast(sa.Table, RateLimitCounter.__table__)

# Built once: constructing a statement and computing its cache key cost more CPU than running
# it (these run on every sign-in attempt; issue 14).
_LIVE = sa.select(_counters.c.count, _counters.c.expires_at).where(
    _counters.c.key == sa.bindparam("k"), _counters.c.expires_at > sa.bindparam("now")
)
_SWEEP = sa.delete(_counters).where(_counters.c.expires_at < sa.bindparam("now"))


def _upsert(insert: Callable[[sa.Table], Any]) -> sa.Executable:
    """Count `n` hits of key `k` whose window would end at `window_end`, returning the count."""
    values = insert(_counters).values(
        key=sa.bindparam("k"), count=sa.bindparam("n"), expires_at=sa.bindparam("window_end")
    )
    expired = _counters.c.expires_at <= sa.bindparam("now")
    statement: sa.Executable = values.on_conflict_do_update(
        index_elements=[_counters.c.key],
        set_={
            # An expired window starts over; a live one counts on, keeping its end.
            "count": sa.case(
                (expired, values.excluded.count), else_=_counters.c.count + sa.bindparam("n")
            ),
            "expires_at": sa.case(
                (expired, values.excluded.expires_at), else_=_counters.c.expires_at
            ),
        },
    ).returning(_counters.c.count)
    return statement


class SqlCounterStorage(Storage):
    """A `limits` async storage over `auth.rate_limit_counters` (fixed-window counters).

    Each operation is its own short transaction on its own connection, never the request's:
    a throttled request must not hold the request transaction (on SQLite, the write lock).
    Database errors propagate unwrapped, so an outage is answered as one (503), not as "allowed".
    """

    STORAGE_SCHEME = None

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._engine = engine
        # Every operation below is one statement (the sweep is a second, independent one), so
        # each runs in autocommit, without a transaction around it (see one_statement_engine).
        self._statements = one_statement_engine(engine)
        postgres = engine.dialect.name == "postgresql"
        self._upsert = _upsert(postgresql.insert if postgres else sqlite.insert)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sa.exc.SQLAlchemyError

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        params = {"k": key, "n": amount, "window_end": now + expiry, "now": now}
        async with self._statements.begin() as connection:
            count = int((await connection.execute(self._upsert, params)).scalar_one())
            if random.randrange(_SWEEP_ONE_IN) == 0:
                await connection.execute(_SWEEP, {"now": now})
        return count

    async def _live(self, key: str) -> tuple[int, float] | None:
        async with self._statements.connect() as connection:
            result = await connection.execute(_LIVE, {"k": key, "now": time.time()})
            row = result.first()
        return (int(row[0]), float(row[1])) if row else None

    async def get(self, key: str) -> int:
        live = await self._live(key)
        return live[0] if live else 0

    async def get_expiry(self, key: str) -> float:
        live = await self._live(key)
        return live[1] if live else time.time()

    async def check(self) -> bool:
        async with self._engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
        return True

    async def reset(self) -> int | None:
        async with self._engine.begin() as connection:
            return (await connection.execute(sa.delete(_counters))).rowcount

    async def clear(self, key: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(sa.delete(_counters).where(_counters.c.key == key))


def shared_storage(*, redis_url: str | None, engine: AsyncEngine) -> Storage:
    if redis_url:
        # Wrapped: a Redis failure becomes limits' StorageError, answered 503 below.
        storage = storage_from_string(f"async+{redis_url}", wrap_exceptions=True)
        assert isinstance(storage, Storage)  # an async+ scheme gives an async storage
        return storage
    return SqlCounterStorage(engine)


class SharedLimiter:
    """`limit` hits per key within `window` seconds, counted in a shared storage."""

    def __init__(
        self, storage: Storage, *, name: str, limit: int, window: int, prefix: str = "mana"
    ) -> None:
        self.item = RateLimitItemPerSecond(limit, window, namespace=f"{prefix}-{name}")
        self._strategy = FixedWindowRateLimiter(storage)

    async def retry_after(self, *key: str) -> int | None:
        """Seconds until the next attempt is allowed, or None if it is allowed now."""
        try:
            if await self._strategy.test(self.item, *key):
                return None
            return await self._seconds_to_reset(*key)
        except StorageError as exc:
            raise _store_unavailable(exc) from exc

    async def hit_unless_limited(self, *key: str) -> int | None:
        """Count an attempt; None if it was within the limit, else seconds until the next one
        is allowed. One storage operation for an allowed attempt where `retry_after` then
        `hit` take two. An attempt refused here is counted too: that changes no answer (the
        key is over its limit either way, and a live window keeps its end)."""
        try:
            if await self._strategy.hit(self.item, *key):
                return None
            return await self._seconds_to_reset(*key)
        except StorageError as exc:
            raise _store_unavailable(exc) from exc

    async def _seconds_to_reset(self, *key: str) -> int:
        stats = await self._strategy.get_window_stats(self.item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def hit(self, *key: str) -> None:
        try:
            await self._strategy.hit(self.item, *key)
        except StorageError as exc:
            raise _store_unavailable(exc) from exc


def _store_unavailable(exc: StorageError) -> RateLimitStoreUnavailable:
    cause = exc.storage_error
    return RateLimitStoreUnavailable(
        f"the rate-limit store is unavailable ({type(cause).__name__}); try again shortly"
    )


def private_key(value: str) -> str:
    """Counters are keyed by a hash, so the store holds no email addresses."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


# --- who the client is ------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> list[Network]:
    """`MANA_TRUSTED_PROXIES` entries: CIDRs or single addresses. A bad entry raises."""
    return [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip()]


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(request: Request, trusted: Sequence[Network]) -> str:
    """The socket peer, or — only when that peer is a trusted proxy — the right-most address
    in X-Forwarded-For that is not itself a trusted proxy. A header from anyone else is
    ignored: otherwise a client could name itself anew on every attempt."""
    peer = request.client.host if request.client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain: believe nothing beyond the proxy itself
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer
