"""The `openai` brain, driven through the official SDK against a local chat-completions server
(the way it talks to a hosted API or to a local model server)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mana.kit.clock import FrozenClock
from mana.kit.server import BackgroundServer
from mana.runner.brains.base import BudgetExceeded
from mana.runner.brains.llm_common import BrainConfigError, ModelCallFailed
from mana.runner.brains.openai_brain import LOCAL_SERVER_API_KEY, OpenAIBrain
from mana.runner.recording import summarize_experience
from tests.runner.fakes.days import PERSONA_PROMPT, llm_settings, make_day
from tests.runner.fakes.llm_servers import (
    COUNT,
    FakeOpenAI,
    function_call,
    openai_completion,
    openai_error,
)
from tests.runner.fakes.toolbox import FakeToolBox, product_tools

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    with BackgroundServer(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def api(openai_server: FakeOpenAI) -> FakeOpenAI:
    openai_server.reset()
    return openai_server


@contextlib.asynccontextmanager
async def brain_for(
    api: FakeOpenAI, *, clock: FrozenClock | None = None, **settings: Any
) -> AsyncIterator[OpenAIBrain]:
    values: dict[str, Any] = {"openai_base_url": f"{api.url}/v1", **settings}
    brain = OpenAIBrain(llm_settings(**values), clock=clock)
    try:
        yield brain
    finally:
        await brain.aclose()


async def test_a_tool_call_round_trip_answers_the_call_id_with_the_tool_result(
    api: FakeOpenAI,
) -> None:
    api.script(
        openai_completion(
            "mal kurz gucken",
            tool_calls=[function_call("todo__create", {"title": "bafög kopieren"}, id="call_rt")],
        ),
        openai_completion("passt"),
    )
    toolbox = FakeToolBox()
    day = make_day()
    async with brain_for(api) as brain:
        await brain.run_day(day, toolbox)

    assert toolbox.calls == [("todo.create", {"title": "bafög kopieren"})]
    first, second = (r.body for r in api.requests)
    assert first["model"] == "gpt-5-mini"
    assert first["max_completion_tokens"] == 1024
    assert "max_tokens" not in first
    assert first["messages"][0]["role"] == "system"
    assert first["messages"][0]["content"].startswith(PERSONA_PROMPT)
    assert "Wednesday, 2025-05-14" in first["messages"][0]["content"]
    functions = {t["function"]["name"]: t for t in first["tools"]}
    assert set(functions) == {"todo__create", "todo__list", "mood__log"}
    assert functions["todo__create"]["type"] == "function"
    assert functions["todo__create"]["function"]["parameters"]["required"] == ["title"]

    assistant, tool = second["messages"][-2:]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"][0]["id"] == "call_rt"
    assert assistant["tool_calls"][0]["function"]["name"] == "todo__create"
    assert tool["role"] == "tool"
    assert tool["tool_call_id"] == "call_rt"
    assert json.loads(tool["content"]) == toolbox.todos[0]
    assert day.usage.calls == 2
    assert day.usage.input_tokens == 240
    assert day.usage.cost_usd == pytest.approx((240 * 0.25 + 60 * 2.0) / 1_000_000)


async def test_a_failing_tool_answers_with_its_error_text(api: FakeOpenAI) -> None:
    api.script(
        openai_completion(tool_calls=[function_call("mood__log", {"score": 9}, id="call_bad")]),
        openai_completion("egal"),
    )
    toolbox = FakeToolBox()
    async with brain_for(api) as brain:
        await brain.run_day(make_day(), toolbox)
    tool = api.requests[1].body["messages"][-1]
    assert tool == {
        "role": "tool",
        "tool_call_id": "call_bad",
        "content": "ERROR: score: must be a whole number from 1 to 5",
    }
    assert toolbox.records[0].result == "error"


async def test_arguments_that_are_not_json_go_back_to_the_model_not_to_the_app(
    api: FakeOpenAI,
) -> None:
    api.script(
        openai_completion(
            tool_calls=[
                function_call("todo__create", '{"title": "kaputt', id="call_json"),
                function_call("todo__list", "", id="call_empty"),
            ]
        ),
        openai_completion("ok"),
    )
    toolbox = FakeToolBox()
    async with brain_for(api) as brain:
        await brain.run_day(make_day(), toolbox)
    # Only the call the model got right reached the app (and the record).
    assert toolbox.calls == [("todo.list", {})]
    broken, listed = api.requests[1].body["messages"][-2:]
    assert broken["tool_call_id"] == "call_json"
    assert broken["content"].startswith("ERROR: the arguments are not valid JSON")
    assert listed["tool_call_id"] == "call_empty"
    assert json.loads(listed["content"]) == {"items": [], "nextCursor": None}


async def test_a_local_server_needs_no_api_key_and_may_report_no_usage(api: FakeOpenAI) -> None:
    api.script(openai_completion("ok", prompt_tokens=None))
    day = make_day()
    async with brain_for(api, openai_api_key=None, openai_max_tokens_param="max_tokens") as brain:
        assert brain.client.max_retries == 0
        await brain.run_day(day, FakeToolBox())
    request = api.requests[0]
    assert request.headers["authorization"] == f"Bearer {LOCAL_SERVER_API_KEY}"
    assert request.body["max_tokens"] == 1024
    assert "max_completion_tokens" not in request.body
    assert day.usage.calls == 1
    assert day.usage.input_tokens == 0
    assert day.usage.cost_usd == 0


async def test_a_429_is_retried_once_after_its_retry_after(api: FakeOpenAI) -> None:
    api.script(
        openai_error(429, "Rate limit reached", headers={"retry-after-ms": "300"}),
        openai_completion("ok"),
    )
    day = make_day()
    async with brain_for(api) as brain:
        await brain.run_day(day, FakeToolBox())
    assert len(api.requests) == 2
    assert api.requests[1].at - api.requests[0].at >= 0.3
    assert day.usage.calls == 1


async def test_a_5xx_is_tried_three_times_then_fails_cleanly(api: FakeOpenAI) -> None:
    unavailable = openai_error(503, "model is loading", headers={"retry-after": "0.05"})
    api.script(unavailable, unavailable, unavailable, openai_completion("too late"))
    toolbox = FakeToolBox()
    async with brain_for(api) as brain:
        with pytest.raises(ModelCallFailed, match=r"failed 3 times.*HTTP 503.*model is loading"):
            await brain.run_day(make_day(), toolbox)
    assert len(api.requests) == 3
    assert api.unused == 1
    assert toolbox.calls == []


async def test_the_tick_budget_stops_before_the_call_that_would_exceed_it(
    api: FakeOpenAI,
) -> None:
    api.script(
        openai_completion(
            tool_calls=[function_call("todo__list", {})],
            prompt_tokens=50_000,
            completion_tokens=100,
        ),
        openai_completion("never sent"),
    )
    day = make_day()
    async with brain_for(
        api,
        tick_budget_usd=0.6,
        openai_input_usd_per_mtok=10.0,
        openai_output_usd_per_mtok=10.0,
        llm_max_output_tokens=100,
    ) as brain:
        with pytest.raises(BudgetExceeded, match="tick budget"):
            await brain.run_day(day, FakeToolBox())
    assert len(api.requests) == 1
    assert day.usage.cost_usd == pytest.approx(0.501)


async def test_the_daily_budget_is_shared_by_the_ticks_of_one_brain(api: FakeOpenAI) -> None:
    clock = FrozenClock(datetime(2025, 5, 14, 23, 30, tzinfo=UTC))
    async with brain_for(
        api,
        clock=clock,
        daily_budget_usd=0.5,
        openai_input_usd_per_mtok=10.0,
        openai_output_usd_per_mtok=10.0,
        llm_max_output_tokens=100,
    ) as brain:
        api.script(openai_completion("ok", prompt_tokens=49_900, completion_tokens=100))
        await brain.run_day(make_day(), FakeToolBox())  # all of the $0.50
        with pytest.raises(BudgetExceeded, match="daily budget"):
            await brain.run_day(make_day(), FakeToolBox())
        assert len(api.requests) == 1

        clock.advance(timedelta(hours=1))
        api.script(openai_completion("ok", prompt_tokens=49_900, completion_tokens=100))
        await brain.run_day(make_day(), FakeToolBox())
        assert len(api.requests) == 2


async def test_a_malformed_rating_answer_is_recorded_without_inventing_ratings(
    api: FakeOpenAI,
) -> None:
    toolbox = FakeToolBox()
    await toolbox.call("todo.create", {"title": "x"})
    experience = summarize_experience(toolbox.records)
    api.script(openai_completion('{"ratings": [{"module": "todo", "stars": 5}]}'))
    async with brain_for(api) as brain:
        outcome = await brain.rate(make_day(), experience)
    assert outcome.ratings == []
    assert outcome.problem is not None
    assert "rating #1 (todo) unusable: rating: Field required" in outcome.problem
    assert "no usable rating for todo" in outcome.problem


async def test_ratings_are_read_from_a_plain_json_answer(api: FakeOpenAI) -> None:
    toolbox = FakeToolBox()
    await toolbox.call("mood.log", {"score": 4})
    experience = summarize_experience(toolbox.records)
    api.script(openai_completion('{"ratings": [{"module": "Mood", "rating": 4, "notes": "easy"}]}'))
    async with brain_for(api) as brain:
        outcome = await brain.rate(make_day(), experience)
    assert outcome.problem is None
    assert [(r.module, r.rating, r.notes) for r in outcome.ratings] == [("mood", 4, "easy")]
    body = api.requests[0].body
    assert "tools" not in body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_without_key_or_local_server_the_brain_is_refused_when_built() -> None:
    with pytest.raises(BrainConfigError, match="OPENAI_API_KEY"):
        OpenAIBrain(llm_settings(openai_api_key=None, openai_base_url=None))


async def test_reported_cached_tokens_are_part_of_the_input_and_priced_as_cache_reads(
    api: FakeOpenAI,
) -> None:
    api.script(openai_completion("ok", prompt_tokens=3_000, cached_tokens=2_048))
    day = make_day()
    async with brain_for(api) as brain:
        await brain.run_day(day, FakeToolBox())
    assert day.usage.input_tokens == 3_000
    assert day.usage.cache_read_tokens == 2_048
    assert day.usage.cache_write_tokens == 0
    # $0.25/M plain input, a tenth of it for cached input, $2/M output.
    assert day.usage.cost_usd == pytest.approx((952 * 0.25 + 2_048 * 0.025 + 30 * 2.0) / 1e6)
    assert day.usage.wire()["cacheReadTokens"] == 2_048
    assert "cacheWriteTokens" not in day.usage.wire()


async def test_every_turn_repeats_the_previous_prompt_as_its_prefix_so_it_is_cached(
    api: FakeOpenAI,
) -> None:
    api.script(
        openai_completion(tool_calls=[function_call("todo__list", {})], prompt_tokens=COUNT),
        openai_completion("fertig", prompt_tokens=COUNT),
    )
    toolbox = FakeToolBox(list(reversed(product_tools())))
    day = make_day()
    async with brain_for(api) as brain:
        await brain.run_day(day, toolbox)
    first, second = (r.body for r in api.requests)
    names = [t["function"]["name"] for t in first["tools"]]
    assert names == sorted(names)  # one order, whatever order the server listed them in
    assert second["tools"] == first["tools"]
    assert second["messages"][: len(first["messages"])] == first["messages"]
    # The whole first prompt (tools, system, opening) is read from the cache on turn 2.
    assert day.usage.cache_read_tokens >= 1024
    assert day.usage.cache_read_tokens % 128 == 0
    assert day.usage.cache_read_tokens < day.usage.input_tokens
