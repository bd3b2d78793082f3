"""Wire models of the shared LLM budget (camelCase, unknown fields refused)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import Field

from mana.kit.schemas import RequestModel, ResponseModel, Text

Usd = Annotated[float, Field(ge=0, le=1_000_000)]
RunnerId = Annotated[Text, Field(min_length=1, max_length=120)]


class ReserveRequest(RequestModel):
    reservation_id: uuid.UUID
    amount_usd: Usd
    # The runner's MANA_DAILY_BUDGET_USD; null: no limit (the reservation is only recorded).
    limit_usd: Usd | None
    runner_id: RunnerId
    # An unsettled reservation stops counting after this (its runner died mid-call).
    ttl_seconds: int = Field(default=900, ge=1, le=86_400)


class SettleRequest(RequestModel):
    reservation_id: uuid.UUID
    cost_usd: Usd
    runner_id: RunnerId


class BudgetOut(ResponseModel):
    day: date
    spent_usd: float
    committed_usd: float
    granted: bool = True
