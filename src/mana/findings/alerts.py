"""Regression alerts: rules over two windows, stored with an Alertmanager-like lifecycle.

Each evaluation compares a recent window (`recent_days` before `now`) with the baseline window
just before it (`baseline_days`). A rule that holds opens an alert for its (rule, subject), or
refreshes the open one (its figures, `last_fired_at`); an open alert whose rule has not held for
`resolve_after_hours` is resolved. One open alert per (rule, subject): a partial unique index,
and a savepoint here so a concurrent evaluation that got there first is simply joined.

Noise guard for ratings (~10–40 a module a week, where a 0.5 drop of a mean is within noise):
minimum counts on both sides, a margin on the means, and a one-sided Mann–Whitney U test.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth.admin_cache import Admin
from mana.auth.models import User
from mana.findings import clusters, queries
from mana.findings.models import Alert
from mana.findings.queries import Window, module_of
from mana.findings.settings import AlertSettings
from mana.findings.stats import mann_whitney_less
from mana.kit.errors import NotFound

Event = Literal["opened", "resolved"]


@dataclass(frozen=True)
class Firing:
    rule: str
    subject: str
    module: str
    message: str
    figures: dict[str, Any]


@dataclass(frozen=True)
class AlertChange:
    event: Event
    alert: Alert


def windows(now: datetime, settings: AlertSettings) -> tuple[Window, Window]:
    recent = Window.before(now, timedelta(days=settings.recent_days))
    baseline = Window.before(recent.start, timedelta(days=settings.baseline_days))
    return recent, baseline


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Evaluation:
    firing: list[Firing]
    # (rule, subject) of every cluster and observation kind still occurring recently: a "new"
    # alert stays open while its failure persists, even once the baseline has seen it too.
    persisting: set[tuple[str, str]]


@dataclass(frozen=True)
class _Windows:
    recent: Window
    baseline: Window
    span: dict[str, str]  # the windows, in every alert's figures


async def firing_rules(
    session: AsyncSession, *, now: datetime, settings: AlertSettings
) -> Evaluation:
    """Every (rule, subject) whose condition holds at `now`."""
    recent, baseline = windows(now, settings)
    w = _Windows(
        recent=recent,
        baseline=baseline,
        span={
            "recentStart": recent.start.isoformat(),
            "baselineStart": baseline.start.isoformat(),
            "end": now.isoformat(),
        },
    )
    recent_tools = await queries.tool_figures(session, window=recent)
    baseline_tools = await queries.tool_figures(session, window=baseline)
    persisting: set[tuple[str, str]] = set()
    firing = [
        *await _rating_drops(session, w, settings),
        *_tool_regressions(recent_tools, baseline_tools, w, settings),
        *await _new_clusters(session, w, baseline_tools, settings, persisting),
        *await _new_observations(session, w, baseline_tools, settings, persisting),
    ]
    return Evaluation(firing=firing, persisting=persisting)


async def _rating_drops(
    session: AsyncSession, w: _Windows, settings: AlertSettings
) -> list[Firing]:
    """Margin AND counts on both sides AND the rank test: no bare threshold on a mean."""
    recent = await queries.rating_counts(session, window=w.recent)
    baseline = await queries.rating_counts(session, window=w.baseline)
    out = []
    for module, now_counts in sorted(recent.items()):
        before = baseline.get(module)
        if before is None or before.count < settings.rating_min_baseline:
            continue
        if now_counts.count < settings.rating_min_recent:
            continue
        recent_mean, baseline_mean = now_counts.mean or 0.0, before.mean or 0.0
        drop = baseline_mean - recent_mean
        if drop < settings.rating_margin:
            continue
        test = mann_whitney_less(now_counts.by_value, before.by_value)
        if test.p_value >= settings.rating_alpha:
            continue
        out.append(
            Firing(
                rule="rating_drop",
                subject=module,
                module=module,
                message=(
                    f"{module}: rating fell from {baseline_mean:.2f} to {recent_mean:.2f} "
                    f"({now_counts.count} recent vs {before.count} baseline ratings, "
                    f"Mann–Whitney p={test.p_value:.1e})"
                ),
                figures={
                    **w.span,
                    "recentMean": _r(recent_mean),
                    "baselineMean": _r(baseline_mean),
                    "drop": _r(drop),
                    "recentCount": now_counts.count,
                    "baselineCount": before.count,
                    "recentDistribution": {
                        str(k): v for k, v in sorted(now_counts.by_value.items())
                    },
                    "baselineDistribution": {str(k): v for k, v in sorted(before.by_value.items())},
                    "mannWhitneyU": test.u,
                    "pValue": test.p_value,
                    "alpha": settings.rating_alpha,
                },
            )
        )
    return out


def _tool_regressions(
    recent: dict[str, queries.ToolFigures],
    baseline: dict[str, queries.ToolFigures],
    w: _Windows,
    settings: AlertSettings,
) -> list[Firing]:
    """error_rate and latency_p95, per tool with enough calls on both sides (more for the
    latency rule: a percentile needs more calls than a rate)."""
    out = []
    for tool, now_t in sorted(recent.items()):
        before_t = baseline.get(tool)
        if before_t is None or before_t.calls < settings.min_calls:
            continue
        if now_t.calls < settings.min_calls:
            continue
        common = {**w.span, "recentCalls": now_t.calls, "baselineCalls": before_t.calls}
        rate, base_rate = now_t.error_rate, before_t.error_rate
        if (
            rate - base_rate >= settings.error_rate_jump
            and rate >= settings.error_rate_factor * base_rate
        ):
            out.append(
                Firing(
                    rule="error_rate",
                    subject=tool,
                    module=module_of(tool),
                    message=(
                        f"{tool}: error rate {rate:.0%} (baseline {base_rate:.0%}, "
                        f"{now_t.errors} of {now_t.calls} calls failed)"
                    ),
                    figures={
                        **common,
                        "recentErrorRate": _r(rate),
                        "baselineErrorRate": _r(base_rate),
                        "recentErrors": now_t.errors,
                        "baselineErrors": before_t.errors,
                    },
                )
            )
        if (
            min(now_t.calls, before_t.calls) >= settings.latency_min_calls
            and now_t.p95_ms >= settings.latency_factor * before_t.p95_ms
            and now_t.p95_ms - before_t.p95_ms >= settings.latency_min_ms
        ):
            out.append(
                Firing(
                    rule="latency_p95",
                    subject=tool,
                    module=module_of(tool),
                    message=(
                        f"{tool}: p95 latency {now_t.p95_ms:.0f} ms "
                        f"(baseline {before_t.p95_ms:.0f} ms)"
                    ),
                    figures={
                        **common,
                        "recentP95Ms": _r(now_t.p95_ms, 1),
                        "baselineP95Ms": _r(before_t.p95_ms, 1),
                        "recentP50Ms": _r(now_t.p50_ms, 1),
                        "baselineP50Ms": _r(before_t.p50_ms, 1),
                    },
                )
            )
    return out


async def _new_clusters(
    session: AsyncSession,
    w: _Windows,
    baseline_tools: dict[str, queries.ToolFigures],
    settings: AlertSettings,
    persisting: set[tuple[str, str]],
) -> list[Firing]:
    """A fingerprint the baseline never saw, on a tool that worked there."""
    recent = await clusters.error_clusters(session, window=w.recent)
    if not recent:
        return []
    known = {c.fingerprint for c in await clusters.error_clusters(session, window=w.baseline)}
    out = []
    for cluster in recent:
        persisting.add(("new_cluster", cluster.fingerprint))
        tool_before = baseline_tools.get(cluster.tool)
        if cluster.fingerprint in known or tool_before is None:
            continue
        if tool_before.calls < settings.min_calls:
            continue
        if cluster.count < settings.new_cluster_min_count:
            continue
        if cluster.personas < settings.new_cluster_min_personas:
            continue
        out.append(
            Firing(
                rule="new_cluster",
                subject=cluster.fingerprint,
                module=cluster.module,
                message=(
                    f"{cluster.tool}: new failure \u201c{cluster.message}\u201d "
                    f"({cluster.count}×, {cluster.personas} personas)"
                ),
                figures={
                    **w.span,
                    "tool": cluster.tool,
                    "fingerprint": cluster.fingerprint,
                    "normalisedMessage": cluster.message,
                    "exampleMessage": cluster.example_message,
                    "count": cluster.count,
                    "personas": cluster.personas,
                    "firstSeen": cluster.first_seen.isoformat(),
                    "lastSeen": cluster.last_seen.isoformat(),
                    "exampleTickId": str(cluster.example_tick_id),
                },
            )
        )
    return out


async def _new_observations(
    session: AsyncSession,
    w: _Windows,
    baseline_tools: dict[str, queries.ToolFigures],
    settings: AlertSettings,
    persisting: set[tuple[str, str]],
) -> list[Firing]:
    """A severe kind on a module that was in use in the baseline without it, reported by more
    than one persona (one persona's mistaken memory is not a regression of the product)."""
    recent = await queries.observation_counts(session, window=w.recent)
    if not recent:
        return []
    baseline = await queries.observation_counts(session, window=w.baseline)
    used_before: dict[str, int] = {}
    for t in baseline_tools.values():
        used_before[module_of(t.tool)] = used_before.get(module_of(t.tool), 0) + t.calls
    out = []
    for (module, kind), seen in sorted(recent.items()):
        persisting.add(("new_observation", f"{module}:{kind}"))
        if kind not in settings.observation_kinds or (module, kind) in baseline:
            continue
        if used_before.get(module, 0) < settings.min_calls:
            continue
        if seen.personas < settings.new_observation_min_personas:
            continue
        out.append(
            Firing(
                rule="new_observation",
                subject=f"{module}:{kind}",
                module=module,
                message=(
                    f"{module}: personas now report '{kind}' "
                    f"({seen.count}× by {seen.personas} personas recently, never in the baseline)"
                ),
                figures={
                    **w.span,
                    "kind": kind,
                    "recentCount": seen.count,
                    "recentPersonas": seen.personas,
                    "baselineCount": 0,
                },
            )
        )
    return out


async def evaluate_alerts(
    session: AsyncSession, *, now: datetime, settings: AlertSettings | None = None
) -> list[AlertChange]:
    """Open, refresh and resolve alerts as of `now`; returns what opened or resolved.

    Flushes, never commits (the caller owns the transaction); callable from the tick-finish
    hook, tests and `mana simulate` alike.
    """
    settings = settings or AlertSettings()
    evaluation = await firing_rules(session, now=now, settings=settings)
    firing = {(f.rule, f.subject): f for f in evaluation.firing}
    changes: list[AlertChange] = []
    # Locked: two auth processes evaluating at once take turns, so an alert is resolved (and
    # announced) once, and the second sees what the first did.
    open_alerts = (
        await session.scalars(sa.select(Alert).where(Alert.status == "open").with_for_update())
    ).all()
    resolve_after = timedelta(hours=settings.resolve_after_hours)
    for alert in open_alerts:
        key = (alert.rule, alert.subject)
        fired = firing.pop(key, None)
        if fired is not None:
            alert.figures, alert.message = fired.figures, fired.message
            alert.updated_at = alert.last_fired_at = max(alert.last_fired_at, now)
        elif key in evaluation.persisting:
            alert.updated_at = alert.last_fired_at = max(alert.last_fired_at, now)
        elif now - alert.last_fired_at >= resolve_after:
            alert.status, alert.resolved_at, alert.updated_at = "resolved", now, now
            changes.append(AlertChange("resolved", alert))
    for fired in firing.values():
        alert = Alert(
            rule=fired.rule,
            subject=fired.subject,
            module=fired.module,
            status="open",
            message=fired.message,
            figures=fired.figures,
            opened_at=now,
            updated_at=now,
            last_fired_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(alert)
        except IntegrityError:
            continue  # a concurrent evaluation opened it first: that alert stands
        changes.append(AlertChange("opened", alert))
    await session.flush()
    return changes


# --- reading and acknowledging ------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    acknowledged_by_email: str | None


async def list_alerts(
    session: AsyncSession,
    *,
    status: str | None = None,
    module: str | None = None,
    ids: Sequence[uuid.UUID] | None = None,
    limit: int = 200,
) -> list[AlertRow]:
    query = (
        sa.select(Alert, User.email)
        .outerjoin(User, User.id == Alert.acknowledged_by)
        .order_by(Alert.opened_at.desc(), Alert.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(Alert.status == status)
    if module is not None:
        query = query.where(Alert.module == module)
    if ids is not None:
        query = query.where(Alert.id.in_(ids))
    return [AlertRow(alert, email) for alert, email in await session.execute(query)]


async def acknowledge(
    session: AsyncSession, *, alert_id: uuid.UUID, user: Admin, now: datetime
) -> AlertRow:
    """Mark an alert as seen by an admin. Idempotent: the first acknowledgement is kept."""
    alert = await session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, user.id
        await session.flush()
        return AlertRow(alert, user.email)
    by = await session.get(User, alert.acknowledged_by) if alert.acknowledged_by else None
    return AlertRow(alert, by.email if by else None)
