"""The provider-independent parts of the LLM brains: tool names, rating answers, retry timing,
daily spend. Pure functions, no servers."""

from __future__ import annotations

import email.utils
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from mana.kit.clock import FrozenClock
from mana.personas.contract import TickFinish
from mana.runner.brains.llm_common import (
    API_TOOL_NAME,
    MAX_TOOL_RESULT_CHARS,
    DailySpend,
    Prices,
    RetryPolicy,
    ToolNames,
    parse_ratings,
    retry_after_seconds,
    tool_result_text,
)
from mana.runner.types import Usage


def test_mcp_names_map_to_api_names_and_back() -> None:
    names = ToolNames(["todo.create", "todo.list", "habits.check-in"])
    assert names.api("todo.create") == "todo__create"
    assert names.api("habits.check-in") == "habits__check-in"
    assert names.mcp("todo__create") == "todo.create"
    assert names.mcp("habits__check-in") == "habits.check-in"


def test_names_that_sanitize_alike_get_distinct_api_names() -> None:
    originals = ["todo.create", "todo__create", "todo:create", "todo create", "todo_create"]
    names = ToolNames(originals)
    api_names = [names.api(n) for n in originals]
    assert len(set(api_names)) == len(originals)
    assert all(API_TOOL_NAME.match(n) for n in api_names)
    assert all(names.mcp(names.api(n)) == n for n in originals)
    # Stable whatever order the server lists the tools in.
    shuffled = ToolNames(reversed(originals))
    assert [shuffled.api(n) for n in originals] == api_names


def test_long_and_exotic_names_still_fit_the_api_pattern() -> None:
    originals = ["notes." + "x" * 80, "notes." + "x" * 81, "kalender.einträge-hinzufügen", ""]
    names = ToolNames(originals)
    for original in originals:
        api = names.api(original)
        assert API_TOOL_NAME.match(api), api
        assert names.mcp(api) == original
    assert names.api("notes." + "x" * 80) != names.api("notes." + "x" * 81)


def test_an_invented_api_name_is_passed_on_unchanged() -> None:
    assert ToolNames(["todo.create"]).mcp("todo__delete_everything") == "todo__delete_everything"


def test_long_tool_results_are_cut_and_say_so() -> None:
    text = tool_result_text({"items": ["x" * 100] * 200})
    assert len(text) < MAX_TOOL_RESULT_CHARS + 100
    assert text.endswith("more characters not shown]")
    assert tool_result_text(None) == "OK (no data returned)"
    assert tool_result_text({"title": "wäsche"}) == '{"title": "wäsche"}'


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"ratings": [{"module": "todo", "rating": 4, "notes": "gut"}]}', [("todo", 4)]),
        (
            '```json\n{"ratings": [{"module": "todo", "rating": 1, "notes": "mies"}]}\n```',
            [("todo", 1)],
        ),
        (
            'Hier:\n```\n{"ratings": [{"module": "todo", "rating": 5, "notes": "!"}]}\n```',
            [("todo", 5)],
        ),
        (
            'Meine Meinung {"ratings": [{"module": " TODO ", "rating": 2, "notes": "hm"}]} :)',
            [("todo", 2)],
        ),
    ],
)
def test_a_rating_answer_is_found_wherever_the_model_put_it(
    answer: str, expected: list[tuple[str, int]]
) -> None:
    outcome = parse_ratings(answer, ["todo"])
    assert outcome.problem is None
    assert [(r.module, r.rating) for r in outcome.ratings] == expected


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("", "not JSON: (empty answer)"),
        ("{ratings: todo=4}", "not JSON"),
        ('{"ratings": {"todo": 4}}', "wrong shape"),
        ("null", "wrong shape"),
        (
            '{"ratings": [{"module": "todo", "rating": 0, "notes": "x"}]}',
            "greater than or equal to 1",
        ),
        ('{"ratings": [{"module": "todo", "rating": 4.5, "notes": "x"}]}', "valid integer"),
        ('{"ratings": [{"module": "todo", "rating": true, "notes": "x"}]}', "valid integer"),
        ('{"ratings": ["todo: 4"]}', "rating #1 unusable"),
        ('{"ratings": []}', "no usable rating for todo"),
        (
            '{"ratings": [{"module": "calendar", "rating": 3, "notes": "x"}]}',
            "unused module 'calendar'",
        ),
    ],
)
def test_an_unusable_rating_answer_names_its_problem_and_invents_nothing(
    answer: str, problem: str
) -> None:
    outcome = parse_ratings(answer, ["todo"])
    assert outcome.ratings == []
    assert outcome.problem is not None
    assert problem in outcome.problem


