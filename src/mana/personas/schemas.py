"""Request and response bodies of the admin persona API and the runner's internal API.

Every rule that can be checked on the body alone is checked here, so one 422 names every bad
field at once (`moduleMix.todo`, `actions[3].seq`). The persona email domain is a setting: the
admin route passes it in the validation context (`EMAIL_DOMAIN`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AwareDatetime, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from mana.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from mana.kit.schemas import RequestModel, ResponseModel, Text

EMAIL_DOMAIN = "email_domain"
"""Validation-context key: the domain persona emails must use (`Settings.persona_email_domain`)."""

MAX_ACTIONS_PER_BATCH = 500
MAX_FEEDBACK_PER_BATCH = 100
MAX_INT32 = 2**31 - 1
# How far from the server's clock a simulated tick may start (`TickStart.startedAt`, `mana
# simulate`): a year of history either way; beyond that a date is likelier a mistake than a plan.
MAX_SIMULATED_OFFSET = timedelta(days=400)

TickCadence = Literal["daily", "weekdays", "hourly"]
FinishedStatus = Literal["ok", "error", "timeout"]

Slug = Annotated[Text, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
"""Archetypes and module names: lower-case letters, digits, '-' and '_'."""
# strict: `true` or `"1"` as a weight is a mistake to report, not something to coerce.
Weight = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=MAX_INT32)]
RunnerId = Annotated[Text, Field(min_length=1, max_length=120)]
LongText = Annotated[Text, Field(max_length=10_000)]


# --- admin API ---------------------------------------------------------------------------


class PersonaUpsert(RequestModel):
    email: Annotated[Text, Field(min_length=3, max_length=320)]
    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    password: Annotated[Text, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
    archetype: Slug
    system_prompt: Annotated[Text, Field(min_length=20, max_length=20_000)]
    module_mix: Annotated[dict[Slug, Weight], Field(min_length=1, max_length=100)]
    tick_cadence: TickCadence = "daily"

    @field_validator("email")
    @classmethod
    def _persona_email(cls, value: str, info: ValidationInfo) -> str:
        try:
            # test_environment: `.test` is a special-use TLD that email-validator refuses by
            # default; it is exactly the TLD personas use (no mail can ever be delivered).
            validate_email(value, check_deliverability=False, test_environment=True)
        except EmailNotValidError as exc:
            raise PydanticCustomError(
                "email", "is not a valid email address: {reason}", {"reason": str(exc)}
            ) from None
        domain = (info.context or {}).get(EMAIL_DOMAIN)
        if domain and not value.strip().lower().endswith("@" + domain.lower()):
            raise PydanticCustomError(
                "email_domain", "persona emails must end with @{domain}", {"domain": domain}
            )
        return value

    @field_validator("module_mix")
    @classmethod
    def _positive_sum(cls, value: dict[str, float]) -> dict[str, float]:
        # An empty mix is refused by min_length; an all-zero one leaves a runner nothing to draw.
        if value and sum(value.values()) <= 0:
            raise PydanticCustomError("zero_sum", "weights must add up to more than 0")
        return value


class PersonaUpsertOut(ResponseModel):
    ok: bool = True
    user_id: uuid.UUID
    email: str
    created: bool


class PersonaListItem(ResponseModel):
    user_id: uuid.UUID
    email: str
    name: str | None
    archetype: str
    tick_cadence: str
    last_active_at: datetime | None
    created_at: datetime
    # Explicit: the camelCase generator would write `actions7D`.
    actions7d: int = Field(alias="actions7d")
    avg_rating7d: float | None = Field(alias="avgRating7d")


class PersonaOut(ResponseModel):
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


class ActionOut(ResponseModel):
    id: int
    tick_id: uuid.UUID
    seq: int
    tool_name: str
    input_hash: str
    result: str
    error_message: str | None
    latency_ms: int
    created_at: datetime


class TickOut(ResponseModel):
    tick_id: uuid.UUID
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


class ModuleFeedbackOut(ResponseModel):
    module: str
    avg_rating: float
    count: int
    last_rating: int
    last_at: datetime


class PersonaDetailOut(ResponseModel):
    persona: PersonaOut
    recent_actions: list[ActionOut]
    recent_ticks: list[TickOut]
    feedback_by_module: list[ModuleFeedbackOut]


class PersonaDeletedOut(ResponseModel):
    ok: bool = True
    user_id: uuid.UUID
    email: str
    orphaned_spaces_deleted: int


# --- internal (runner) API -----------------------------------------------------------------


class ClaimRequest(RequestModel):
    runner_id: RunnerId
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    lease_seconds: Annotated[int, Field(ge=10, le=24 * 3600)] = 900
    # Claim this one persona whether it is due or not (an operator's `runner tick --persona`);
    # a lease held by another runner is still respected.
    email: Annotated[Text, Field(min_length=3, max_length=320)] | None = None


class PersonaSpaceOut(ResponseModel):
    id: uuid.UUID
    name: str
    type: str
    role: str


class DuePersonaOut(ResponseModel):
    user_id: uuid.UUID
    email: str
    name: str | None
    archetype: str
    system_prompt: str
    module_mix: dict[str, float]
    tick_cadence: str
    last_active_at: datetime | None
    leased_until: datetime | None
    leased_by: str | None
    spaces: list[PersonaSpaceOut]


class ClaimOut(ResponseModel):
    personas: list[DuePersonaOut]


class DueOut(ResponseModel):
    now: datetime
    personas: list[DuePersonaOut]


class TickStart(RequestModel):
    # Client-chosen, so a start retried after a lost response finds its own row again.
    tick_id: uuid.UUID | None = None
    runner_id: RunnerId
    brain: Annotated[Text, Field(min_length=1, max_length=64)]
    space_id: uuid.UUID | None = None
    # `mana simulate`: the tick happens at this (simulated) time, within 400 days of the
    # server's clock; all it writes is then dated on that day. Omitted: the server's time.
    started_at: AwareDatetime | None = None


class Usage(RequestModel):
    """What a tick cost. `tokens` and `cost` are the headline figures; the breakdown fields are
    optional so a runner can send what its brain reports. Stored as sent (camelCase)."""

    tokens: Count | None = None
    cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cost_usd: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    model_calls: Count | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class TickFinish(RequestModel):
    status: FinishedStatus
    tool_calls: Count = 0
    errors: Count = 0
    summary: LongText | None = None
    usage: Usage | None = None
    error_message: LongText | None = None


class TickStateOut(ResponseModel):
    tick_id: uuid.UUID
    persona_id: uuid.UUID
    status: str
    started_at: datetime
    finished_at: datetime | None


class ActionIn(RequestModel):
    tick_id: uuid.UUID
    seq: Count
    tool_name: Annotated[Text, Field(min_length=1, max_length=120)]
    # A hash, never the raw input: tool inputs can carry personal data (DESIGN §5).
    input_hash: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
    result: Literal["ok", "error"]
    error_message: LongText | None = None
    latency_ms: Count
    created_at: AwareDatetime | None = None


class ActionBatch(RequestModel):
    actions: Annotated[list[ActionIn], Field(max_length=MAX_ACTIONS_PER_BATCH)]


class FeedbackIn(RequestModel):
    tick_id: uuid.UUID
    module: Slug
    rating: Annotated[int, Field(ge=1, le=5)]
    notes: Annotated[Text, Field(max_length=5000)] | None = None


class FeedbackBatch(RequestModel):
    feedback: Annotated[list[FeedbackIn], Field(max_length=MAX_FEEDBACK_PER_BATCH)]


class IngestOut(ResponseModel):
    ok: bool = True
    inserted: int
    duplicates: int
