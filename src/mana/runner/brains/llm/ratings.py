"""Judging a model's rating answer: what is usable is kept, what is not is named."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mana.runner.brains.llm.prompts import quote
from mana.runner.recording import checked_ratings
from mana.runner.types import ModuleRating, RatingOutcome

MAX_NOTES_CHARS = 2_000
# A rating answer longer than this is not an answer (and would make JSON extraction slow).
MAX_RATING_ANSWER_CHARS = 50_000

_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_NOTHING = object()


def extract_json(text: str) -> Any:
    """The first JSON value in a model's answer: the whole answer, a fenced block, or the first
    `{...}` that parses. Returns `_NOTHING` when there is none."""
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        return value
    return _NOTHING


class _RatingItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    module: str = Field(min_length=1, max_length=100)
    # Strict: "4", 4.5 or true is not a rating the persona gave; it is a broken answer.
    rating: int = Field(strict=True, ge=1, le=5)
    notes: str = ""

    @field_validator("notes")
    @classmethod
    def _bounded(cls, value: str) -> str:
        return value.strip()[:MAX_NOTES_CHARS]


def _snippet(text: str, limit: int = 200) -> str:
    return quote(text, limit) if text.strip() else "(empty answer)"


def _item_problem(index: int, item: Any, exc: ValidationError) -> str:
    label = f"rating #{index + 1}"
    if isinstance(item, dict) and isinstance(item.get("module"), str):
        label += f" ({item['module']})"
    details = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'item'}: {err['msg']}"
        + (f" (got {err['input']!r})" if err["loc"] and err["type"] != "missing" else "")
        for err in exc.errors()
    )
    return f"{label} unusable: {details}"


def parse_ratings(text: str, modules_used: list[str]) -> RatingOutcome:
    """Judge a rating answer. What is usable is kept, what is not is named in `problem`;
    nothing is ever filled in."""
    if len(text) > MAX_RATING_ANSWER_CHARS:
        return RatingOutcome(problem=f"rating answer too long ({len(text)} characters)")
    payload = extract_json(text)
    if payload is _NOTHING:
        return RatingOutcome(problem=f"rating answer is not JSON: {_snippet(text)}")
    if not isinstance(payload, dict) or not isinstance(payload.get("ratings"), list):
        return RatingOutcome(
            problem='rating answer has the wrong shape (expected {"ratings": [...]}): '
            + _snippet(json.dumps(payload, ensure_ascii=False))
        )
    by_folded = {m.casefold(): m for m in modules_used}
    problems: list[str] = []
    ratings: list[ModuleRating] = []
    for index, item in enumerate(payload["ratings"]):
        try:
            parsed = _RatingItem.model_validate(item)
        except ValidationError as exc:
            problems.append(_item_problem(index, item, exc))
            continue
        module = by_folded.get(parsed.module.strip().casefold(), parsed.module)
        if not parsed.notes:
            problems.append(f"rating for {module} has no notes")
        ratings.append(ModuleRating(module=module, rating=parsed.rating, notes=parsed.notes))
    outcome = checked_ratings(
        RatingOutcome(ratings=ratings, problem="; ".join(problems) or None), modules_used
    )
    if outcome.problem and outcome.ratings:
        kept = ", ".join(r.module for r in outcome.ratings)
        outcome.problem += f"; kept the ratings for {kept}"
    return outcome
