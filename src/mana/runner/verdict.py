"""From what a persona noticed to its rating and the reason in its note (issue 10 §3).

A rating follows only from the day's observations, weighted by harm: lost or wrong data
costs much more than a slow call, a vague error costs a little. No observation, no complaint
(an empty list on a first day is not a problem). The reason names the worst symptom and its
evidence (tool and call) in the persona's language.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mana.runner.toolmap import FINISHED_FIELDS
from mana.runner.types import ModuleRating, Observation

HARM = {
    "missing": 2.0,
    "not_applied": 2.0,
    "unexpected_item": 2.0,
    "changed": 1.5,
    "error": 1.0,
    "unclear_error": 0.5,
    "slow": 0.5,
}
# Repeats of one kind weigh half as much each, at most this many repeats.
MAX_REPEATS = 2


def penalty(observations: Sequence[Observation]) -> float:
    counts = Counter(o.kind for o in observations)
    total = 0.0
    for kind, count in counts.items():
        weight = HARM.get(kind, 1.0)
        total += weight + 0.5 * weight * min(count - 1, MAX_REPEATS)
    return total


def rating_for(observations: Sequence[Observation]) -> int:
    """5 when nothing was noticed; every observation costs at least a point, harm more."""
    return max(1, min(5, 5 - math.ceil(penalty(observations) - 1e-9)))


def worst(observations: Sequence[Observation]) -> Observation | None:
    if not observations:
        return None
    return max(observations, key=lambda o: (HARM.get(o.kind, 1.0), -(o.action_seq or 0)))


_PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "ok": "it did what I needed",
        "missing": "'{label}' that I made with {cause} was gone ({tool}, call {seq})",
        "finished": "I ticked off '{label}' and it was still open afterwards ({tool}, call {seq})",
        "not_applied": "I set {field} of '{label}' to {expected} and it showed {found} "
        "({tool}, call {seq})",
        "changed": "'{label}' was not as I left it: {field} is {found} instead of {expected} "
        "({tool}, call {seq})",
        "unexpected_item": "'{label}' showed up in my own space and I never created it "
        "({tool}, call {seq})",
        "error": 'it failed with "{message}" ({tool}, call {seq})',
        "unclear_error": 'it refused my {field} with just "{message}", not what was wrong '
        "({tool}, call {seq})",
        "slow": "it was slow ({found} ms for {tool}, call {seq})",
        "more": "; and {count} more problem(s)",
        "evidence": "What I saw: {reason}.",
    },
    "de": {
        "ok": "hat gemacht, was ich wollte",
        "missing": "'{label}', das ich mit {cause} angelegt hatte, war weg ({tool}, Aufruf {seq})",
        "finished": "ich hab '{label}' abgehakt und es war danach immer noch offen "
        "({tool}, Aufruf {seq})",
        "not_applied": "ich hab bei '{label}' {field} auf {expected} gesetzt, aber da stand "
        "{found} ({tool}, Aufruf {seq})",
        "changed": "'{label}' war nicht mehr so, wie ich es gelassen hab: {field} ist {found} "
        "statt {expected} ({tool}, Aufruf {seq})",
        "unexpected_item": "'{label}' tauchte in meinem eigenen Bereich auf, das hab ich nie "
        "angelegt ({tool}, Aufruf {seq})",
        "error": 'es ging schief: "{message}" ({tool}, Aufruf {seq})',
        "unclear_error": 'es hat mein {field} abgelehnt, nur mit "{message}", ohne zu sagen, '
        "was falsch war ({tool}, Aufruf {seq})",
        "slow": "war langsam ({found} ms bei {tool}, Aufruf {seq})",
        "more": "; und {count} weitere(s) Problem(e)",
        "evidence": "Was ich gesehen hab: {reason}.",
    },
}


def language(locale: str) -> str:
    return "de" if locale.lower().startswith("de") else "en"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def reason(observations: Sequence[Observation], locale: str) -> str:
    """The symptom and its evidence, in the persona's language ("it did what I needed" when
    nothing was noticed)."""
    phrases = _PHRASES[language(locale)]
    top = worst(observations)
    if top is None:
        return phrases["ok"]
    key = top.kind
    if key == "not_applied" and top.field in FINISHED_FIELDS:
        key = "finished"
    text = phrases.get(key, phrases["error"]).format(
        label=_short(top.label or top.item_id or "?"),
        cause=top.cause_tool or top.tool_name or "?",
        tool=top.tool_name or "?",
        seq=top.action_seq if top.action_seq is not None else "?",
        field=top.field or "input",
        expected=_short(top.expected),
        found=_short(top.found),
        message=_short(str(top.found or top.evidence).split("\n")[0]),
    )
    if len(observations) > 1:
        text += phrases["more"].format(count=len(observations) - 1)
    return text


# A note stays within what the feedback API takes (5,000 characters).
MAX_NOTE_CHARS = 5_000


def bounded_by_evidence(
    ratings: Sequence[ModuleRating], observations: Sequence[Observation], locale: str
) -> list[ModuleRating]:
    """A model's ratings, never kinder than the evidence. A language model may rate a module
    lower than its observations do (it can find a flow confusing that no check sees), but a
    module where the checks saw harm gets at most `rating_for` those observations, whatever
    the model said, so findings and alerts read the same from every brain. A rating lowered
    here gets the evidence appended to its note, in the persona's language."""
    bounded = []
    for given in ratings:
        observed = [o for o in observations if o.module == given.module]
        ceiling = rating_for(observed)
        if given.rating <= ceiling:
            bounded.append(given)
            continue
        evidence = _PHRASES[language(locale)]["evidence"].format(reason=reason(observed, locale))
        notes = f"{given.notes.strip()} {evidence}".strip()
        bounded.append(replace(given, rating=ceiling, notes=notes[:MAX_NOTE_CHARS]))
    return bounded
