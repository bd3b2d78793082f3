"""The runner's internal API (`/api/v1/internal/personas`), guarded by the service key.

Claim due personas (leased, so two runners never share one), record tick start/finish, and
post tool-call audit rows and ratings in batches. Every write is idempotent, so a runner can
retry anything after a timeout without double-counting.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from mana.auth.deps import AppClock, DbSession, ServiceCaller
from mana.findings.delivery import EvaluateAlertsAfterResponse
from mana.personas import ingest, leasing
from mana.personas.contract import (
    ActionBatch,
    ClaimOut,
    ClaimRequest,
    DueOut,
    FeedbackBatch,
    IngestOut,
    LeaseRenewal,
    LeaseRenewalOut,
    PersonaProfile,
    RunnerRecovery,
    RunnerRecoveryOut,
    TickFinish,
    TickStart,
    TickStateOut,
)
from mana.personas.models import PersonaTick

router = APIRouter(prefix="/api/v1/internal/personas", tags=["internal"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid X-Service-Key"},
    404: {"description": "No such persona or tick"},
    409: {"description": "A retry whose content differs from what is stored"},
    422: {"description": "Invalid input (names the row index and field)"},
}


def _due_out(due: leasing.DuePersona) -> PersonaProfile:
    persona, user = due.persona, due.user
    return PersonaProfile(
        user_id=user.id,
        email=user.email,
        name=user.name,
        archetype=persona.archetype,
        system_prompt=persona.system_prompt,
        module_mix=persona.module_mix,
        tick_cadence=persona.tick_cadence,
        last_active_at=persona.last_active_at,
        leased_until=persona.leased_until,
        leased_by=persona.leased_by,
        spaces=due.spaces,
    )


def _tick_out(tick: PersonaTick) -> TickStateOut:
    return TickStateOut(
        tick_id=tick.id,
        persona_id=tick.persona_id,
        status=tick.status,
        started_at=tick.started_at,
        finished_at=tick.finished_at,
    )


@router.post("/claim", response_model=ClaimOut, responses=_ERRORS)
async def claim(
    _service: ServiceCaller, body: ClaimRequest, session: DbSession, clock: AppClock
) -> ClaimOut:
    """Lease up to `limit` due personas to `runnerId` for `leaseSeconds`. The same `claimId`
    again returns the set that claim leased (a retry after a lost answer). Ticks whose lease is
    gone are closed `abandoned` first."""
    claimed = await leasing.claim_personas(
        session,
        runner_id=body.runner_id,
        limit=body.limit,
        lease=timedelta(seconds=body.lease_seconds),
        now=clock.now(),
        email=body.email,
        claim_id=body.claim_id,
    )
    return ClaimOut(personas=[_due_out(d) for d in claimed])


@router.post("/leases/renew", response_model=LeaseRenewalOut, responses=_ERRORS)
async def renew_leases(
    _service: ServiceCaller, body: LeaseRenewal, session: DbSession, clock: AppClock
) -> LeaseRenewalOut:
    """A runner's heartbeat: extend its leases on the personas whose ticks are in flight."""
    renewed = await leasing.renew_leases(
        session,
        runner_id=body.runner_id,
        persona_ids=body.persona_ids,
        lease=timedelta(seconds=body.lease_seconds),
        now=clock.now(),
    )
    return LeaseRenewalOut(renewed=renewed)


@router.post("/recover", response_model=RunnerRecoveryOut, responses=_ERRORS)
async def recover(
    _service: ServiceCaller, body: RunnerRecovery, session: DbSession, clock: AppClock
) -> RunnerRecoveryOut:
    """A runner starting under `runnerId`: close its ticks still `running` as `abandoned` and
    release its leases, so its personas tick again now."""
    recovery = await leasing.recover_runner(session, runner_id=body.runner_id, now=clock.now())
    return RunnerRecoveryOut(
        abandoned_ticks=recovery.abandoned_ticks, released_personas=recovery.released_personas
    )


@router.get("/due", response_model=DueOut, responses=_ERRORS)
async def due(
    _service: ServiceCaller,
    session: DbSession,
    clock: AppClock,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DueOut:
    """What a claim would hand out now — read-only, for operators."""
    now = clock.now()
    personas = await leasing.due_personas(session, now=now, limit=limit)
    return DueOut(now=now, personas=[_due_out(d) for d in personas])


@router.post(
    "/{persona_id}/ticks",
    status_code=201,
    response_model=TickStateOut,
    responses={**_ERRORS, 200: {"description": "This tick id was already started: the same tick"}},
)
async def start_tick(
    persona_id: uuid.UUID,
    _service: ServiceCaller,
    body: TickStart,
    session: DbSession,
    clock: AppClock,
    response: Response,
) -> TickStateOut:
    tick, created = await ingest.start_tick(
        session,
        persona_id=persona_id,
        tick_id=body.tick_id,
        runner_id=body.runner_id,
        brain=body.brain,
        space_id=body.space_id,
        now=clock.now(),
        started_at=body.started_at,  # a simulated tick (`mana simulate`), dated on that time
    )
    if not created:
        response.status_code = 200
    return _tick_out(tick)


@router.post("/{persona_id}/ticks/{tick_id}/finish", response_model=TickStateOut, responses=_ERRORS)
async def finish_tick(
    persona_id: uuid.UUID,
    tick_id: uuid.UUID,
    _service: ServiceCaller,
    body: TickFinish,
    session: DbSession,
    clock: AppClock,
    alerts: EvaluateAlertsAfterResponse,
) -> TickStateOut:
    """Close the tick, mark the persona active now, release its lease. Idempotent."""
    tick, _changed = await ingest.finish_tick(
        session,
        persona_id=persona_id,
        tick_id=tick_id,
        status=body.status,
        tool_calls=body.tool_calls,
        errors=body.errors,
        summary=body.summary,
        usage=body.usage,
        error_message=body.error_message,
        now=clock.now(),
    )
    if tick.clock_offset_ms is not None:  # a simulated tick: alerts as of its (simulated) time
        alerts.as_of = tick.finished_at
    return _tick_out(tick)


@router.post("/{persona_id}/actions", response_model=IngestOut, responses=_ERRORS)
async def post_actions(
    persona_id: uuid.UUID,
    _service: ServiceCaller,
    body: ActionBatch,
    session: DbSession,
    clock: AppClock,
) -> IngestOut:
    """Up to 500 tool-call audit rows, all or nothing, idempotent on (tickId, seq)."""
    result = await ingest.record_actions(
        session, persona_id=persona_id, actions=body.actions, now=clock.now()
    )
    return IngestOut(inserted=result.inserted, duplicates=result.duplicates)


@router.post("/{persona_id}/feedback", response_model=IngestOut, responses=_ERRORS)
async def post_feedback(
    persona_id: uuid.UUID,
    _service: ServiceCaller,
    body: FeedbackBatch,
    session: DbSession,
    clock: AppClock,
) -> IngestOut:
    """Up to 100 module ratings, all or nothing, idempotent on (tickId, module)."""
    result = await ingest.record_feedback(
        session, persona_id=persona_id, feedback=body.feedback, now=clock.now()
    )
    return IngestOut(inserted=result.inserted, duplicates=result.duplicates)
