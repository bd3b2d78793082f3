"""The daily LLM budget holds across runner processes: each spends from allowances granted by
one ledger in the auth service's database, so together they stop at one limit."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest

from mana.kit.server import free_port
from mana.runner.brains.llm_common import DailySpend, LLMBrain
from mana.runner.brains.shared_budget import SharedDailySpend
from mana.runner.internal_client import InternalApi
from mana.runner.service import build_runner
from tests.fixtures.servers import (
    TEST_SERVICE_KEY,
    AuthService,
    make_settings,
    running_auth_service,
)

LIMIT = 1.00
ESTIMATE = 0.10  # a call's worst case, reserved before it
COST = 0.08  # what it really cost


@pytest.fixture(scope="module")
def ledger_auth(database_url: str) -> Iterator[AuthService]:
    with running_auth_service(database_url) as auth:
        yield auth


_days_ahead = itertools.count(1000)


@pytest.fixture
def ledger_service(ledger_auth: AuthService) -> Iterator[AuthService]:
    """The ledger is per UTC day and other tests may spend today: each test moves the service
    (and the runners, which share its clock) to a day of its own."""
    ledger_auth.clock.advance(timedelta(days=next(_days_ahead)))
    yield ledger_auth
    ledger_auth.clock.reset()


@asynccontextmanager
async def runner_process(auth: AuthService, **options: float) -> AsyncIterator[SharedDailySpend]:
    """What one runner process holds: its own HTTP client and its own budget object."""
    api = InternalApi(auth.url, TEST_SERVICE_KEY)
    spend = SharedDailySpend(
        api,
        limit_usd=LIMIT,
        runner_id=f"runner-{uuid.uuid4().hex[:6]}",
        clock=auth.clock,
        owns_api=True,
        **options,
    )
    await spend.start()
    try:
        yield spend
    finally:
        await spend.aclose()


async def model_call(spend: SharedDailySpend | DailySpend) -> bool:
    """The brain's steps around one model call (LLMBrain._complete): check, reserve, call,
    settle. The call takes time; whatever the budget object sent meanwhile lands."""
    if spend.committed() + ESTIMATE > LIMIT:
        return False  # BudgetExceeded
    reservation = spend.reserve(ESTIMATE)
    if isinstance(spend, SharedDailySpend):
        await spend.sync()
    spend.settle(reservation, COST)
    if isinstance(spend, SharedDailySpend):
        await spend.sync()
    return True


async def ledger(auth: AuthService) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=auth.url) as client:
        response = await client.get(
            "/api/v1/internal/personas/llm-budget", headers={"X-Service-Key": TEST_SERVICE_KEY}
        )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def spend_until_refused(spenders: list[SharedDailySpend] | list[DailySpend]) -> int:
    calls = 0
    refused: set[int] = set()
    while len(refused) < len(spenders) and calls < 100:
        for index, spend in enumerate(spenders):
            if index not in refused:
                if await model_call(spend):
                    calls += 1
                else:
                    refused.add(index)
    return calls


@pytest.mark.anyio
async def test_two_runner_processes_stop_at_one_shared_daily_limit(
    ledger_service: AuthService,
) -> None:
    # Counted per process, as before, two runners spend two budgets:
    assert await spend_until_refused([DailySpend(), DailySpend()]) * COST > 1.5 * LIMIT

    async with (
        runner_process(ledger_service, slice_usd=0.25) as first,
        runner_process(ledger_service, slice_usd=0.25) as second,
    ):
        calls = await spend_until_refused([first, second])
        spent = calls * COST
        assert first.spent > 0 and second.spent > 0  # both spent, from one budget
        assert spent <= LIMIT
        # All but crumbs: each may end holding less than one call's worst case.
        assert spent > LIMIT - 2 * ESTIMATE
        during = await ledger(ledger_service)
        assert during["spentUsd"] == pytest.approx(spent)
        assert during["committedUsd"] <= LIMIT + 1e-9
    after = await ledger(ledger_service)
    # Stopped runners give back what they held but did not use.
    assert after["committedUsd"] == pytest.approx(spent)


@pytest.mark.anyio
async def test_concurrent_grants_never_add_up_to_more_than_the_limit(
    ledger_service: AuthService,
) -> None:
    async with httpx.AsyncClient(base_url=ledger_service.url) as client:

        async def ask() -> float:
            response = await client.post(
                "/api/v1/internal/personas/llm-budget/allowances",
                headers={"X-Service-Key": TEST_SERVICE_KEY},
                json={
                    "allowanceId": str(uuid.uuid4()),
                    "amountUsd": 0.15,
                    "limitUsd": LIMIT,
                    "runnerId": "runner-x",
                },
            )
            assert response.status_code == 200, response.text
            return float(response.json()["grantedUsd"])

        granted = await asyncio.gather(*(ask() for _ in range(12)))
    assert sum(granted) == pytest.approx(LIMIT)  # 6 × 0.15, then the 0.10 left, then nothing
    assert sorted(granted, reverse=True)[:8] == pytest.approx([0.15] * 6 + [0.10, 0.0])


@pytest.mark.anyio
async def test_a_runner_built_with_an_llm_brain_spends_from_the_shared_ledger(
    ledger_service: AuthService, database_url: str
) -> None:
    settings = make_settings(
        database_url,
        auth_url=ledger_service.url,
        anthropic_api_key="sk-test-not-used",
        daily_budget_usd=LIMIT,
    )
    async with build_runner(settings, brain="anthropic", clock=ledger_service.clock) as runner:
        brain = runner.brain_factory()
        assert isinstance(brain, LLMBrain)
        assert isinstance(brain.daily_spend, SharedDailySpend)
        assert brain.daily_spend.available() == pytest.approx(LIMIT / 20)  # its first slice
        assert (await ledger(ledger_service))["committedUsd"] == pytest.approx(LIMIT / 20)
    assert (await ledger(ledger_service))["committedUsd"] == 0


@pytest.mark.anyio
async def test_without_a_reachable_ledger_model_calls_are_refused_not_made_on_trust() -> None:
    api = InternalApi(f"http://127.0.0.1:{free_port()}", TEST_SERVICE_KEY, backoff_seconds=0.01)
    spend = SharedDailySpend(api, limit_usd=LIMIT, runner_id="runner-alone", owns_api=True)
    await spend.start()
    try:
        assert spend.available() == 0
        assert not await model_call(spend)
    finally:
        await spend.aclose()
