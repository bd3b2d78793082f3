"""While the database is unreachable the auth service answers JSON 503 `database_unavailable`,
logs one line per request and one traceback per outage, and recovers by itself."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from mana.db import async_database_url, create_engine, unavailability
from tests.fixtures.database import Db
from tests.fixtures.servers import DEFAULT_PASSWORD, running_auth_service, unique_email
from tests.fixtures.tcp_proxy import TcpProxy

LOGIN = "/api/v1/auth/login"


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)  # polling a condition, not waiting a fixed time


def outage_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "mana.outage"]


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"] == "database_unavailable"
    assert "database" in body["message"]
    assert body["details"]["reason"]
    assert int(response.headers["Retry-After"]) >= 1


def test_a_cut_database_gets_json_503s_then_the_service_recovers_by_itself(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a TCP proxy sits in front of PostgreSQL; SQLite has no network")
    caplog.set_level(logging.INFO, logger="mana.outage")
    url = make_url(database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        with (
            running_auth_service(through_proxy, database_connect_timeout_seconds=2) as auth,
            auth.client() as client,
        ):
            email = auth.register()["email"]
            credentials = {"email": email, "password": DEFAULT_PASSWORD}
            assert client.post(LOGIN, json=credentials).status_code == 200

            for outage in (1, 2):
                proxy.cut()
                failed = [client.post(LOGIN, json=credentials) for _ in range(5)]
                failed.append(
                    client.post(
                        "/api/v1/auth/register",
                        json={"email": unique_email(), "password": DEFAULT_PASSWORD},
                    )
                )
                for response in failed:
                    assert_database_unavailable(response)
                assert client.get("/health").status_code == 503

                proxy.restore()
                wait_for(
                    lambda: client.post(LOGIN, json=credentials).status_code == 200,
                    timeout=15,
                    what="sign-in works again after the database came back",
                )
                records = outage_records(caplog)
                # One line per failed request, and a traceback only for the first of each outage.
                assert sum("unavailable" in r.getMessage() for r in records) == 6 * outage
                assert len([r for r in records if r.exc_info]) == outage
                assert sum("reachable again" in r.getMessage() for r in records) == outage


def test_a_connection_reset_in_the_middle_of_a_statement_counts_as_unavailable(
    database_url: str,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a TCP proxy sits in front of PostgreSQL; SQLite has no network")
    url = make_url(database_url)

    async def run(proxy: TcpProxy) -> BaseException:
        engine = create_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
        try:
            async with engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
                proxy.cut()
                try:
                    await connection.execute(sa.text("SELECT 1"))
                except sa.exc.DBAPIError as exc:
                    return exc
        finally:
            await engine.dispose()
        raise AssertionError("the statement worked through a cut connection")

    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        failure = asyncio.run(run(proxy))
    assert unavailability(failure) is not None


def test_a_black_holed_database_times_out_within_the_connect_timeout(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a TCP proxy sits in front of PostgreSQL; SQLite has no network")
    url = make_url(database_url)

    async def run(proxy: TcpProxy) -> BaseException:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        engine = create_engine(through_proxy, connect_timeout=1)
        try:
            async with engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except TimeoutError as exc:
            return exc
        finally:
            await engine.dispose()
        raise AssertionError("connected through a stalled link")

    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxy.stall()
        started = time.monotonic()
        failure = asyncio.run(run(proxy))
        assert time.monotonic() - started < 5  # asyncpg alone would wait 60 s
    assert unavailability(failure) is not None


def test_a_server_out_of_connection_slots_counts_as_unavailable(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("connection slots are a PostgreSQL matter")
    role = f"mana_noslots_{uuid.uuid4().hex[:8]}"
    admin = Db(database_url)
    # A role allowed no connections: the server answers exactly as when all slots are taken.
    admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
    try:

        async def run() -> BaseException:
            engine = create_engine(make_url(database_url).set(username=role).render_as_string())
            try:
                async with engine.connect() as connection:
                    await connection.execute(sa.text("SELECT 1"))
            except Exception as exc:  # the driver's own error type is what is looked at
                return exc
            finally:
                await engine.dispose()
            raise AssertionError("a role without connection slots connected")

        failure = asyncio.run(run())
    finally:
        admin.execute(f"DROP ROLE {role}")
    assert "connections" in (unavailability(failure) or ""), repr(failure)


def test_a_full_connection_pool_counts_as_unavailable(database_url: str) -> None:
    async def run() -> BaseException:
        engine = create_async_engine(
            async_database_url(database_url), pool_size=1, max_overflow=0, pool_timeout=0.2
        )
        try:
            async with engine.connect() as held:
                await held.execute(sa.text("SELECT 1"))
                try:
                    async with engine.connect() as second:
                        await second.execute(sa.text("SELECT 1"))
                except sa.exc.TimeoutError as exc:
                    return exc
        finally:
            await engine.dispose()
        raise AssertionError("the second checkout did not time out")

    assert "pool" in (unavailability(asyncio.run(run())) or "")


def test_an_unopenable_sqlite_file_counts_as_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()
    # The synchronous driver under aiosqlite raises the same error; the async one leaves its
    # worker thread behind when the connect fails, which pytest reports as an error.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'a-directory.db'}")
    with pytest.raises(sa.exc.OperationalError) as failure, engine.connect():
        pass
    engine.dispose()
    assert "unable to open" in (unavailability(failure.value) or "")


def test_a_constraint_violation_is_not_an_outage(database_url: str) -> None:
    async def run() -> BaseException:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(sa.text("CREATE TEMPORARY TABLE t (x INTEGER UNIQUE)"))
                await connection.execute(sa.text("INSERT INTO t VALUES (1)"))
                await connection.execute(sa.text("INSERT INTO t VALUES (1)"))
        except sa.exc.IntegrityError as exc:
            return exc
        finally:
            await engine.dispose()
        raise AssertionError("the duplicate was accepted")

    assert unavailability(asyncio.run(run())) is None
