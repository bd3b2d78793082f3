"""The chaos brain (`--brain chaos`, issue 10 §4): any persona, on purpose at the edges.

It reads each module's create tool from the schema the MCP server publishes and sends what
real people eventually send: text exactly at its length limit and one character over it,
emoji, right-to-left and combining characters, a leap day and dates far in the future and
past, the same item twice in a row, the same change twice quickly. Then it lists what it made.

It judges nothing itself: the tick's checks (`mana.runner.expectations`) see whether each
answer kept what was sent, whether an accepted item is still there, and whether a refusal
said what was wrong — the same evidence as for every other persona, rated the same way.
Deterministic per seed, offline; the catalog's ten personas stay as they are.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from mana.runner.brains.base import DayContext, ToolBox
from mana.runner.brains.scripted import ScriptedBrain
from mana.runner.toolmap import ToolMap, resolve

MODULES_PER_DAY = 3
# Text a careless app mangles: emoji with skin tone and ZWJ, Arabic and Hebrew (RTL), a
# decomposed "é" (e + combining acute), a zero-width space, CJK.
ODD_TEXTS = [
    "Geburtstag 🎂🎉 👩🏽‍💻",
    "اجتماع الفريق غدا",
    "פגישה עם דנה",
    "Cafe\u0301 mit Zoe\u0308",
    "zero\u200bwidth",
    "日本語のメモ",
]
FAR_DATES = [date(2028, 2, 29), date(2099, 12, 31), date(1900, 1, 1)]


def _filler(length: int, rng: random.Random) -> str:
    words = ["edge", "case", "äöü", "limit", "🙂", "text"]
    out = ""
    while len(out) < length:
        out += rng.choice(words) + " "
    return out[:length].rstrip() + "x" * (length - len(out[:length].rstrip()))


def _value(schema: dict[str, Any], prop: dict[str, Any], rng: random.Random, mode: str) -> Any:
    node = resolve(schema, prop)
    kind = node.get("type")
    if isinstance(node.get("enum"), list) and node["enum"]:
        return rng.choice(node["enum"])
    if kind == "string":
        fmt = node.get("format")
        if fmt == "date":
            return rng.choice(FAR_DATES).isoformat()
        if fmt == "date-time":
            return datetime.combine(rng.choice(FAR_DATES), time(9, 0)).isoformat()
        if fmt == "email":
            return "zoë@exämple.test"
        limit = node.get("maxLength")
        if mode == "at_limit" and isinstance(limit, int):
            return _filler(limit, rng)
        if mode == "over_limit" and isinstance(limit, int):
            return _filler(limit + 1, rng)
        return rng.choice(ODD_TEXTS)
    if kind == "integer":
        low, high = node.get("minimum"), node.get("maximum")
        if mode == "over_limit" and isinstance(high, int):
            return high + 1
        return high if isinstance(high, int) else (low if isinstance(low, int) else 1)
    if kind == "boolean":
        return True
    return None


def edge_inputs(
    schema: dict[str, Any], rng: random.Random, today: date
) -> list[tuple[str, dict[str, Any]]]:
    """(what it tries, arguments) for one create tool: odd text, at the limit, over it."""
    props = resolve(schema, schema).get("properties") or {}
    required = set(schema.get("required") or [])
    tries = []
    for mode in ("odd", "at_limit", "over_limit"):
        arguments = {}
        for name, prop in props.items():
            if name in required or mode != "odd" or rng.random() < 0.5:
                value = _value(schema, prop, rng, mode)
                if value is not None:
                    arguments[name] = value
        # Times that must be ordered (start before end) keep their order on an odd day.
        start, end = arguments.get("start"), arguments.get("end")
        if isinstance(start, str) and isinstance(end, str) and "T" in start:
            begin = datetime.combine(rng.choice(FAR_DATES), time(9, 0))
            arguments["start"] = begin.isoformat()
            arguments["end"] = (begin + timedelta(hours=1)).isoformat()
        if "date" in arguments and mode == "odd":
            arguments["date"] = today.isoformat()  # journal days cannot be in the future
        tries.append((mode, arguments))
    return tries


class ChaosBrain(ScriptedBrain):
    """Edge input on purpose; rates like the scripted brain, in the persona's voice."""

    name = "chaos"

    async def run_day(self, day: DayContext, toolbox: ToolBox) -> None:
        rng = day.rng
        toolmap = ToolMap.of(toolbox.tools)
        writable = sorted(m for m, entry in toolmap.modules.items() if entry.writable)
        preferred = [m for m in writable if day.persona.module_mix.get(m, 0) > 0] or writable
        for module in rng.sample(preferred, min(MODULES_PER_DAY, len(preferred))):
            entry = toolmap.modules[module]
            create = entry.creates[0]
            made: list[dict[str, Any]] = []
            for _mode, arguments in edge_inputs(create.input_schema, rng, day.today):
                outcome = await toolbox.call(create.name, arguments)
                if outcome.ok and isinstance(outcome.data, dict):
                    made.append(outcome.data)
            if made:
                # A duplicate, sent twice in quick succession.
                again = {
                    k: v
                    for k, v in made[0].items()
                    if k in create.input_schema.get("properties", {})
                }
                await toolbox.call(create.name, again)
                for change in entry.changes:
                    # The same change twice: a repeat must not flip anything back.
                    target = {"id": made[0]["id"]}
                    await toolbox.call(change.name, target)
                    await toolbox.call(change.name, target)
                    break
            if entry.lister is not None:
                await toolbox.call(
                    entry.lister.name, toolmap.look_arguments(entry.lister, day.today)
                )
