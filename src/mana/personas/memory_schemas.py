"""Wire shapes of a persona's memory (its story) and of its observations (issue 10).

The limits here are the memory's bounds, enforced on every write: a story holds at most
`MAX_ITEMS` remembered items and `MAX_DAYS` day lines; the runner ages facts out after
`MEMORY_DAYS` days (see `mana.runner.memory`) so that a story stays well inside them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, Field

from mana.kit.schemas import RequestModel, ResponseModel, Text
from mana.personas.schemas import MAX_INT32, PersonaDetailOut, Slug

MAX_ITEMS = 300
MAX_DAYS = 30
MEMORY_DAYS = 30
MAX_EXPECTED_FIELDS = 12
MAX_OBSERVATIONS_PER_BATCH = 500
RECENT_OBSERVATIONS = 30

ShortText = Annotated[Text, Field(max_length=300)]
Scalar = str | int | float | bool | None
Kind = Annotated[
    str,
    Field(
        pattern=r"^(missing|changed|not_applied|unexpected_item|unclear_error|error|slow)$",
        description="missing, changed, not_applied, unexpected_item, unclear_error, error, slow",
    ),
]


class RememberedItem(RequestModel):
    """Something the persona created or changed, and how it expects to find it later."""

    module: Slug
    item_id: Annotated[Text, Field(min_length=1, max_length=120)]
    space_id: uuid.UUID | None = None
    label: ShortText = ""
    tool: Annotated[Text, Field(max_length=120)] = ""
    # Field -> value as the persona left it ("done": true, "title": "Buy milk").
    expect: Annotated[
        dict[Annotated[Text, Field(max_length=64)], Scalar], Field(max_length=MAX_EXPECTED_FIELDS)
    ] = Field(default_factory=dict)
    created_at: AwareDatetime | None = None
    touched_at: AwareDatetime


class DayLine(RequestModel):
    day: Annotated[Text, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    text: Annotated[Text, Field(max_length=500)]


class Story(RequestModel):
    """The story so far. `known_since`: items in the personal space created after this moment
    and not remembered are strangers' (before it the persona cannot know)."""

    known_since: AwareDatetime | None = None
    items: Annotated[list[RememberedItem], Field(max_length=MAX_ITEMS)] = Field(
        default_factory=list
    )
    days: Annotated[list[DayLine], Field(max_length=MAX_DAYS)] = Field(default_factory=list)


class MemoryWrite(RequestModel):
    tick_id: uuid.UUID
    # The tick whose story this one continues (null for the first story): a writer that read
    # an older version than the stored one is refused (409) instead of overwriting it.
    base_tick_id: uuid.UUID | None = None
    story: Story


class MemoryOut(ResponseModel):
    persona_id: uuid.UUID
    tick_id: uuid.UUID | None
    updated_at: datetime | None
    story: dict[str, Any]


class MemoryWriteOut(ResponseModel):
    ok: bool = True
    tick_id: uuid.UUID
    changed: bool


class ObservationIn(RequestModel):
    tick_id: uuid.UUID
    seq: Annotated[int, Field(ge=0, le=MAX_INT32)]
    kind: Kind
    module: Slug
    tool_name: Annotated[Text, Field(min_length=1, max_length=120)] | None = None
    action_seq: Annotated[int, Field(ge=0, le=MAX_INT32)] | None = None
    item_id: Annotated[Text, Field(min_length=1, max_length=120)] | None = None
    evidence: Annotated[Text, Field(min_length=1, max_length=2000)]


class ObservationBatch(RequestModel):
    observations: Annotated[list[ObservationIn], Field(max_length=MAX_OBSERVATIONS_PER_BATCH)]


class ObservationOut(ResponseModel):
    tick_id: uuid.UUID
    seq: int
    kind: str
    module: str
    tool_name: str | None
    action_seq: int | None
    item_id: str | None
    evidence: str
    created_at: datetime


class PersonaMemoryOut(ResponseModel):
    """The admin view: the story and the newest observations."""

    persona_id: uuid.UUID
    tick_id: uuid.UUID | None
    updated_at: datetime | None
    story: dict[str, Any]
    recent_observations: list[ObservationOut]


class ForgetOut(ResponseModel):
    ok: bool = True
    persona_id: uuid.UUID
    forgotten: bool


class PersonaDetailWithMemory(PersonaDetailOut):
    """The admin persona detail with the persona's story and newest observations."""

    story: dict[str, Any] = Field(default_factory=dict)
    recent_observations: list[ObservationOut] = Field(default_factory=list)
