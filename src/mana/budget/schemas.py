"""Wire models of the shared LLM budget (camelCase, unknown fields refused)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import Field

from mana.kit.schemas import RequestModel, ResponseModel, Text

Usd = Annotated[float, Field(ge=0, le=1_000_000)]
RunnerId = Annotated[Text, Field(min_length=1, max_length=120)]
# An allowance nobody reports on for this long is taken back (its runner died).
TtlSeconds = Annotated[int, Field(ge=1, le=86_400)]


class GrantRequest(RequestModel):
    allowance_id: uuid.UUID
    amount_usd: Usd
    # The runner's MANA_DAILY_BUDGET_USD; null: no limit (the spend is only recorded).
    limit_usd: Usd | None
    runner_id: RunnerId
    ttl_seconds: TtlSeconds = 900


class UsageReport(RequestModel):
    allowance_id: uuid.UUID
    # Used of this allowance so far (a running total, not an increment).
    used_usd: Usd
    final: bool = False
    runner_id: RunnerId
    ttl_seconds: TtlSeconds = 900


class BudgetOut(ResponseModel):
    day: date
    spent_usd: float
    committed_usd: float
    # Answers to a grant: how much of the request was granted (0: the day's budget is used up).
    granted_usd: float | None = None
