"""The persona wire contract: one rule per field, and every request and response body.

The admin routes, the internal (runner) routes, the catalog loader, the HTTP clients in
`mana.clients` and the runner all import their field types and models from here, so "a valid
persona" means one thing everywhere: a catalog the loader accepts is accepted by the API, and a
client parses an answer with the very model the server rendered it from.

Field rules that depend on a setting (the persona email domain) read it from the validation
context under `EMAIL_DOMAIN`; without a context the default domain applies.

Request models forbid unknown fields; response models ignore them when a client parses them,
so a newer server with more fields never breaks an older client.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, AliasChoices, AwareDatetime, ConfigDict, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from mana.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from mana.kit.schemas import RequestModel, ResponseModel, Text

EMAIL_DOMAIN = "email_domain"
"""Validation-context key: the domain persona emails must use (`Settings.persona_email_domain`)."""
DEFAULT_EMAIL_DOMAIN = "mana.test"

MAX_ACTIONS_PER_BATCH = 500
MAX_FEEDBACK_PER_BATCH = 100
MAX_MODULES_PER_MIX = 50
MAX_INT32 = 2**31 - 1
# How far from the server's clock a simulated tick may start (`TickStart.startedAt`, `mana
# simulate`): a year of history either way; beyond that a date is likelier a mistake than a plan.
MAX_SIMULATED_OFFSET = timedelta(days=400)

TickCadence = Literal["daily", "weekdays", "hourly"]
# `unavailable`: a service the tick needs (auth, MCP, database) was unreachable; the tick does
# not count as the persona's day. (`abandoned` is the server's own, never sent by a runner.)
FinishedStatus = Literal["ok", "error", "timeout", "unavailable"]
ActionResult = Literal["ok", "error"]

# --- field rules ------------------------------------------------------------------------------

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
MODULE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
INPUT_HASH_PATTERN = r"^[0-9a-fA-F]{16,64}$"


def _matching(pattern: str, error: str, rule: str) -> AfterValidator:
    """A pattern check whose message says the rule in words instead of a regular expression."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError(error, rule + " (got {value})", {"value": repr(value)})
        return value

    return AfterValidator(check)


# The pattern goes to the JSON Schema (editors, OpenAPI) as well.
Slug = Annotated[
    Text,
    Field(min_length=1, max_length=64, json_schema_extra={"pattern": SLUG_PATTERN}),
    _matching(
        SLUG_PATTERN,
        "slug",
        "must be a slug of a-z, 0-9, '-' and '_' that starts with a letter or digit",
    ),
]
"""An archetype: `solo-dev`, `night_owl`; not `-solo`, not `Solo Dev`."""

ModuleName = Annotated[
    Text,
    Field(min_length=1, max_length=64, json_schema_extra={"pattern": MODULE_PATTERN}),
    _matching(
        MODULE_PATTERN,
        "module_name",
        "must be a module name of letters, digits, '-' and '_' that starts with a letter or digit",
    ),
]
"""A product module as the catalog and the ratings name it: `todo`, `newsResearch`. A module
the product does not offer (yet) is valid here; the brain spends its weight elsewhere."""

# strict: `true` or `"1"` as a weight is a mistake to report, not something to coerce; NaN and
# inf would make the weighted draw of modules meaningless.
Weight = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]


def _positive_total(value: dict[str, float]) -> dict[str, float]:
    # An empty mix is refused by min_length; an all-zero one leaves a runner nothing to draw.
    if value and sum(value.values()) <= 0:
        raise PydanticCustomError("zero_sum", "weights must add up to more than 0")
    return value


ModuleMix = Annotated[
    dict[ModuleName, Weight],
    Field(min_length=1, max_length=MAX_MODULES_PER_MIX),
    AfterValidator(_positive_total),
]
"""Module → relative weight of the persona's attention."""


def _persona_email(value: str, info: ValidationInfo) -> str:
    try:
        # test_environment: `.test` is a special-use TLD that email-validator refuses by
        # default; it is exactly the TLD personas use (no mail can ever be delivered).
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "email", "is not a valid email address: {reason}", {"reason": str(exc)}
        ) from None
    domain = str((info.context or {}).get(EMAIL_DOMAIN) or DEFAULT_EMAIL_DOMAIN)
    if not value.strip().lower().endswith("@" + domain.lower()):
        raise PydanticCustomError("email_domain", "must end with @{domain}", {"domain": domain})
    return value


PersonaEmail = Annotated[
    Text,
    Field(
        min_length=3,
        max_length=254,
        description="Must end with the persona domain (@mana.test by default): a reserved "
        "TLD, so no mail ever bounces.",
        json_schema_extra={"format": "email"},
    ),
    AfterValidator(_persona_email),
]

