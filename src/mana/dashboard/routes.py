"""The dashboard's pages: sign-in/out, overview, module, personas, persona, tick, alerts.

Each page is one or two admin API calls and a template. Forms post with the session's CSRF
token; a signed-out visitor is sent to the sign-in page and back to where they were going.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from mana.dashboard import charts
from mana.dashboard.api import AdminCaller, AuthApi, SignInFailed, tokens_from
from mana.dashboard.sessions import CSRF_FIELD, Session, Tokens, signed_in_session
from mana.dashboard.web import (
    CsrfFailed,
    SignInRequired,
    current_session,
    render,
    request_path,
    set_session,
)
from mana.findings.schemas import (
    AlertEvaluationOut,
    AlertListOut,
    AlertOut,
    FindingsOverviewOut,
    ModuleFindingsOut,
    ModuleOverviewOut,
    NoteOut,
)
from mana.kit.clock import Clock
from mana.kit.pagination import Page
from mana.personas.contract import (
    ObservationOut,
    PersonaDetailOut,
    PersonaListItem,
    TickDetailOut,
)

router = APIRouter(include_in_schema=False)

FINDINGS = "/api/v1/admin/findings"
ALERTS = "/api/v1/admin/alerts"
DEFAULT_DAYS = 14

SIGN_IN_REASONS = {
    "expired": "Your session has ended. Please sign in again.",
    "forbidden": "This account is not an administrator.",
    "signed_out": "You have signed out.",
}

Days = Annotated[int, Query(ge=1, le=365)]


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def _admin(request: Request) -> AdminCaller:
    session = current_session(request)
    if not session.signed_in:
        raise SignInRequired(request_path(request))

    def keep(tokens: Tokens) -> None:
        set_session(request, current_session(request).with_tokens(tokens))

    return AdminCaller(
        api=request.app.state.auth_api,
        refresher=request.app.state.refresher,
        session=session,
        clock=_clock(request),
        on_tokens=keep,
    )


Admin = Annotated[AdminCaller, Depends(_admin)]


async def _checked_form(request: Request) -> FormData:
    form = await request.form()
    if not current_session(request).csrf_ok(_field(form, CSRF_FIELD)):
        raise CsrfFailed
    return form


CheckedForm = Annotated[FormData, Depends(_checked_form)]


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _local_path(target: str | None, default: str = "/") -> str:
    """Only paths on this site: `next=https://evil.example` or `//evil.example` go home."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    return target


