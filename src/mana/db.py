"""Database plumbing shared by every service: engine, sessions, types, schema translation.

PostgreSQL is the system of record and keeps tables in the `auth` and `app` schemas. SQLite is the
embedded default and has no schemas, so the schema names are translated away on that backend —
the models and migrations stay identical for both.
"""

from __future__ import annotations

import errno
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

SCHEMAS = ("auth", "app")
SQLITE_SCHEMA_MAP: dict[str | None, str | None] = dict.fromkeys(SCHEMAS)

# Stable constraint names on both backends, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both backends.

    SQLite stores datetimes as naive strings; without this, values read back would lose their
    timezone and compare wrongly against aware `datetime.now(UTC)`.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK constraint that keeps an enum-like text column within its values."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


async def database_ok(engine: AsyncEngine) -> str | None:
    """None when the database answers, else a short reason (for /health; never raises)."""
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any driver error means "not healthy": reported, not raised
        return f"database unreachable: {type(exc).__name__}"
    return None


# Raw driver errors that mean "the server is not there for us right now": a PostgreSQL that is
# starting up, shutting down or out of connection slots; a connection that broke.
_UNAVAILABLE_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)
_NETWORK_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ETIMEDOUT, errno.ENETDOWN}


def unavailability(exc: BaseException) -> str | None:
    """A short reason when `exc` means "the database cannot be reached right now", else None.

    What that looks like depends on where the failure struck: a refused or timed-out connect
    surfaces as the driver's raw OSError (asyncpg does not wrap it); a connection reset in the
    middle of a statement as a DBAPIError that invalidated the connection; a full pool as
    SQLAlchemy's TimeoutError; an unreadable or locked SQLite file as an OperationalError.
    Errors in the statement itself (integrity, syntax) are bugs or conflicts, not outages.
    """
    if isinstance(exc, sa.exc.TimeoutError):
        return "connection pool exhausted (timed out waiting for a connection)"
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated or isinstance(
            exc, sa.exc.OperationalError | sa.exc.InterfaceError
        ):
            return f"{type(exc.orig).__name__}: {_first_line(exc.orig)}"
        # SQLAlchemy's asyncpg adapter keeps the driver's own error as the cause.
        cause = exc.orig.__cause__ if exc.orig is not None else None
        return unavailability(cause) if cause is not None else None
    if isinstance(exc, _UNAVAILABLE_DRIVER_ERRORS):
        return f"{type(exc).__name__}: {_first_line(exc)}"
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror) or (
        isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS
    ):
        return f"{type(exc).__name__}: {_first_line(exc)}"
    return None


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip() if exc is not None else ""
    return text.splitlines()[0][:200] if text else "no detail"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def async_database_url(url: str) -> str:
    """Accept the URLs people already have and pick the async driver ourselves."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(
        f"MANA_DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)"
    )


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# A writer waits this long for SQLite's write lock before "database is locked" (the busy
# timeout). Writers queue behind BEGIN IMMEDIATE, so this bounds a queue, not one write.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


def create_engine(
    url: str,
    *,
    echo: bool = False,
    connect_timeout: float = 10.0,
    pool_timeout: float = 30.0,
    pool_size: int | None = None,
) -> AsyncEngine:
    """`connect_timeout` bounds a connect to an unreachable PostgreSQL (asyncpg waits 60 s by
    default, and a request would wait with it); `pool_timeout` bounds the wait for a free
    pooled connection. Both failures become a 503 `database_unavailable` in the services.
    `pool_size`: connections kept open (SQLAlchemy's default, 5, when None); up to as many
    again are opened for a burst and closed when returned."""
    async_url = async_database_url(url)
    pool: dict[str, Any] = {} if pool_size is None else {"pool_size": pool_size}
    if is_sqlite(url):
        _ensure_sqlite_directory(url)
        engine = create_async_engine(
            async_url,
            echo=echo,
            hide_parameters=True,
            pool_timeout=pool_timeout,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            # Reset by `_configure_sqlite`'s "reset" listener instead (rolls back only if needed).
            pool_reset_on_return=None,
            **pool,
        )
        _configure_sqlite(engine)
        return engine.execution_options(schema_translate_map=SQLITE_SCHEMA_MAP)
    # hide_parameters: error messages would otherwise carry user input (and hashes) into logs.
    engine = create_async_engine(
        async_url,
        echo=echo,
        hide_parameters=True,
        pool_timeout=pool_timeout,
        connect_args={"timeout": connect_timeout},
        **pool,
    )
    _discard_closed_connections(engine)
    return engine


def _discard_closed_connections(engine: AsyncEngine) -> None:
    """Instead of `pool_pre_ping`: the asyncpg dialect's ping is BEGIN, `;`, ROLLBACK — three
    round trips on every checkout, about half of a small request's database time (issue 14).
    A connection the server closed (restart, terminated backend, idle timeout) is already
    known closed to asyncpg by the time it is checked out, and is swapped for a new one here at
    no cost; one that breaks later fails its request, and SQLAlchemy then drops the pool."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(_dbapi_connection: Any, _record: Any, proxy: Any) -> None:
        if proxy.driver_connection.is_closed():
            # The pool invalidates this connection and checks out (or opens) another.
            raise sa.exc.DisconnectionError("connection closed by the server")


def _ensure_sqlite_directory(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Foreign keys on, WAL (synchronous=NORMAL), and write transactions that take the lock up front.

    `BEGIN IMMEDIATE` makes SQLite serialise writers at the start of a transaction instead of
    failing with "database is locked" when two deferred transactions both try to upgrade. That
    is what makes claims and concurrent sign-ups safe on the embedded backend.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is SQLite's documented setting for WAL: a commit no longer waits for an fsync
        # (0.5 ms of a 2 ms todo.create here, issue 14); the database stays consistent after a
        # crash, and only the last commits before a power loss may be rolled back.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, state: Any) -> None:
        # The pool's own reset rolls back every returned connection, even one whose
        # transaction just committed (a Session closes its Connection after COMMIT): on
        # aiosqlite that is one more trip to the connection's thread per write (issue 14).
        # SQLite knows whether a transaction is open; roll back only then.
        if state.transaction_was_reset or not state.asyncio_safe:
            return
        driver = dbapi_connection.driver_connection
        if driver is not None and driver.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(SINGLE_STATEMENT, False):
            # No BEGIN: the driver is in autocommit (isolation_level None above), so the one
            # statement is its own transaction and holds the write lock only while it runs,
            # not across the aiosqlite thread hops of BEGIN, statement and COMMIT.
            return
        # A transaction that only reads (`reading`) begins deferred: in WAL mode it reads its
        # snapshot without taking, or waiting for, the write lock.
        reads_only = options.get(READS_ONLY, False)
        conn.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# Execution option marking a connection whose transaction only reads (see `reading`).
READS_ONLY = "mana_reads_only"
# Execution option marking a connection that runs single statements (`one_statement_engine`).
SINGLE_STATEMENT = "mana_single_statement"


def reads_only_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for sessions that only read (issue 14: a read paid for a
    writer's transaction), set up once. A session bound to it connects lazily (a call that never touches the
    database never checks a connection out) and sets no execution options per session.
    PostgreSQL: autocommit, no BEGIN/COMMIT round trips; each statement sees its own snapshot,
    as in the default READ COMMITTED transaction. SQLite: a deferred BEGIN, so reads neither
    take nor queue for the write lock (WAL readers see a snapshot); rolled back when the
    session closes. Nothing written through it is meant to last, hence "only read"."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine.execution_options(**{READS_ONLY: True})


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: commit on success, roll back on any error. Services only flush()."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def one_statement_engine(engine: AsyncEngine) -> AsyncEngine:
    """`engine` for work that is a single statement per connection (a counter upsert, one
    INSERT, a lookup by key). A statement is atomic on its own, so it runs in autocommit, with
    no transaction around it: on PostgreSQL one round trip where BEGIN, the statement and
    COMMIT (or ROLLBACK) took three; on SQLite the write lock is held for the statement only,
    not across the thread hops of BEGIN IMMEDIATE, the statement and COMMIT, so concurrent
    writers queue far less (issue 14). Use `.begin()` for writes: its commit is what the outage
    log counts as proof of life."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine.execution_options(**{SINGLE_STATEMENT: True})