PersonaName = Annotated[Text, Field(min_length=1, max_length=200)]
SystemPrompt = Annotated[
    Text,
    Field(min_length=20, max_length=20_000, description="Role-play prompt for LLM brains."),
]
InputHash = Annotated[
    str,
    Field(
        pattern=INPUT_HASH_PATTERN,
        description="A hex digest of the tool input, or a prefix of one (16 to 64 digits).",
    ),
]
"""A hash, never the raw input: tool inputs can carry personal data (DESIGN §5)."""

Count = Annotated[int, Field(ge=0, le=MAX_INT32)]
RunnerId = Annotated[Text, Field(min_length=1, max_length=120)]
LongText = Annotated[Text, Field(max_length=10_000)]
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class ClientModel(ResponseModel):
    """A response body. Clients parse with these same classes; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")


# --- admin API: requests ----------------------------------------------------------------------


class PersonaUpsert(RequestModel):
    email: PersonaEmail
    name: PersonaName | None = None
    password: Annotated[Text, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
    archetype: Slug
    system_prompt: SystemPrompt
    module_mix: ModuleMix
    tick_cadence: TickCadence = "daily"


# --- admin API: responses ---------------------------------------------------------------------


class PersonaUpserted(ClientModel):
    ok: bool = True
    user_id: uuid.UUID
    email: str
    created: bool


class PersonaListItem(ClientModel):
    user_id: uuid.UUID
    email: str
    name: str | None
    archetype: str
    tick_cadence: str
    last_active_at: datetime | None
    created_at: datetime
    # Explicit: the camelCase generator would write `actions7D`.
    actions_7d: int = Field(alias="actions7d")
    avg_rating_7d: float | None = Field(alias="avgRating7d")


class PersonaList(ClientModel):
    """One page of personas. `personas` is the original system's key (its clients read it);
    `items` is this API's page shape (`{items, nextCursor}`) and carries the same list."""

    personas: list[PersonaListItem]
    items: list[PersonaListItem]
    next_cursor: str | None


class PersonaOut(ClientModel):
    user_id: uuid.UUID
    email: str
    name: str | None
    kind: str
    tier: str
    email_verified: bool
    archetype: str
    system_prompt: str
    module_mix: dict[str, float]
    tick_cadence: str
    last_active_at: datetime | None
    leased_until: datetime | None
    leased_by: str | None
    created_at: datetime
    updated_at: datetime


class ActionOut(ClientModel):
    id: int
    tick_id: uuid.UUID
    seq: int
    tool_name: str
    input_hash: str
    result: str
    error_message: str | None
    latency_ms: int
    created_at: datetime


class TickOut(ClientModel):
    # `tick_id` is the row's `id`: read from a PersonaTick with `TickOut.model_validate(tick)`.
    tick_id: uuid.UUID = Field(validation_alias=AliasChoices("tick_id", "tickId", "id"))
    runner_id: str
    brain: str
    space_id: uuid.UUID | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    tool_calls: int
    errors: int
    summary: str | None
    usage: dict[str, Any] | None
    error_message: str | None


class ModuleFeedbackOut(ClientModel):
    module: str
    avg_rating: float
    count: int
    last_rating: int
    last_at: datetime


# --- memory (the story so far) and observations (issue 10) ----------------------------------
# The limits are the memory's bounds, enforced on every write: a story holds at most `MAX_ITEMS`
# remembered items and `MAX_DAYS` day lines; the runner ages facts out after `MEMORY_DAYS` days
# (see `mana.runner.memory`) so that a story stays well inside them.

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

    module: ModuleName
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
    module: ModuleName
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


class PersonaDetailOut(ClientModel):
    persona: PersonaOut
    recent_actions: list[ActionOut]
    recent_ticks: list[TickOut]
    feedback_by_module: list[ModuleFeedbackOut]
    # issue 10: the story so far and the newest observations.
    story: Story = Field(default_factory=Story)
    recent_observations: list[ObservationOut] = Field(default_factory=list)


class PersonaDeleted(ClientModel):
    """`{ok, deleted}` as the original answered (`deleted`: the deleted user's id), plus what
    this API adds."""

    ok: bool = True
    deleted: uuid.UUID
    user_id: uuid.UUID
    email: str
    orphaned_spaces_deleted: int


# --- internal (runner) API: requests ----------------------------------------------------------


class ClaimRequest(RequestModel):
    runner_id: RunnerId
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    lease_seconds: Annotated[int, Field(ge=10, le=24 * 3600)] = 900
    # Claim this one persona whether it is due or not (an operator's `runner tick --persona`);
    # a lease held by another runner is still respected.
    email: Annotated[Text, Field(min_length=3, max_length=320)] | None = None
    # Client-chosen: the same id again (a retry after a lost answer) returns the set that
    # claim leased instead of leasing another one.
    claim_id: uuid.UUID | None = None