def _see_other(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


# --- sign-in / sign-out ---------------------------------------------------------------------


def _sign_in_page(
    request: Request,
    *,
    next_path: str,
    message: str | None = None,
    email: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "signin.html",
        {"title": "Sign in", "next": next_path, "message": message, "email": email},
        status_code=status_code,
    )


@router.get("/signin")
async def sign_in_form(
    request: Request,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
    reason: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    target = _local_path(next_path)
    if current_session(request).signed_in:
        return _see_other(target)
    return _sign_in_page(request, next_path=target, message=SIGN_IN_REASONS.get(reason or ""))


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    email = _field(form, "email").strip()
    target = _local_path(_field(form, "next"))
    if not current_session(request).csrf_ok(_field(form, CSRF_FIELD)):
        set_session(request, Session())
        return _sign_in_page(
            request,
            next_path=target,
            email=email,
            message="The sign-in form had expired. Please try again.",
            status_code=403,
        )
    api: AuthApi = request.app.state.auth_api
    try:
        answer = await api.login(email, _field(form, "password"))
    except SignInFailed as exc:
        return _sign_in_page(
            request,
            next_path=target,
            email=email,
            message=str(exc),
            status_code=429 if exc.retry_after is not None else 401,
        )
    if answer.user.role != "admin":
        return _sign_in_page(
            request,
            next_path=target,
            email=email,
            message=SIGN_IN_REASONS["forbidden"],
            status_code=403,
        )
    now = _clock(request).now()
    set_session(
        request,
        signed_in_session(
            tokens=tokens_from(answer, now=now),
            user_id=str(answer.user.id),
            email=answer.user.email,
            name=answer.user.name,
            now=now,
        ),
    )
    return _see_other(target)


@router.post("/signout")
async def sign_out(request: Request, _form: CheckedForm) -> Response:
    # The auth service has no revoke endpoint yet: the refresh token is dropped with the
    # cookie and expires on its own.
    set_session(request, Session())
    return _see_other("/signin?reason=signed_out")


# --- overview and module --------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    module: ModuleOverviewOut
    chart: charts.Chart
    worst_note: NoteOut | None


def _worst_note(notes: list[NoteOut], module: str) -> NoteOut | None:
    """The lowest-rated recent note of a module (the newest among equals)."""
    mine = [n for n in notes if n.module == module]
    if not mine:
        return None
    return min(mine, key=lambda n: (n.rating, -n.created_at.timestamp()))


@router.get("/")
async def overview(request: Request, admin: Admin, days: Days = DEFAULT_DAYS) -> Response:
    findings = await admin.get(FINDINGS, FindingsOverviewOut, params={"days": days})
    error_top = charts.error_axis_max([r for m in findings.modules for r in m.error_trend])
    cards = [
        Card(
            module=m,
            chart=charts.rating_trend(
                f"trend-{m.module}",
                module=m.module,
                dates=findings.dates,
                means=m.rating_trend,
                error_rates=m.error_trend,
                error_axis_max=error_top,
            ),
            worst_note=_worst_note(findings.worst_notes, m.module),
        )
        for m in findings.modules
    ]
    return render(
        request,
        "overview.html",
        {"title": "Overview", "nav": "overview", "f": findings, "cards": cards, "days": days},
    )


@router.get("/modules/{module}")
async def module_page(
    request: Request,
    admin: Admin,
    module: str,
    days: Days = DEFAULT_DAYS,
    max_rating: Annotated[int, Query(alias="maxRating", ge=1, le=5)] = 5,
) -> Response:
    findings = await admin.get(
        f"{FINDINGS}/modules/{quote(module, safe='')}",
        ModuleFindingsOut,
        params={"days": days, "maxRating": max_rating},
    )
    dates = [d.date for d in findings.days]
    context = {
        "title": f"Module {findings.module}",
        "nav": "overview",
        "f": findings,
        "days": days,
        "max_rating": max_rating,
        "rating_chart": charts.daily_ratings(
            "daily-ratings",
            module=findings.module,
            dates=dates,
            means=[d.ratings.mean for d in findings.days],
            counts=[d.ratings.count for d in findings.days],
        ),
        "distribution_chart": charts.rating_distribution(
            "distribution", distribution=findings.ratings.distribution
        ),
        "error_chart": charts.daily_errors(
            "daily-errors",
            module=findings.module,
            dates=dates,
            calls=[d.calls for d in findings.days],
            errors=[d.errors for d in findings.days],
        ),
    }
    return render(request, "module.html", context)


# --- personas and ticks ---------------------------------------------------------------------


@router.get("/personas")
async def personas_page(
    request: Request,
    admin: Admin,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    params: dict[str, str | int] = {"limit": 50}
    if cursor:
        params["cursor"] = cursor
    page = await admin.get("/api/v1/admin/personas", Page[PersonaListItem], params=params)
    return render(request, "personas.html", {"title": "Personas", "nav": "personas", "page": page})


@router.get("/personas/{persona_id}")
async def persona_page(request: Request, admin: Admin, persona_id: uuid.UUID) -> Response:
    detail = await admin.get(f"/api/v1/admin/personas/{persona_id}", PersonaDetailOut)
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for tick in detail.recent_ticks:
        figures = per_day[tick.started_at.date()]
        figures[0] += tick.tool_calls
        figures[1] += tick.errors
        figures[2] += 1
    days = sorted(per_day)
    context = {
        "title": detail.persona.name or detail.persona.email,
        "nav": "personas",
        "d": detail,
        "story": detail.story,
        "ticks_chart": charts.ticks_per_day(
            "persona-ticks",
            days=days,
            calls=[per_day[d][0] for d in days],
            errors=[per_day[d][1] for d in days],
            ticks=[per_day[d][2] for d in days],
        ),
    }
    return render(request, "persona.html", context)


@router.get("/ticks/{tick_id}")
async def tick_page(request: Request, admin: Admin, tick_id: uuid.UUID) -> Response:
    detail = await admin.get(f"/api/v1/admin/ticks/{tick_id}", TickDetailOut)
    seqs = {a.seq for a in detail.actions}
    by_seq: dict[int, list[ObservationOut]] = defaultdict(list)
    loose: list[ObservationOut] = []
    for observation in detail.observations:
        if observation.action_seq is not None and observation.action_seq in seqs:
            by_seq[observation.action_seq].append(observation)
        else:
            loose.append(observation)
    context = {
        "title": f"Tick {tick_id}",
        "nav": "personas",
        "d": detail,
        "observations_by_seq": by_seq,
        "loose_observations": loose,
    }
    return render(request, "tick.html", context)


# --- alerts ---------------------------------------------------------------------------------


@router.get("/alerts")
async def alerts_page(
    request: Request,
    admin: Admin,
    status: Literal["open", "resolved", "all"] = "open",
    opened: Annotated[int | None, Query(ge=0)] = None,
    resolved: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    listed = await admin.get(ALERTS, AlertListOut, params={"status": status})
    context = {
        "title": "Alerts",
        "nav": "alerts",
        "alerts": listed.items,
        "status": status,
        # Set after "Evaluate now": what that evaluation changed (a redirect carries it).
        "evaluated": None if opened is None or resolved is None else (opened, resolved),
    }
    return render(request, "alerts.html", context)


@router.post("/alerts/evaluate")
async def evaluate(request: Request, admin: Admin, form: CheckedForm) -> Response:
    """Run the alert rules now instead of waiting for the next tick or period."""
    result = await admin.post(f"{ALERTS}/evaluate", AlertEvaluationOut)
    return _see_other(
        f"/alerts?status=open&opened={len(result.opened)}&resolved={len(result.resolved)}"
    )


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(
    request: Request, admin: Admin, alert_id: uuid.UUID, form: CheckedForm
) -> Response:
    await admin.post(f"{ALERTS}/{alert_id}/acknowledge", AlertOut)
    return _see_other(_local_path(_field(form, "back"), default="/alerts"))
