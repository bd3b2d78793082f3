"""A persona's day and the settings an LLM brain test runs with (no database, no environment)."""

from __future__ import annotations

import random
import uuid
from datetime import date
from typing import Any

from mana.config import Settings
from mana.runner.brains.base import DayContext
from mana.runner.types import PersonaProfile, PersonaSpace

PERSONA_PROMPT = (
    "You are Mia Schneider, 20, a psychology student in Leipzig with ADHD. You write in German, "
    "fast and informal."
)


def make_persona(**overrides: Any) -> PersonaProfile:
    values: dict[str, Any] = {
        "user_id": uuid.uuid4(),
        "email": "persona.mia@mana.test",
        "name": "Mia Schneider",
        "archetype": "adhd-student",
        "system_prompt": PERSONA_PROMPT,
        "module_mix": {"todo": 4, "mood": 2},
        "spaces": [PersonaSpace(id=uuid.uuid4(), name="Mia", type="personal", role="owner")],
    }
    values.update(overrides)
    return PersonaProfile(**values)


def make_day(
    *, today: date = date(2025, 5, 14), space: PersonaSpace | None = None, seed: int = 7
) -> DayContext:
    persona = make_persona()
    return DayContext(
        persona=persona,
        space=space or persona.spaces[0],
        today=today,
        seed=seed,
        rng=random.Random(seed),
    )


def llm_settings(**overrides: Any) -> Settings:
    """Settings for a brain under test: explicit values for everything the brains read, so the
    machine's environment (API keys, base URLs, budgets) cannot leak in."""
    values: dict[str, Any] = {
        "anthropic_api_key": "sk-ant-test-key",
        "anthropic_base_url": None,
        "anthropic_model": "claude-sonnet-4-6",
        "anthropic_input_usd_per_mtok": 3.0,
        "anthropic_output_usd_per_mtok": 15.0,
        "openai_api_key": "sk-openai-test-key",
        "openai_base_url": None,
        "openai_model": "gpt-5-mini",
        "openai_input_usd_per_mtok": 0.25,
        "openai_output_usd_per_mtok": 2.0,
        "openai_max_tokens_param": "max_completion_tokens",
        "llm_max_turns": 15,
        "llm_max_output_tokens": 1024,
        "llm_timeout_seconds": 10.0,
        "llm_max_attempts": 3,
        "tick_budget_usd": None,
        "daily_budget_usd": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)
