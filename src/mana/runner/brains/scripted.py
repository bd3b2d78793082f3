"""The scripted brain: a rule-based simulator of a persona's day. Offline and deterministic.

It is not a language model. For a given persona and seed it always makes the same calls:
modules are drawn by the persona's `moduleMix` weights, each visit reads before it writes, the
content comes from the persona's own voice in the catalog (its sample todos, notes, journal
lines, habits, contacts, events — in its language), and an overwhelmed newbie now and then gets
things wrong in ways that exercise the product's validation (empty titles, "next tuesday" as a
date, a mood of 11, an event that ends before it starts). Its ratings come only from what it
noticed — a change that did not stick, an item gone or not its own, a failure, a vague
refusal, a slow call — weighted by harm, and each note names the symptom and its evidence.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from mana.personas.catalog import Catalog, CatalogContact, CatalogVoice, load_catalog
from mana.runner.brains.base import DayContext, Experience, ModuleExperience, ToolBox, ToolOutcome
from mana.runner.brains.voice import derive_voice
from mana.runner.types import ModuleRating, Observation, RatingOutcome
from mana.runner.verdict import language, rating_for
from mana.runner.verdict import reason as verdict_reason

NEWBIE_ARCHETYPES = {"overwhelmed-newbie"}
MISTAKE_RATE = 0.35
VISITS_BY_ARCHETYPE = {
    "ceo-busy": (2, 3),
    "adhd-student": (3, 5),
    "overwhelmed-newbie": (2, 4),
}
DEFAULT_VISITS = (2, 4)

FALLBACK_VOICE = CatalogVoice(
    style="precise",
    sample_todos=["Reply to the open emails", "Plan next week", "Buy groceries"],
    sample_notes=["Ideas for the weekend: hike, museum, call the family."],
    sample_journal=["A normal day. Got the important things done."],
    habits=["Walk 20 minutes"],
    contacts=[CatalogContact(name="Sam Example", note="colleague")],
    events=["Weekly review"],
)


def _items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in ("items", "entries", "results"):
            value = data.get(key)
            if isinstance(value, list):
                return [v for v in value if isinstance(v, dict)]
    return []


@dataclass
class Visit:
    """One persona's pass through one module, with what it needs to compose inputs."""

    toolbox: ToolBox
    rng: random.Random
    voice: CatalogVoice
    today: date
    newbie: bool
    available: set[str]
    calls: list[str] = field(default_factory=list)

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome | None:
        if name not in self.available:
            return None
        self.calls.append(name)
        return await self.toolbox.call(name, arguments)

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def blunder(self) -> bool:
        return self.newbie and self.rng.random() < MISTAKE_RATE

    def when(self, days_ahead: int, hour: int) -> datetime:
        return datetime.combine(self.today + timedelta(days=days_ahead), time(hour, 0))


async def visit_todo(v: Visit) -> None:
    listed = await v.call("todo.list", {"status": "open", "limit": 20})
    open_items = _items(listed.data) if listed and listed.ok else []
    if open_items and v.rng.random() < 0.6:
        done = await v.call("todo.complete", {"id": v.rng.choice(open_items)["id"]})
        if done and done.ok:
            # Back on the list, as an app shows it after a tick: is it gone from the open ones?
            await v.call("todo.list", {"status": "open", "limit": 20})
    if v.blunder():
        # Newbie: presses "save" before typing, or writes the date in words.
        if v.rng.random() < 0.5:
            await v.call("todo.create", {"title": ""})
        else:
            await v.call(
                "todo.create", {"title": v.pick(v.voice.sample_todos), "due": "next tuesday"}
            )
    arguments: dict[str, Any] = {"title": v.pick(v.voice.sample_todos)}
    if v.rng.random() < 0.5:
        arguments["due"] = (v.today + timedelta(days=v.rng.randint(0, 10))).isoformat()
    if v.rng.random() < 0.3:
        arguments["priority"] = v.rng.choice(["low", "high"])
    created = await v.call("todo.create", arguments)
    if created and created.ok and v.rng.random() < 0.25:
        await v.call("todo.update", {"id": created.data["id"], "priority": "high"})


async def visit_journal(v: Visit) -> None:
    week_ago = (v.today - timedelta(days=7)).isoformat()
    await v.call("journal.list", {"from": week_ago, "to": v.today.isoformat(), "limit": 10})
    await v.call("journal.add", {"body": v.pick(v.voice.sample_journal)})


