"""What the model is told: the day's system prompt, the opening message and the rating turn."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

from mana.runner.brains.base import DayContext, Experience
from mana.runner.recording import SLOW_CALL_MS
from mana.runner.types import PersonaSpace

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

DAY_INSTRUCTION = (
    "You are using the Mana app through the tools you have been given. Do what this person "
    "would really do in the app today: a few actions, not a tour of every feature, with content "
    "written in your own words and language, the way you would type it. The tool results are "
    "what the app showed you; when something fails or confuses you, react as this person would. "
    "When you are done for today, stop calling tools and reply with one short sentence."
)


def long_date(day: date) -> str:
    return f"{WEEKDAYS[day.weekday()]}, {day.isoformat()}"


def _space_line(space: PersonaSpace) -> str:
    if space.type == "personal":
        return f'You are in your personal space "{space.name}".'
    return (
        f'You are in the shared {space.type} space "{space.name}"; the other people in it see '
        "what you add there."
    )


def day_system_prompt(day: DayContext) -> str:
    persona = day.persona
    lines = [persona.system_prompt.strip(), "", f"Today is {long_date(day.today)}."]
    lines.append(_space_line(day.space))
    usual = sorted(persona.module_mix, key=lambda m: (-persona.module_mix[m], m))
    if usual:
        lines.append(f"The parts of the app you use most, most used first: {', '.join(usual)}.")
    if day.story:  # issue 10: the story so far, so the persona can notice what changed
        lines += ["", "What you remember (check it is still so):", day.story]
    lines += ["", DAY_INSTRUCTION]
    return "\n".join(lines)


def opening_message(day: DayContext) -> str:
    return f"It is {long_date(day.today)}. Open the app and go about your day."


def rating_system_prompt(day: DayContext) -> str:
    return "\n".join(
        [
            day.persona.system_prompt.strip(),
            "",
            f"Today is {long_date(day.today)}. You have just used the Mana app and are asked "
            "what you thought of it.",
        ]
    )


def quote(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return json.dumps(text if len(text) <= limit else text[: limit - 1] + "…", ensure_ascii=False)


def experience_digest(experience: Experience) -> str:
    """A short factual account per module: what was called, what failed and how, what was
    slow or empty. Facts only — the judgement is the persona's."""
    tools_by_module: dict[str, Counter[str]] = {}
    for action in experience.actions:
        tools_by_module.setdefault(action.module, Counter())[action.tool_name] += 1
    lines = []
    for module in experience.modules_used:
        seen = experience.modules[module]
        tools = tools_by_module.get(module, Counter())
        used = ", ".join(f"{name} ×{count}" for name, count in sorted(tools.items()))
        parts = [f"{seen.calls} call{'s' if seen.calls != 1 else ''} ({used})"]
        if seen.errors:
            failures = Counter(seen.errors)
            shown = "; ".join(
                f"{quote(message)}" + (f" ×{count}" if count > 1 else "")
                for message, count in failures.most_common(5)
            )
            more = len(failures) - 5
            parts.append(
                f"{len(seen.errors)} failed: {shown}"
                + (f" and {more} other errors" if more > 0 else "")
            )
        else:
            parts.append("nothing failed")
        if seen.empty_reads:
            parts.append(
                f"{seen.empty_reads} list{'s' if seen.empty_reads != 1 else ''} came back empty"
            )
        if seen.slow_calls:
            parts.append(f"{seen.slow_calls} slow (over {SLOW_CALL_MS / 1000:g} s)")
        parts.append(f"typical response {seen.mean_latency_ms:.0f} ms")
        # issue 10: what the checks found, with its evidence (tool, call), for the note to name
        parts += [f"noticed {o.kind}: {quote(o.evidence)}" for o in experience.observed(module)[:5]]
        lines.append(f"- {module}: " + "; ".join(parts))
    return "\n".join(lines)


def rating_prompt(experience: Experience) -> str:
    modules = ", ".join(experience.modules_used)
    return (
        "Here is what happened in the app today, part by part:\n\n"
        f"{experience_digest(experience)}\n\n"
        f"Rate each part you used ({modules}) from 1 (awful) to 5 (great), the way you really "
        "judge it, with a short note in your own voice and language about what worked and what "
        "did not.\n"
        "Answer with only this JSON object, one entry per part, and nothing else:\n"
        '{"ratings": [{"module": "<part>", "rating": <whole number 1-5>, "notes": "<your note>"}]}'
    )
