"""Findings and alerts admin API (`/api/v1/admin/findings`, `/api/v1/admin/alerts`).

Admin role required (401 without a token, 403 for a non-admin). Every window ends at the app
clock's now; figures come only from persona rows.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request

from mana.auth.deps import AdminUser, AppClock, DbSession
from mana.findings import alerts, service
from mana.findings.delivery import AlertEvaluator
from mana.findings.schemas import (
    AlertEvaluationOut,
    AlertListOut,
    AlertOut,
    FindingsOverviewOut,
    ModuleFindingsOut,
)

router = APIRouter(prefix="/api/v1/admin", tags=["findings"])

MAX_DAYS = 365
MAX_OPEN_LISTED = 1000

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Admin role required"},
    422: {"description": "Invalid query parameter (named in `details`)"},
}

Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="Whole UTC days, today included.")]
ModuleName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


@router.get("/findings", response_model=FindingsOverviewOut, responses=_ERRORS)
async def findings_overview(
    _admin: AdminUser, session: DbSession, clock: AppClock, days: Days = 14
) -> FindingsOverviewOut:
    """Per module: ratings and their daily trend, calls and error rate, observations, clusters
    and open alerts; plus the top error clusters, the worst notes, tool coverage and every open
    alert."""
    return await service.overview(session, now=clock.now(), days=days)


@router.get(
    "/findings/modules/{module}",
    response_model=ModuleFindingsOut,
    responses={**_ERRORS, 404: {"description": "Neither a product module nor seen in the window"}},
)
async def module_findings(
    _admin: AdminUser,
    session: DbSession,
    clock: AppClock,
    module: ModuleName,
    days: Days = 14,
    max_rating: Annotated[
        int, Query(alias="maxRating", ge=1, le=5, description="Only notes rated this or lower.")
    ] = 5,
    notes_limit: Annotated[int, Query(alias="notesLimit", ge=1, le=200)] = 20,
    clusters_limit: Annotated[int, Query(alias="clustersLimit", ge=1, le=200)] = 20,
) -> ModuleFindingsOut:
    """One module: a series per day, tools with p50/p95 and error rate, error clusters with an
    example tick, the latest notes (filter with `maxRating`), coverage and open alerts."""
    return await service.module_findings(
        session,
        module=module,
        now=clock.now(),
        days=days,
        max_rating=max_rating,
        notes_limit=notes_limit,
        clusters_limit=clusters_limit,
    )


@router.get("/alerts", response_model=AlertListOut, responses=_ERRORS)
async def list_alerts(
    _admin: AdminUser,
    session: DbSession,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "all",
    module: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AlertListOut:
    """Alerts, newest first."""
    rows = await alerts.list_alerts(
        session, status=None if status == "all" else status, module=module, limit=limit
    )
    return AlertListOut(items=[service.alert_out(r) for r in rows])


@router.post("/alerts/evaluate", response_model=AlertEvaluationOut, responses=_ERRORS)
async def evaluate_alerts_now(
    _admin: AdminUser, request: Request, session: DbSession, background: BackgroundTasks
) -> AlertEvaluationOut:
    """Evaluate every rule now and answer with what opened, what resolved and what is open.

    What a CI gate calls before reading: evaluation otherwise follows tick finishes after a
    debounce, so the last one may still be pending when a simulation ends."""
    evaluator: AlertEvaluator = request.app.state.alert_evaluator
    # In the request's own transaction (on SQLite it already holds the write lock: a second
    # transaction would wait on it). Webhooks go out after the response, i.e. after the commit.
    evaluation = await evaluator.evaluate_in(session)
    if evaluation.changes:
        background.add_task(evaluator.notifier.wake)
    still_open = await alerts.list_alerts(session, status="open", limit=MAX_OPEN_LISTED)
    listed = {r.alert.id: service.alert_out(r) for r in still_open}
    # Resolved alerts (and opened ones past the listing's limit) are read back by id, for
    # who acknowledged them.
    missing = [c.alert.id for c in evaluation.changes if c.alert.id not in listed]
    if missing:
        rows = await alerts.list_alerts(session, ids=missing, limit=len(missing))
        listed.update({r.alert.id: service.alert_out(r) for r in rows})
    return AlertEvaluationOut(
        evaluated_at=evaluation.as_of,
        opened=[listed[c.alert.id] for c in evaluation.changes if c.event == "opened"],
        resolved=[listed[c.alert.id] for c in evaluation.changes if c.event == "resolved"],
        open_alerts=[listed[r.alert.id] for r in still_open],
    )


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=AlertOut,
    responses={**_ERRORS, 404: {"description": "No such alert"}},
)
async def acknowledge_alert(
    alert_id: uuid.UUID, admin: AdminUser, session: DbSession, clock: AppClock
) -> AlertOut:
    """Mark the alert as seen (by whom, when). Idempotent; it stays open until it resolves."""
    row = await alerts.acknowledge(session, alert_id=alert_id, user=admin, now=clock.now())
    return service.alert_out(row)
