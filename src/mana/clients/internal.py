"""Client for the auth service's internal persona API (service key), with safe retries.

Answers are parsed with the server's own models (`mana.personas.contract`). Every write it
makes is idempotent on the server — tick ids and claim ids are chosen here, actions are keyed by
(tickId, seq), feedback by (tickId, module) — so retrying after a lost response adds nothing.

Two retry policies (tenacity): ordinary calls (claims, tick start, heartbeats) try a few times
and then fail, because the runner's loop tries again on its next pass. A tick's record (its
actions, ratings and finish) is retried with backoff until it lands or the runner stops; on stop
it is written to the spool (`mana.runner.spool`) and sent again when a runner next starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from mana.budget.schemas import BudgetOut, GrantRequest, UsageReport
from mana.personas.contract import (
    ClaimOut,
    DueOut,
    LeaseRenewalOut,
    PersonaProfile,
    RunnerRecoveryOut,
    TickStart,
)
from mana.runner.types import ActionRecord, ModuleRating, Observation, Usage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
ACTION_BATCH = 500
FEEDBACK_BATCH = 100
OBSERVATION_BATCH = 500
# Backoff of a tick record's retries: from `backoff_seconds`, doubling, at most this.
MAX_BACKOFF_SECONDS = 30.0


class InternalApiError(Exception):
    def __init__(self, message: str, status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        # The server's error code (`database_unavailable`, `conflict`, …) when it sent one.
        self.error = error


class SpoolLike(Protocol):
    def append(self, method: str, path: str, body: Any) -> None: ...


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, InternalApiError) and exc.status is not None and exc.status >= 500


def permanent(exc: Exception) -> bool:
    """A refusal that no retry will change (4xx other than 408/429)."""
    return (
        isinstance(exc, InternalApiError)
        and exc.status is not None
        and 400 <= exc.status < 500
        and exc.status not in (408, 429)
    )


class InternalApi:
    def __init__(
        self,
        base_url: str,
        service_key: str,
        *,
        client: httpx.AsyncClient | None = None,
        backoff_seconds: float = 0.2,
        spool: SpoolLike | None = None,
    ) -> None:
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(30.0))
        self._owns_client = client is None
        self._base = base_url.rstrip("/") + "/api/v1/internal/personas"
        self._headers = {"X-Service-Key": service_key}
        self._backoff = backoff_seconds
        self.spool = spool
        # Set when the runner stops: a tick record that has not landed goes to the spool.
        self.stopping = asyncio.Event()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _send(self, method: str, path: str, json: Any = None) -> Any:
        response = await self._client.request(
            method, self._base + path, json=json, headers=self._headers
        )
        if response.status_code >= 400:
            error = None
            try:
                answer = response.json()
                message, error = answer.get("message", response.text), answer.get("error")
            except (ValueError, AttributeError):
                message = response.text
            raise InternalApiError(
                f"{method} {path}: {response.status_code} {message}", response.status_code, error
            )
        return response.json() if response.content else None

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        method, path = state.args[0], state.args[1]
        logger.warning("internal API %s %s failed (%s); retry in %.2fs", method, path, exc, delay)

    async def _request(self, method: str, path: str, json: Any = None) -> Any:
        """Retry connection errors and 5xx with jittered exponential backoff, at most 3 tries."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(MAX_ATTEMPTS),
            wait=wait_exponential_jitter(initial=self._backoff, jitter=self._backoff),
            before_sleep=self._log_retry,
            reraise=True,
        )
        return await retrying(self._send, method, path, json)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def deliver(self, method: str, path: str, json: Any) -> None:
        """A tick record: retried with backoff until it lands or the runner stops, then
        spooled. A refusal (4xx) is raised at once: it would be refused again."""

        def stop(state: RetryCallState) -> bool:
            return self.stopping.is_set()

        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop,
            wait=wait_exponential_jitter(
                initial=self._backoff, max=MAX_BACKOFF_SECONDS, jitter=self._backoff
            ),
            sleep=self._sleep_unless_stopping,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            await retrying(self._send, method, path, json)
        except asyncio.CancelledError:
            # Cancelled while waiting to retry (a runner's shutdown or Ctrl-C): keep it.
            if self.spool is not None:
                self.spool.append(method, path, json)
                logger.warning("%s %s spooled: cancelled before it landed", method, path)
            raise
        except Exception as exc:
            if self.spool is None or not _retryable(exc):
                raise
            self.spool.append(method, path, json)
            logger.warning("%s %s spooled: the runner is stopping (%s)", method, path, exc)

    async def send_spooled(self, method: str, path: str, json: Any) -> None:
        """One spooled request, sent again (ordinary retries: the spool keeps it on failure)."""
        await self._request(method, path, json)

    async def claim(
        self, *, runner_id: str, limit: int, lease_seconds: int
    ) -> list[PersonaProfile]:
        # One id for all attempts: a retry after a lost answer returns the same set.
        body = {
            "runnerId": runner_id,
            "limit": limit,
            "leaseSeconds": lease_seconds,
            "claimId": str(uuid.uuid4()),
        }
        return ClaimOut.model_validate(await self._request("POST", "/claim", body)).personas

    async def renew_leases(
        self, *, runner_id: str, persona_ids: Sequence[uuid.UUID], lease_seconds: int
    ) -> list[uuid.UUID]:
        """The heartbeat: extend the leases of the ticks in flight; returns those renewed."""
        body = {
            "runnerId": runner_id,
            "personaIds": [str(p) for p in persona_ids],
            "leaseSeconds": lease_seconds,
        }
        answer = await self._request("POST", "/leases/renew", body)
        return LeaseRenewalOut.model_validate(answer).renewed

    async def recover(self, *, runner_id: str) -> RunnerRecoveryOut:
        """At start: close this runner id's ticks left running and release its leases."""
        answer = await self._request("POST", "/recover", {"runnerId": runner_id})
        return RunnerRecoveryOut.model_validate(answer)

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
            "claimId": str(uuid.uuid4()),
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
            await self.deliver("POST", f"/{persona_id}/actions", {"actions": batch})

    async def post_feedback(
        self, persona_id: uuid.UUID, tick_id: uuid.UUID, ratings: Sequence[ModuleRating]
    ) -> None:
        for start in range(0, len(ratings), FEEDBACK_BATCH):
            batch = [r.wire(tick_id) for r in ratings[start : start + FEEDBACK_BATCH]]
            await self.deliver("POST", f"/{persona_id}/feedback", {"feedback": batch})

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
        await self.deliver("POST", f"/{persona_id}/ticks/{tick_id}/finish", body)

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

    # --- issue 10: the persona's memory and observations ---

    async def read_memory(self, persona_id: uuid.UUID) -> dict[str, Any]:
        """`{tickId, story, …}`: the story the last tick left (an empty story at first)."""
        data = await self._request("GET", f"/{persona_id}/memory")
        return data if isinstance(data, dict) else {}

    async def write_memory(
        self,
        persona_id: uuid.UUID,
        tick_id: uuid.UUID,
        *,
        base_tick_id: uuid.UUID | None,
        story: dict[str, Any],
    ) -> None:
        """Replace the story; idempotent per tick id (a retry with the same story is a no-op)."""
        body = {
            "tickId": str(tick_id),
            "baseTickId": str(base_tick_id) if base_tick_id else None,
            "story": story,
        }
        await self.deliver("PUT", f"/{persona_id}/memory", body)

    async def post_observations(
        self, persona_id: uuid.UUID, tick_id: uuid.UUID, observations: Sequence[Observation]
    ) -> None:
        for start in range(0, len(observations), OBSERVATION_BATCH):
            batch = [
                o.wire(tick_id, start + i)
                for i, o in enumerate(observations[start : start + OBSERVATION_BATCH])
            ]
            await self.deliver("POST", f"/{persona_id}/observations", {"observations": batch})