def test_a_partly_usable_answer_keeps_the_usable_part_and_says_so() -> None:
    answer = (
        '{"ratings": [{"module": "todo", "rating": 4, "notes": "ok"},'
        ' {"module": "todo", "rating": 2, "notes": "doppelt"},'
        ' {"module": "mood", "rating": 4}]}'
    )
    outcome = parse_ratings(answer, ["habits", "mood", "todo"])
    assert [(r.module, r.rating, r.notes) for r in outcome.ratings] == [
        ("mood", 4, ""),
        ("todo", 4, "ok"),
    ]
    assert outcome.problem is not None
    assert "rating for mood has no notes" in outcome.problem
    assert "second rating for todo ignored" in outcome.problem
    assert "no usable rating for habits" in outcome.problem
    assert outcome.problem.endswith("kept the ratings for mood, todo")


def test_retry_after_is_read_in_milliseconds_seconds_or_as_a_date() -> None:
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after": "0.5"}) == 0.5
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= (retry_after_seconds({"retry-after": in_ten}) or 0) <= 10
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_retry_delays_honour_retry_after_and_back_off_without_it() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_seconds=1.0, max_delay_seconds=30)
    rng = random.Random(1)
    for _ in range(50):
        wait = policy.delay(1, 2.0, rng)
        assert wait is not None and 2.0 <= wait <= 2.2
        first, second = policy.delay(1, None, rng), policy.delay(2, None, rng)
        assert first is not None and 0.5 <= first <= 1.0
        assert second is not None and 1.0 <= second <= 2.0
    assert policy.delay(1, 31.0, rng) is None


def test_daily_spend_counts_reservations_and_starts_over_each_utc_day() -> None:
    clock = FrozenClock(datetime(2025, 5, 14, 23, 59, tzinfo=UTC))
    spend = DailySpend(clock)
    first = spend.reserve(0.3)
    second = spend.reserve(0.2)
    assert spend.committed() == pytest.approx(0.5)
    spend.settle(first, 0.1)
    assert spend.committed() == pytest.approx(0.3)
    assert spend.spent == pytest.approx(0.1)
    clock.advance(timedelta(minutes=2))
    assert spend.committed() == 0
    spend.settle(second, 0.05)  # began yesterday, paid today
    assert spend.spent == pytest.approx(0.05)
    assert spend.committed() == pytest.approx(0.05)


def test_cost_is_priced_per_million_tokens() -> None:
    assert Prices(3.0, 15.0).cost(1_000_000, 100_000) == pytest.approx(4.5)


def test_the_auth_service_accepts_the_usage_a_caching_tick_posts_and_an_old_one_is_unchanged() -> (
    None
):
    cached = Usage(
        input_tokens=7_100,
        output_tokens=50,
        cost_usd=0.01,
        calls=1,
        cache_write_tokens=2_000,
        cache_read_tokens=5_000,
    )
    finish = TickFinish.model_validate({"status": "ok", "usage": cached.wire()})
    assert finish.usage is not None
    assert (finish.usage.cache_write_tokens, finish.usage.cache_read_tokens) == (2_000, 5_000)
    # Without prompt caching the body is what it was before the cache fields existed.
    assert set(Usage(input_tokens=10, output_tokens=5, calls=1).wire()) == {
        "inputTokens",
        "outputTokens",
        "tokens",
        "costUsd",
        "modelCalls",
    }