async def visit_notes(v: Visit) -> None:
    sample = v.pick(v.voice.sample_notes)
    words = [w.strip(".,:;!?()\"'") for w in sample.split() if len(w) > 4]
    query = v.rng.choice(words) if words else sample[:12]
    if v.blunder():
        await v.call("notes.search", {"query": ""})
    found = await v.call("notes.search", {"query": query, "limit": 10})
    hits = _items(found.data) if found and found.ok else []
    if hits and v.rng.random() < 0.4:
        hit = v.rng.choice(hits)
        await v.call(
            "notes.update", {"id": hit["id"], "body": f"{hit.get('body') or ''}\n{sample}"[:9000]}
        )
        return
    title = " ".join(sample.split()[:6])[:200] or "Note"
    await v.call("notes.create", {"title": title, "body": sample})


async def visit_habits(v: Visit) -> None:
    listed = await v.call("habits.list", {"limit": 20})
    habits = _items(listed.data) if listed and listed.ok else []
    if not habits:
        created = await v.call(
            "habits.create", {"name": v.pick(v.voice.habits)[:100], "cadence": "daily"}
        )
        habits = [created.data] if created and created.ok else []
    if habits:
        habit = v.rng.choice(habits)
        await v.call("habits.log", {"habitId": habit["id"]})
        if v.rng.random() < 0.5:
            await v.call("habits.recent", {"habitId": habit["id"], "days": 7})


async def visit_mood(v: Visit) -> None:
    await v.call("mood.recent", {"days": 7})
    if v.blunder():
        await v.call("mood.log", {"score": 11, "note": "off the scale, sorry"})
    note = v.pick(v.voice.sample_journal)[:200]
    await v.call("mood.log", {"score": v.rng.randint(3, 9), "note": note})


async def visit_calendar(v: Visit) -> None:
    await v.call(
        "calendar.list",
        {"from": v.today.isoformat(), "to": (v.today + timedelta(days=7)).isoformat(), "limit": 20},
    )
    start = v.when(v.rng.randint(0, 6), v.rng.randint(8, 18))
    title = v.pick(v.voice.events)
    if v.blunder():
        # Newbie: swaps start and end.
        await v.call(
            "calendar.create",
            {
                "title": title,
                "start": start.isoformat(),
                "end": (start - timedelta(hours=1)).isoformat(),
            },
        )
    end = start + timedelta(minutes=v.rng.choice([30, 60, 90]))
    await v.call(
        "calendar.create", {"title": title, "start": start.isoformat(), "end": end.isoformat()}
    )


async def visit_contacts(v: Visit) -> None:
    contact = v.rng.choice(v.voice.contacts)
    found = await v.call("contacts.search", {"query": contact.name.split()[0], "limit": 10})
    hits = _items(found.data) if found and found.ok else []
    if hits:
        await v.call("contacts.update", {"id": hits[0]["id"], "note": contact.note or "met again"})
        return
    if v.blunder():
        await v.call("contacts.create", {"name": contact.name, "email": "at home, ask Jayden"})
    await v.call("contacts.create", {"name": contact.name, "note": contact.note or None})


PLAYBOOK: dict[str, Callable[[Visit], Awaitable[None]]] = {
    "todo": visit_todo,
    "journal": visit_journal,
    "notes": visit_notes,
    "habits": visit_habits,
    "mood": visit_mood,
    "calendar": visit_calendar,
    "contacts": visit_contacts,
}


# --- rating --------------------------------------------------------------------------------
#
# The rating and the reason come from what the persona noticed (mana.runner.verdict): no
# observation, no complaint. The voice templates below only dress the reason in its style.

_VOICE = {
    "en": {
        "terse": "{module}: {reason}. {rating}/5.",
        "rambling": "ok so {module} — {reason}, which, honestly, {feeling}. anyway.",
        "precise": "{module}: {calls} calls, {errors} failed. {reason_cap}.",
        "poetic": "{module} was {image}; {reason}.",
        "typo-prone": "{module} - {reason} , {feeling} tbh",
        "formal": "Regarding {module}: {reason}. I would rate it {rating} of 5.",
        "anxious": "I hope I did this right... in {module} {reason}. {worry}",
    },
    "de": {
        "terse": "{module}: {reason}. {rating}/5.",
        "rambling": "also {module} — {reason}, und ehrlich gesagt {feeling}. naja.",
        "precise": "{module}: {calls} Aufrufe, {errors} fehlgeschlagen. {reason_cap}.",
        "poetic": "{module} war {image}; {reason}.",
        "typo-prone": "{module} - {reason} , {feeling} halt",
        "formal": "Zu {module}: {reason}. Ich vergebe {rating} von 5.",
        "anxious": "Hoffentlich hab ich alles richtig gemacht... bei {module} {reason}. {worry}",
    },
}

