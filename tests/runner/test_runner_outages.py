"""The runner under faults (issue 13), with real servers and a real TCP proxy the test cuts: an
unreachable MCP server or auth service pauses the runner behind a breaker (one traceback per
outage, one line per failure), its ticks are `unavailable` and keep the persona's day, and the
runner picks up by itself once the service is back; a database cut with ticks in flight leaves
no tick `running` and nothing doubled; a claim whose answer was lost gets the same set again."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from mana.clients.internal import InternalApi
from mana.runner.loop import Runner
from tests.fixtures.database import Db, create_database, drop_database
from tests.fixtures.mcp import running_mcp_service
from tests.fixtures.personas import PersonaApi, make_admin, sql_id
from tests.fixtures.runner import (
    HABITS_ONLY,
    RUN_TIMEOUT_SECONDS,
    HangingHabitLog,
    RunnerWorld,
    auth_proxy,
    backend_of,
    fresh_world,
    in_process_runner,
    tick_by_email,
)
from tests.fixtures.servers import TEST_SERVICE_KEY, running_auth_service
from tests.fixtures.tcp_proxy import TcpProxy


def proxy_for(url: str) -> TcpProxy:
    parts = urlsplit(url)
    return TcpProxy(parts.hostname or "127.0.0.1", parts.port or 80)


def via(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()


WAIT_SECONDS = 60


async def until(condition: Callable[[], Any], what: str) -> None:
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            # Polled: the conditions are other threads' state (servers, proxy, log records).
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {WAIT_SECONDS}s: {what}") from None


def outage_tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "mana.runner.outages" and r.exc_info is not None]


def statuses(runner: Runner, status: str) -> int:
    return sum(1 for r in runner.reports if r.status == status)


async def serve_until(runner: Runner, done: Callable[[], bool], what: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.create_task(runner.run_forever(stop))
    try:
        await until(lambda: done() or loop.done(), what)
    finally:
        stop.set()
        await loop


def test_an_unreachable_mcp_server_pauses_the_runner_and_keeps_the_personas_day(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with (
        fresh_world(backend_of(database_url), tmp_path) as world,
        proxy_for(world.mcp.endpoint) as proxy,
    ):
        personas = dict(world.create_persona() for _ in range(3))
        settings = world.settings(
            mcp_url=via(world.mcp.endpoint, proxy), persona_concurrency=2, tick_interval_ms=100
        )
        proxy.cut()

        async def run() -> None:
            async with in_process_runner(settings) as runner:
                await serve_until(
                    runner, lambda: statuses(runner, "unavailable") >= 2, "two failed ticks"
                )
                assert runner.breakers.is_open("mcp")
                proxy.restore()
                await serve_until(
                    runner, lambda: statuses(runner, "ok") >= len(personas), "every persona ok"
                )

        asyncio.run(asyncio.wait_for(run(), RUN_TIMEOUT_SECONDS))

        failed = []
        for persona_id in personas:
            ticks = world.ticks(persona_id)
            # The failed tick did not use up the day: the same persona ticked again, ok.
            assert [t.status for t in ticks][-1] == "ok", ticks
            failed += [t for t in ticks if t.status != "ok"]
        assert failed and all(t.status == "unavailable" for t in failed)
        # Backed off: not a tick per interval during the outage (the first pair, then probes).
        assert len(failed) <= 4
        for tick in failed:
            assert tick.error_message.startswith("MCP server unreachable: ")
            assert "\n" not in tick.error_message
        (traceback,) = outage_tracebacks(caplog)
        assert traceback.getMessage().startswith("MCP server unreachable")
        assert any("MCP server is back after" in r.getMessage() for r in caplog.records)


def test_an_unreachable_auth_service_pauses_claims_and_the_runner_resumes_by_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with fresh_world("sqlite", tmp_path) as world, proxy_for(world.auth.url) as proxy:
        personas = dict(world.create_persona() for _ in range(2))
        settings = world.settings(auth_url=via(world.auth.url, proxy), tick_interval_ms=100)
        proxy.cut()

        async def run() -> None:
            async with in_process_runner(settings) as runner:
                await serve_until(
                    runner,
                    lambda: runner.breakers.is_open("auth") and runner.passes >= 5,
                    "the auth breaker open for a few passes",
                )
                assert not runner.in_flight
                proxy.restore()
                await serve_until(
                    runner, lambda: statuses(runner, "ok") >= len(personas), "every persona ok"
                )

        asyncio.run(asyncio.wait_for(run(), RUN_TIMEOUT_SECONDS))

        for persona_id in personas:
            assert world.tick_statuses(persona_id) == ["ok"]
    (traceback,) = outage_tracebacks(caplog)
    assert traceback.getMessage().startswith("auth service unreachable (claiming due personas")
    repeats = [r for r in caplog.records if "auth service still unreachable" in r.getMessage()]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in repeats)


def test_a_login_the_auth_service_cannot_answer_is_unavailable_not_the_personas_day(
    runner_world: RunnerWorld,
) -> None:
    persona_id, email = runner_world.create_persona()
    with auth_proxy(runner_world.auth.url) as (proxy_url, proxy):
        proxy.fail("POST", "/api/v1/auth/login", times=1)
        (report,) = tick_by_email(runner_world.settings(auth_url=proxy_url), [email])

    assert (report.status, report.failed_service) == ("unavailable", "auth")
    (tick,) = runner_world.ticks(persona_id)
    assert tick.status == "unavailable"
    assert tick.error_message.startswith(
        "auth service unreachable: LoginFailed: login failed (503)"
    )
    assert runner_world.api.detail(persona_id)["persona"]["lastActiveAt"] is None
    assert runner_world.lease(persona_id) == (None, None)


def test_a_claim_whose_answer_was_lost_is_retried_and_gets_the_same_set(
    runner_world: RunnerWorld,
) -> None:
    for _ in range(3):
        runner_world.create_persona()
    runner_id = f"lost-claim-{uuid.uuid4().hex[:8]}"
    with auth_proxy(runner_world.auth.url) as (proxy_url, proxy):
        proxy.fail("POST", "/claim", times=1, lost=True)  # leased, then the answer is lost

        async def claim() -> list[str]:
            internal = InternalApi(proxy_url, TEST_SERVICE_KEY, backoff_seconds=0.01)
            try:
                claimed = await internal.claim(runner_id=runner_id, limit=2, lease_seconds=600)
            finally:
                await internal.aclose()
            return sorted(str(p.user_id) for p in claimed)

        got = asyncio.run(claim())

    assert proxy.count("POST", "/claim") == 2
    assert len(got) == 2
    leased = runner_world.db.fetch(
        "SELECT user_id FROM auth.personas WHERE leased_by = :r", r=runner_id
    )
    assert sorted(str(uuid.UUID(str(row.user_id))) for row in leased) == got


def test_a_database_cut_with_ticks_in_flight_leaves_no_tick_running_and_nothing_doubled(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a TCP proxy sits in front of PostgreSQL; SQLite has no network")
    caplog.set_level(logging.INFO)
    hanging = HangingHabitLog()
    own = create_database("postgres", tmp_path)
    url = make_url(own)
    try:
        with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
            through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
            with (
                running_auth_service(through, database_connect_timeout_seconds=2) as auth,
                running_mcp_service(auth, tools=hanging.tools()) as mcp,
            ):
                db = Db(own)
                api = PersonaApi(
                    auth=auth, db=db, admin_token=str(auth.login(make_admin(auth, db))["token"])
                )
                world = RunnerWorld(auth=auth, mcp=mcp, db=db, api=api)
                persona_id, _ = world.create_persona(module_mix=HABITS_ONLY)
                settings = world.settings(tick_interval_ms=100)

                def retried_while_down() -> bool:
                    return (
                        sum("database_unavailable" in r.getMessage() for r in caplog.records)
                        + sum("503" in r.getMessage() for r in caplog.records)
                        >= 3
                    )

                async def run() -> None:
                    async with in_process_runner(settings) as runner:
                        stop = asyncio.Event()
                        loop = asyncio.create_task(runner.run_forever(stop))
                        try:
                            await until(hanging.entered.is_set, "a tick in flight")
                            proxy.cut()
                            hanging.released.set()
                            # Cut for a while: the tick's record is retried meanwhile.
                            await until(retried_while_down, "posting retried during the cut")
                            assert runner.in_flight or runner.spool is not None
                            proxy.restore()
                            await until(
                                lambda: statuses(runner, "running") == 0 and not runner.in_flight,
                                "the tick done",
                            )
                        finally:
                            stop.set()
                            await loop

                asyncio.run(asyncio.wait_for(run(), RUN_TIMEOUT_SECONDS))
                ticks = world.ticks(persona_id)
                assert ticks and "running" not in [t.status for t in ticks]
                for tick in ticks:
                    seqs = [a.seq for a in world.actions(tick.id)]
                    assert seqs == sorted(set(seqs))
                    assert tick.tool_calls in (0, len(seqs)) or tick.status == "abandoned"
                habits = db.fetch(
                    "SELECT id FROM app.habits WHERE created_by = :p", p=sql_id(db, persona_id)
                )
                assert len(habits) == 1  # nothing done twice
    finally:
        hanging.released.set()
        drop_database(own)


def test_a_record_that_never_landed_is_spooled_at_stop_and_sent_on_the_next_start(
    runner_world: RunnerWorld, tmp_path: Path
) -> None:
    persona_id, email = runner_world.create_persona()
    settings = runner_world.settings(runner_spool_dir=tmp_path / "spool")
    with auth_proxy(runner_world.auth.url) as (proxy_url, proxy):
        proxy.fail("POST", "/finish", times=1_000)

        async def stopped_while_retrying() -> None:
            async with in_process_runner(settings.model_copy(update={"auth_url": proxy_url})) as (
                runner
            ):
                task = asyncio.create_task(runner.tick_by_email([email]))
                await until(lambda: proxy.count("POST", "/finish") >= 2, "the finish retried")
                task.cancel()  # Ctrl-C: the runner stops with the finish still out
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert runner.spool is not None and runner.spool.pending() == 1

        asyncio.run(asyncio.wait_for(stopped_while_retrying(), RUN_TIMEOUT_SECONDS))

    (tick,) = runner_world.ticks(persona_id)
    assert tick.status == "running"

    async def next_start() -> None:
        async with in_process_runner(settings) as runner:
            await runner.replay_spool()
            assert runner.spool is not None and runner.spool.pending() == 0

    asyncio.run(asyncio.wait_for(next_start(), RUN_TIMEOUT_SECONDS))
    (tick,) = runner_world.ticks(persona_id)
    assert tick.status == "ok" and tick.tool_calls == len(runner_world.actions(tick.id)) > 0
    assert runner_world.lease(persona_id) == (None, None)
    assert not list((tmp_path / "spool").iterdir())


def test_a_long_tick_keeps_its_short_lease_through_heartbeats(
    runner_world: RunnerWorld,
) -> None:
    hanging = HangingHabitLog()
    persona_id, email = runner_world.create_persona(module_mix=HABITS_ONLY)
    with running_mcp_service(runner_world.auth, tools=hanging.tools()) as mcp:
        settings = runner_world.settings(mcp_url=mcp.endpoint, runner_lease_seconds=10)

        async def run() -> None:
            async with in_process_runner(settings) as runner:
                task = asyncio.create_task(runner.tick_by_email([email]))
                try:
                    await until(hanging.entered.is_set, "the tick inside the hanging call")
                    first, holder = await asyncio.to_thread(runner_world.lease, persona_id)
                    assert holder == runner.runner_id
                    async with asyncio.timeout(WAIT_SECONDS):  # a renewed lease
                        while (await asyncio.to_thread(runner_world.lease, persona_id))[0] <= first:  # noqa: ASYNC110
                            await asyncio.sleep(0.2)
                finally:
                    hanging.released.set()
                (report,), _ = await task
                assert report.status == "ok"

        asyncio.run(asyncio.wait_for(run(), RUN_TIMEOUT_SECONDS))
    assert runner_world.tick_statuses(persona_id) == ["ok"]
    assert runner_world.lease(persona_id) == (None, None)


def test_an_mcp_server_lost_mid_tick_ends_the_tick_unavailable_not_ok_with_errors(
    database_url: str, tmp_path: Path
) -> None:
    hanging = HangingHabitLog()
    with (
        fresh_world(backend_of(database_url), tmp_path, tools=hanging.tools()) as world,
        proxy_for(world.mcp.endpoint) as proxy,
    ):
        persona_id, _ = world.create_persona(module_mix=HABITS_ONLY)
        settings = world.settings(mcp_url=via(world.mcp.endpoint, proxy), tick_interval_ms=100)

        async def run() -> None:
            async with in_process_runner(settings) as runner:
                stop = asyncio.Event()
                loop = asyncio.create_task(runner.run_forever(stop))
                try:
                    await until(hanging.entered.is_set, "a call in flight")
                    proxy.cut()  # the server is gone mid-call, and for the rest of the tick
                    await until(lambda: statuses(runner, "unavailable") >= 1, "the tick ended")
                    hanging.released.set()
                    proxy.restore()
                    await until(lambda: statuses(runner, "ok") >= 1, "the next tick ok")
                finally:
                    stop.set()
                    await loop

        try:
            asyncio.run(asyncio.wait_for(run(), RUN_TIMEOUT_SECONDS))
        finally:
            hanging.released.set()
        ticks = world.ticks(persona_id)
        lost = ticks[0]
        # An outage, not the product's error: the tick is `unavailable` (it keeps the persona's
        # day), and the call that was cut is still in its audit.
        assert lost.status == "unavailable", ticks
        assert lost.error_message.startswith("MCP server unreachable: ")
        assert [a.tool_name for a in world.actions(lost.id)][-1] == "habits.log"
        assert ticks[-1].status == "ok"
