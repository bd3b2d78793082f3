"""Brains decide what a persona does in its day and how it rates what it used.

`scripted` is a rule-based simulator (offline, deterministic per seed, the default); `chaos`
sends edge input on purpose (offline too); `anthropic` and `openai` drive a language model
through the official SDKs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from mana.config import Settings
from mana.runner.brains.base import Brain
from mana.runner.brains.chaos import ChaosBrain
from mana.runner.brains.scripted import ScriptedBrain

if TYPE_CHECKING:
    from mana.runner.brains.llm_common import DailySpend

# The LLM brains are imported only when chosen: the two SDKs take seconds to import, and every
# `mana` command (and the default, offline scripted brain) would otherwise pay for them.
_LLM_BRAINS = {
    "anthropic": ("mana.runner.brains.anthropic_brain", "AnthropicBrain"),
    "openai": ("mana.runner.brains.openai_brain", "OpenAIBrain"),
}
BRAINS = ("scripted", "chaos", *_LLM_BRAINS)


class UnknownBrain(ValueError):
    pass


def get_brain(name: str, settings: Settings, *, daily_spend: DailySpend | None = None) -> Brain:
    """Build a brain by name. LLM brains raise BrainConfigError when their key is missing.
    `daily_spend`: what an LLM brain counts its day's spend in (default: its own DailySpend)."""
    if name == "scripted":
        return ScriptedBrain()
    if name == "chaos":
        return ChaosBrain()
    if name not in _LLM_BRAINS:
        raise UnknownBrain(f"unknown brain {name!r}: choose one of {', '.join(BRAINS)}")
    module_name, class_name = _LLM_BRAINS[name]
    brain_class = getattr(importlib.import_module(module_name), class_name)
    brain: Brain = brain_class(settings, daily_spend=daily_spend)
    return brain