class LeaseRenewal(RequestModel):
    """A runner's heartbeat: extend its leases on these personas (ticks still in flight)."""

    runner_id: RunnerId
    persona_ids: Annotated[list[uuid.UUID], Field(max_length=1000)]
    lease_seconds: Annotated[int, Field(ge=10, le=24 * 3600)]


class RunnerRecovery(RequestModel):
    """A (re)starting runner: close its ticks still `running` and release its leases."""

    runner_id: RunnerId


class TickStart(RequestModel):
    # Client-chosen, so a start retried after a lost response finds its own row again.
    tick_id: uuid.UUID | None = None
    runner_id: RunnerId
    brain: Annotated[Text, Field(min_length=1, max_length=64)]
    space_id: uuid.UUID | None = None
    # `mana simulate`: the tick happens at this (simulated) time, within 400 days of the
    # server's clock; all it writes is then dated on that day. Omitted: the server's time.
    started_at: AwareDatetime | None = None


class TickUsage(RequestModel):
    """What a tick cost. `tokens` and `cost` are the headline figures; the breakdown fields are
    optional so a runner can send what its brain reports. Stored as sent (camelCase)."""

    tokens: Count | None = None
    cost: Money | None = None
    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cost_usd: Money | None = None
    model_calls: Count | None = None
    # Of input_tokens, how many were written to / read from the provider's prompt cache.
    cache_write_tokens: Count | None = None
    cache_read_tokens: Count | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class TickFinish(RequestModel):
    status: FinishedStatus
    tool_calls: Count = 0
    errors: Count = 0
    summary: LongText | None = None
    usage: TickUsage | None = None
    error_message: LongText | None = None


class ActionIn(RequestModel):
    tick_id: uuid.UUID
    seq: Count
    tool_name: Annotated[Text, Field(min_length=1, max_length=120)]
    input_hash: InputHash
    result: ActionResult
    error_message: LongText | None = None
    latency_ms: Count
    created_at: AwareDatetime | None = None


class ActionBatch(RequestModel):
    actions: Annotated[list[ActionIn], Field(max_length=MAX_ACTIONS_PER_BATCH)]


class FeedbackIn(RequestModel):
    tick_id: uuid.UUID
    module: ModuleName
    rating: Annotated[int, Field(ge=1, le=5)]
    notes: Annotated[Text, Field(max_length=5000)] | None = None


class FeedbackBatch(RequestModel):
    feedback: Annotated[list[FeedbackIn], Field(max_length=MAX_FEEDBACK_PER_BATCH)]


# --- internal (runner) API: responses ---------------------------------------------------------


class PersonaSpace(ClientModel):
    id: uuid.UUID
    name: str
    type: str
    role: str = "member"


class PersonaProfile(ClientModel):
    """One persona as a claim hands it to a runner: all a runner needs to play it."""

    user_id: uuid.UUID
    email: str
    name: str | None = None
    archetype: str
    system_prompt: str
    module_mix: dict[str, float]
    tick_cadence: str = "daily"
    last_active_at: datetime | None = None
    leased_until: datetime | None = None
    leased_by: str | None = None
    spaces: list[PersonaSpace] = Field(default_factory=list)

    @property
    def personal_space(self) -> PersonaSpace | None:
        return next((s for s in self.spaces if s.type == "personal"), None)

    @property
    def shared_spaces(self) -> list[PersonaSpace]:
        return [s for s in self.spaces if s.type != "personal"]


class ClaimOut(ClientModel):
    personas: list[PersonaProfile]


class DueOut(ClientModel):
    now: datetime
    personas: list[PersonaProfile]


class TickStateOut(ClientModel):
    tick_id: uuid.UUID
    persona_id: uuid.UUID
    status: str
    started_at: datetime
    finished_at: datetime | None


class LeaseRenewalOut(ClientModel):
    # The personas whose lease was extended; one missing is no longer this runner's.
    renewed: list[uuid.UUID]


class RunnerRecoveryOut(ClientModel):
    abandoned_ticks: int
    released_personas: int


class IngestOut(ClientModel):
    ok: bool = True
    inserted: int
    duplicates: int


# --- one tick with everything it left (admin tick detail, the dashboard's Tick page) --------


class FeedbackOut(ClientModel):
    module: str
    rating: int
    notes: str | None
    created_at: datetime


class TickPersonaOut(ClientModel):
    user_id: uuid.UUID
    email: str
    name: str | None


class TickDetailOut(ClientModel):
    tick: TickOut
    persona: TickPersonaOut
    actions: list[ActionOut]
    feedback: list[FeedbackOut]
    # `actionSeq` of each observation is the `seq` of the call that showed it.
    observations: list[ObservationOut]