_FEELINGS = {
    "en": {5: "loved it", 4: "pretty good", 3: "kind of meh", 2: "annoying", 1: "I gave up"},
    "de": {5: "super", 4: "ganz gut", 3: "so mittel", 2: "nervig", 1: "hab aufgegeben"},
}
_IMAGES = {
    "en": {
        5: "a clear morning",
        4: "a quiet river",
        3: "fog over the fields",
        2: "a door that sticks",
        1: "a locked gate",
    },
    "de": {
        5: "ein klarer Morgen",
        4: "ein ruhiger Fluss",
        3: "Nebel über dem Feld",
        2: "eine klemmende Tür",
        1: "ein verschlossenes Tor",
    },
}
_WORRY = {
    "en": {True: "Did I break something?", False: "It seems my things are saved, thank goodness."},
    "de": {
        True: "Hab ich was kaputt gemacht?",
        False: "Meine Sachen scheinen gespeichert zu sein, zum Glück.",
    },
}


def note_for(
    exp: ModuleExperience,
    rating: int,
    *,
    style: str,
    locale: str,
    rng: random.Random,
    observations: Sequence[Observation] = (),
) -> str:
    lang = language(locale)
    reason = verdict_reason(observations, locale)
    template = _VOICE[lang].get(style, _VOICE[lang]["precise"])
    note = template.format(
        module=exp.module,
        reason=reason,
        reason_cap=reason[:1].upper() + reason[1:],
        rating=rating,
        calls=exp.calls,
        errors=len(exp.errors),
        feeling=_FEELINGS[lang][rating],
        image=_IMAGES[lang][rating],
        worry=_WORRY[lang][bool(observations)],
    )
    if style == "typo-prone":
        note = note.lower().replace("the ", "teh ", 1).replace("ich ", "ihc ", 1)
    return note


class ScriptedBrain:
    name = "scripted"

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog if catalog is not None else load_catalog()

    def _voice(self, email: str) -> tuple[CatalogVoice, str]:
        entry = self.catalog.by_email(email)
        if entry is None:
            return FALLBACK_VOICE, "en"
        return entry.voice or derive_voice(entry), entry.locale

    async def aclose(self) -> None:
        return None

    async def run_day(self, day: DayContext, toolbox: ToolBox) -> None:
        voice, _locale = self._voice(day.persona.email)
        available = {t.name for t in toolbox.tools}
        offered = {name.split(".", 1)[0] for name in available}
        mix = {
            module: weight
            for module, weight in sorted(day.persona.module_mix.items())
            if weight > 0 and module in offered and module in PLAYBOOK
        }
        if not mix:
            return
        rng = day.rng
        low, high = VISITS_BY_ARCHETYPE.get(day.persona.archetype, DEFAULT_VISITS)
        if day.space.type != "personal" and "spaces.list" in available:
            await toolbox.call("spaces.list", {})  # "where am I?" — shared spaces are new ground
        modules = list(mix)
        weights = [mix[m] for m in modules]
        for _ in range(rng.randint(low, high)):
            module = rng.choices(modules, weights=weights)[0]
            visit = Visit(
                toolbox=toolbox,
                rng=rng,
                voice=voice,
                today=day.today,
                newbie=day.persona.archetype in NEWBIE_ARCHETYPES,
                available=available,
            )
            await PLAYBOOK[module](visit)

    async def rate(self, day: DayContext, experience: Experience) -> RatingOutcome:
        voice, locale = self._voice(day.persona.email)
        ratings = []
        for module in experience.modules_used:
            exp = experience.modules[module]
            observed = experience.observed(module)
            score = rating_for(observed)
            note = note_for(
                exp, score, style=voice.style, locale=locale, rng=day.rng, observations=observed
            )
            ratings.append(ModuleRating(module=module, rating=score, notes=note))
        return RatingOutcome(ratings=ratings)
