"""Prompt caching: model input billed per tick, and $ per persona-day, with and without caching.

    python -m bench.llm_cost_bench                    # ~15 s
    python -m bench.llm_cost_bench --personas 10 --turns 8

Each LLM brain drives its provider's official SDK against the local wire-format servers the
tests use (tests/runner/fakes/llm_servers.py). They count the prompt from the request (about 4
characters a token; real tokenizers differ, the ratios hold) and report prompt caching as the
real APIs do: Anthropic per `cache_control` breakpoint, OpenAI for any repeated prefix of at
least 1024 tokens. A day is `--turns` model turns over the MCP server's real tool list (its
names, descriptions and schemas) and a catalog persona's prompt — one tool call per turn but
the last — then the rating call. Each persona brings a story of the size and format the
runner's memory gives an LLM brain after some weeks (12 items, 5 days). `--personas` personas tick one after another, as a busy runner
does within the caches' 5-minute lifetime. A persona-day is one tick (daily cadence).

"without caching": Anthropic with no breakpoints (the brain before caching); OpenAI priced as if
nothing were cached (what the runner recorded before: cached tokens at the full input price).
Prices: the settings' defaults — Sonnet $3 / $15, gpt-5-mini $0.25 / $2 per million tokens —
and the cache ratios in runner/brains/llm/budget.py.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from tests.runner.fakes.days import llm_settings
from tests.runner.fakes.llm_servers import (
    COUNT,
    FakeAnthropic,
    FakeOpenAI,
    Reply,
    ScriptedServer,
    anthropic_message,
    function_call,
    openai_completion,
    text_block,
    tool_use_block,
)
from tests.runner.fakes.toolbox import FakeToolBox, product_tools

from mana.kit.server import BackgroundServer
from mana.personas.catalog import load_catalog
from mana.runner.brains.anthropic_brain import AnthropicBrain
from mana.runner.brains.base import DayContext
from mana.runner.brains.llm_common import LLMBrain
from mana.runner.brains.openai_brain import OpenAIBrain
from mana.runner.recording import summarize_experience
from mana.runner.types import PersonaProfile, PersonaSpace, Usage

OUTPUT_TOKENS_PER_TURN = 60
RATING_OUTPUT_TOKENS = 150
# What a day's tool turns do, in order (the fake toolbox answers these three for real).
DAY_CALLS = [
    ("todo__list", {"limit": 20}),
    ("todo__create", {"title": "Statistik Blatt 4 abgeben"}),
    ("mood__log", {"score": 3, "note": "müde, aber ok"}),
    ("todo__create", {"title": "Mama zurückrufen"}),
    ("todo__list", {"limit": 20}),
]


def story(n: int) -> str:
    """A story the size `runner.memory.compact` gives a persona after some weeks (its full 12
    items and 5 days), in its format."""
    items = [
        f"- todo 'Aufgabe {n}-{i}: Statistik Blatt {i} abgeben' (id {uuid.uuid4()}): "
        f"status=open, priority=normal, due=2026-12-{i + 3:02d}"
        for i in range(12)
    ]
    days = [
        f"- 2026-11-{27 + d}: todo.create ×2, todo.list ×3, mood.log ×1; nothing odd noticed"
        for d in range(5)
    ]
    return (
        "Things you created or changed here (they should still be as you left them):\n"
        + "\n".join(items)
        + "\nYour last days:\n"
        + "\n".join(days)
    )


def personas(count: int) -> Iterator[PersonaProfile]:
    profiles = itertools.cycle(load_catalog().personas)
    for n in range(count):
        profile = next(profiles)
        yield PersonaProfile(
            user_id=uuid.uuid4(),
            email=f"bench.{n}@mana.test",
            name=profile.name,
            archetype=profile.archetype,
            system_prompt=profile.system_prompt,
            module_mix=dict(profile.module_mix),
            spaces=[PersonaSpace(id=uuid.uuid4(), name=profile.name, type="personal")],
        )


def anthropic_day(turns: int) -> list[Reply]:
    calls = itertools.cycle(DAY_CALLS)
    replies = [
        anthropic_message(
            text_block("mal schauen"),
            tool_use_block(*next(calls)),
            input_tokens=COUNT,
            output_tokens=OUTPUT_TOKENS_PER_TURN,
        )
        for _ in range(turns - 1)
    ]
    replies.append(
        anthropic_message(
            text_block("passt für heute"), input_tokens=COUNT, output_tokens=OUTPUT_TOKENS_PER_TURN
        )
    )
    return replies


def openai_day(turns: int) -> list[Reply]:
    calls = itertools.cycle(DAY_CALLS)
    replies = [
        openai_completion(
            "mal schauen",
            tool_calls=[function_call(*next(calls))],
            prompt_tokens=COUNT,
            completion_tokens=OUTPUT_TOKENS_PER_TURN,
        )
        for _ in range(turns - 1)
    ]
    replies.append(
        openai_completion(
            "passt für heute", prompt_tokens=COUNT, completion_tokens=OUTPUT_TOKENS_PER_TURN
        )
    )
    return replies


RATING = '{"ratings": [%s]}'


def rating_answer(modules: list[str]) -> str:
    return RATING % ", ".join(
        f'{{"module": "{m}", "rating": 4, "notes": "ging gut, nur etwas langsam"}}' for m in modules
    )


@dataclass
class Run:
    label: str
    ticks: int = 0
    usage: Usage = field(default_factory=Usage)
    wall: float = 0.0

    def per_tick(self, value: float) -> float:
        return value / self.ticks

    @property
    def uncached(self) -> int:
        return (
            self.usage.input_tokens - self.usage.cache_write_tokens - self.usage.cache_read_tokens
        )


async def run(
    label: str,
    brain: LLMBrain,
    server: ScriptedServer,
    *,
    provider: str,
    count: int,
    turns: int,
) -> Run:
    result = Run(label)
    started = time.perf_counter()
    for persona in personas(count):
        toolbox = FakeToolBox(product_tools())
        day = DayContext(
            persona=persona,
            space=persona.spaces[0],
            today=date(2026, 12, 2),
            seed=1,
            rng=random.Random(1),
            story=story(result.ticks),
        )
        server.script(*(anthropic_day(turns) if provider == "anthropic" else openai_day(turns)))
        await brain.run_day(day, toolbox)
        experience = summarize_experience(toolbox.records)
        answer = rating_answer(experience.modules_used)
        if provider == "anthropic":
            server.script(
                anthropic_message(
                    text_block(answer), input_tokens=COUNT, output_tokens=RATING_OUTPUT_TOKENS
                )
            )
        else:
            server.script(
                openai_completion(
                    answer, prompt_tokens=COUNT, completion_tokens=RATING_OUTPUT_TOKENS
                )
            )
        outcome = await brain.rate(day, experience)
        assert outcome.problem is None, outcome.problem
        assert server.unused == 0
        result.ticks += 1
        result.usage.add(day.usage)
    result.wall = time.perf_counter() - started
    return result


async def bench(count: int, turns: int) -> list[tuple[Run, Run]]:
    anthropic_fake, openai_fake = FakeAnthropic(), FakeOpenAI()
    pairs = []
    with (
        BackgroundServer(anthropic_fake.app) as anthropic_server,
        BackgroundServer(openai_fake.app) as openai_server,
    ):
        settings = llm_settings(
            anthropic_base_url=anthropic_server.url,
            openai_base_url=f"{openai_server.url}/v1",
            llm_max_turns=turns,
        )
        anthropic = AnthropicBrain(settings)
        openai = OpenAIBrain(settings)
        try:
            for brain, fake, provider in (
                (anthropic, anthropic_fake, "anthropic"),
                (openai, openai_fake, "openai"),
            ):
                fake.reset()
                brain.prompt_cache, fake.caching = False, False
                before = await run(
                    f"{provider} without caching",
                    brain,
                    fake,
                    provider=provider,
                    count=count,
                    turns=turns,
                )
                fake.reset()
                brain.prompt_cache, fake.caching = True, True
                after = await run(
                    f"{provider} with caching",
                    brain,
                    fake,
                    provider=provider,
                    count=count,
                    turns=turns,
                )
                pairs.append((before, after))
        finally:
            await anthropic.aclose()
            await openai.aclose()
    return pairs


def print_table(pairs: list[tuple[Run, Run]], count: int, turns: int) -> None:
    print(
        f"\nmodel input per tick ({count} personas one after another, {turns} turns + rating "
        f"per day, {len(product_tools())} tools; tokens per tick, $ per persona-day)"
    )
    header = (
        f"{'brain':<28}{'prompt':>9}{'uncached':>10}{'cache wr':>10}{'cache rd':>10}"
        f"{'billed*':>10}{'output':>8}{'$/day':>10}{'$/1k days':>11}{'vs no cache':>13}"
    )
    print(header)
    print("-" * len(header))
    for before, after in pairs:
        for r in (before, after):
            usage = r.usage
            # Input billed, in plain-input-token equivalents: what the input part of the bill
            # would buy at the plain input price.
            provider = r.label.split()[0]
            write, read = (1.25, 0.1) if provider == "anthropic" else (1.0, 0.1)
            billed = r.uncached + write * usage.cache_write_tokens + read * usage.cache_read_tokens
            ratio = r.usage.cost_usd / before.usage.cost_usd
            print(
                f"{r.label:<28}{r.per_tick(usage.input_tokens):>9.0f}{r.per_tick(r.uncached):>10.0f}"
                f"{r.per_tick(usage.cache_write_tokens):>10.0f}"
                f"{r.per_tick(usage.cache_read_tokens):>10.0f}{r.per_tick(billed):>10.0f}"
                f"{r.per_tick(usage.output_tokens):>8.0f}{r.per_tick(usage.cost_usd):>10.4f}"
                f"{1000 * r.per_tick(usage.cost_usd):>11.2f}{ratio:>12.2f}x"
            )
    print("* billed: input in plain-input-token equivalents (writes 1.25x / 1x, reads 0.1x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--personas", type=int, default=10)
    parser.add_argument("--turns", type=int, default=8, help="model turns per day")
    args = parser.parse_args()
    began = time.perf_counter()
    pairs = asyncio.run(bench(args.personas, args.turns))
    print_table(pairs, args.personas, args.turns)
    print(f"\ntotal {time.perf_counter() - began:.0f}s")


if __name__ == "__main__":
    main()
