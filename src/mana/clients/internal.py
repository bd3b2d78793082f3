"""Client for the auth service's internal persona API (service key), with safe retries.

Answers are parsed with the server's own models (`mana.personas.contract`). Every write it
makes is idempotent on the server — tick ids are chosen here, actions are keyed by
(tickId, seq), feedback by (tickId, module) — so retrying after a lost response adds nothing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from mana.budget.schemas import BudgetOut, GrantRequest, UsageReport
from mana.personas.contract import ClaimOut, DueOut, PersonaProfile, TickStart
from mana.runner.types import ActionRecord, ModuleRating, Usage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
ACTION_BATCH = 500
FEEDBACK_BATCH = 100


class InternalApiError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, InternalApiError) and exc.status is not None and exc.status >= 500


class InternalApi:
    def __init__(
        self,
        base_url: str,
        service_key: str,
        *,
        client: httpx.AsyncClient | None = None,
        backoff_seconds: float = 0.2,
    ) -> None:
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(30.0))
        self._owns_client = client is None
        self._base = base_url.rstrip("/") + "/api/v1/internal/personas"
        self._headers = {"X-Service-Key": service_key}
        self._backoff = backoff_seconds

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _request(self, method: str, path: str, json: Any = None) -> Any:
        """Retry connection errors and 5xx with jittered exponential backoff, at most 3 tries."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = await self._client.request(
                    method, self._base + path, json=json, headers=self._headers
                )
                if response.status_code >= 400:
                    try:
                        message = response.json().get("message", response.text)
                    except ValueError:
                        message = response.text
                    raise InternalApiError(
                        f"{method} {path}: {response.status_code} {message}", response.status_code
                    )
                return response.json() if response.content else None
            except (httpx.TransportError, InternalApiError) as exc:
                if attempt == MAX_ATTEMPTS or not _retryable(exc):
                    raise
                delay = self._backoff * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
                logger.warning(
                    "internal API %s %s failed (%s); retry in %.2fs", method, path, exc, delay
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def claim(
        self, *, runner_id: str, limit: int, lease_seconds: int
    ) -> list[PersonaProfile]:
        body = {"runnerId": runner_id, "limit": limit, "leaseSeconds": lease_seconds}
        return ClaimOut.model_validate(await self._request("POST", "/claim", body)).personas

    async def claim_one(
        self, *, email: str, runner_id: str, lease_seconds: int
    ) -> PersonaProfile | None:
        """Lease one persona by email whether it is due or not (still never one that another
        runner holds). None when no such persona exists."""
        body = {
            "runnerId": runner_id,
            "limit": 1,
            "leaseSeconds": lease_seconds,
            "email": email,
        }
        claimed = ClaimOut.model_validate(await self._request("POST", "/claim", body)).personas
        return claimed[0] if claimed else None

    async def due(self) -> list[PersonaProfile]:
        return DueOut.model_validate(await self._request("GET", "/due")).personas

    async def start_tick(
        self,
        persona_id: uuid.UUID,
        *,
        tick_id: uuid.UUID,
        runner_id: str,
        brain: str,
        space_id: uuid.UUID | None,
        started_at: datetime | None = None,
    ) -> None:
        # `started_at`: a simulated tick, which the server dates on that time.
        body = TickStart(
            tick_id=tick_id,
            runner_id=runner_id,
            brain=brain,
            space_id=space_id,
            started_at=started_at,
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        await self._request("POST", f"/{persona_id}/ticks", body)

    async def post_actions(
        self, persona_id: uuid.UUID, tick_id: uuid.UUID, actions: Sequence[ActionRecord]
    ) -> None:
        for start in range(0, len(actions), ACTION_BATCH):
            batch = [a.wire(tick_id) for a in actions[start : start + ACTION_BATCH]]
            await self._request("POST", f"/{persona_id}/actions", {"actions": batch})

    async def post_feedback(
        self, persona_id: uuid.UUID, tick_id: uuid.UUID, ratings: Sequence[ModuleRating]
    ) -> None:
        for start in range(0, len(ratings), FEEDBACK_BATCH):
            batch = [r.wire(tick_id) for r in ratings[start : start + FEEDBACK_BATCH]]
            await self._request("POST", f"/{persona_id}/feedback", {"feedback": batch})

    async def finish_tick(
        self,
        persona_id: uuid.UUID,
        tick_id: uuid.UUID,
        *,
        status: str,
        tool_calls: int,
        errors: int,
        summary: str,
        usage: Usage,
        error_message: str | None,
    ) -> None:
        body = {
            "status": status,
            "toolCalls": tool_calls,
            "errors": errors,
            "summary": summary[:2000],
            "usage": usage.wire(),
            "errorMessage": error_message[:2000] if error_message else None,
        }
        await self._request("POST", f"/{persona_id}/ticks/{tick_id}/finish", body)

    # --- the shared daily LLM budget (issue 13): allowances from the auth service's ledger ---

    async def llm_budget_today(self) -> BudgetOut:
        return BudgetOut.model_validate(await self._request("GET", "/llm-budget"))

    async def grant_llm_allowance(
        self,
        *,
        allowance_id: uuid.UUID,
        amount_usd: float,
        limit_usd: float | None,
        runner_id: str,
        ttl_seconds: int,
    ) -> BudgetOut:
        """Ask for up to `amount_usd` of today's budget; `granted_usd` says how much it got."""
        body = GrantRequest(
            allowance_id=allowance_id,
            amount_usd=amount_usd,
            limit_usd=limit_usd,
            runner_id=runner_id,
            ttl_seconds=ttl_seconds,
        ).model_dump(mode="json", by_alias=True)
        return BudgetOut.model_validate(await self._request("POST", "/llm-budget/allowances", body))

    async def report_llm_use(
        self,
        *,
        allowance_id: uuid.UUID,
        used_usd: float,
        final: bool,
        runner_id: str,
        ttl_seconds: int,
    ) -> BudgetOut:
        """Report the allowance's use so far (a running total: retries are harmless)."""
        body = UsageReport(
            allowance_id=allowance_id,
            used_usd=used_usd,
            final=final,
            runner_id=runner_id,
            ttl_seconds=ttl_seconds,
        ).model_dump(mode="json", by_alias=True)
        return BudgetOut.model_validate(await self._request("POST", "/llm-budget/usage", body))
