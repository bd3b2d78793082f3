"""A voice for a catalog persona that has none (the original catalog format has no `voice`).

The scripted brain writes its content in the persona's voice. When the catalog gives none, one
is derived from what the entry does say: the archetype picks the writing style, the system
prompt's own sentences become the persona's notes, and the rest is plain everyday content in
the persona's language. Deterministic: the same entry always gets the same voice.
"""

from __future__ import annotations

import functools
import re

from mana.personas.catalog import (
    Catalog,
    CatalogContact,
    CatalogPersona,
    CatalogVoice,
    VoiceStyle,
    load_catalog,
)

STYLE_BY_ARCHETYPE: dict[str, VoiceStyle] = {
    "adhd-student": "typo-prone",
    "ceo-busy": "terse",
    "creative-parent": "poetic",
    "solo-dev": "terse",
    "researcher": "precise",
    "freelancer": "formal",
    "overwhelmed-newbie": "anxious",
}

_EVERYDAY: dict[str, dict[str, list[str]]] = {
    "en": {
        "todos": ["Reply to the open emails", "Plan next week", "Buy groceries", "Pay the bills"],
        "journal": ["A normal day. Got the important things done.", "Busy day, little time."],
        "habits": ["Walk 20 minutes", "Read before bed"],
        "events": ["Weekly review", "Call with a friend"],
    },
    "de": {
        "todos": ["Offene Mails beantworten", "Nächste Woche planen", "Einkaufen", "Rechnungen"],
        "journal": ["Ein normaler Tag. Das Wichtigste geschafft.", "Voller Tag, wenig Zeit."],
        "habits": ["20 Minuten spazieren", "Vor dem Schlafen lesen"],
        "events": ["Wochenrückblick", "Telefonat mit einer Freundin"],
    },
}

_CONTACT_NOTE = {"en": "someone I talk to often", "de": "jemand, mit dem ich oft rede"}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def derive_voice(persona: CatalogPersona) -> CatalogVoice:
    language = persona.locale.split("-", 1)[0]
    language = language if language in _EVERYDAY else "en"
    everyday = _EVERYDAY[language]
    sentences = [s.strip() for s in _SENTENCE.split(persona.system_prompt) if s.strip()]
    notes = [s[:2000] for s in sentences[1:4]] or [persona.system_prompt[:2000]]
    first_name = persona.name.split()[0]
    return CatalogVoice(
        style=STYLE_BY_ARCHETYPE.get(persona.archetype, "precise"),
        sample_todos=everyday["todos"],
        sample_notes=notes,
        sample_journal=everyday["journal"],
        habits=everyday["habits"],
        # Not the persona itself: a contact is someone else in its life.
        contacts=[CatalogContact(name=f"{first_name}'s friend", note=_CONTACT_NOTE[language])],
        events=everyday["events"],
    )


@functools.cache
def _shipped_catalog() -> Catalog:
    return load_catalog()


def persona_locale(email: str) -> str:
    """The persona's locale as the shipped catalog gives it ("en" for one it does not list)."""
    entry = _shipped_catalog().by_email(email)
    return entry.locale if entry is not None else "en"
