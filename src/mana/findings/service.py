"""The findings overview and one module's findings, shaped for the admin API."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mana.findings import alerts, clusters, queries
from mana.findings.queries import DayFigures, RatingCounts, Window
from mana.findings.schemas import (
    AlertOut,
    ClusterOut,
    CoverageOut,
    DayOut,
    FindingsOverviewOut,
    ModuleFindingsOut,
    ModuleOverviewOut,
    NoteOut,
    RatingsOut,
    ToolOut,
    WindowOut,
)
from mana.kit.errors import NotFound
from mana.tools.registry import modules_with_tools

TOP_CLUSTERS = 10
WORST_NOTES = 10
WORST_RATING = 2


def _ratings(counts: RatingCounts) -> RatingsOut:
    mean = counts.mean
    return RatingsOut(
        mean=None if mean is None else round(mean, 3),
        count=counts.count,
        distribution={str(r): counts.by_value.get(r, 0) for r in range(1, 6)},
    )


def _rate(errors: int, calls: int) -> float:
    return round(errors / calls, 4) if calls else 0.0


def _window_out(window: Window) -> WindowOut:
    return WindowOut(start=window.start, end=window.end, days=len(window.dates()))


def alert_out(row: alerts.AlertRow) -> AlertOut:
    a = row.alert
    return AlertOut(
        id=a.id,
        rule=a.rule,
        subject=a.subject,
        module=a.module,
        status=a.status,
        message=a.message,
        figures=a.figures,
        opened_at=a.opened_at,
        updated_at=a.updated_at,
        last_fired_at=a.last_fired_at,
        resolved_at=a.resolved_at,
        acknowledged_at=a.acknowledged_at,
        acknowledged_by=a.acknowledged_by,
        acknowledged_by_email=row.acknowledged_by_email,
    )


def _cluster_out(c: clusters.Cluster) -> ClusterOut:
    return ClusterOut(
        fingerprint=c.fingerprint,
        tool=c.tool,
        module=c.module,
        message=c.message,
        example_message=c.example_message,
        count=c.count,
        first_seen=c.first_seen,
        last_seen=c.last_seen,
        personas=c.personas,
        example_tick_id=c.example_tick_id,
    )


def _note_out(n: queries.Note) -> NoteOut:
    return NoteOut(
        module=n.module,
        rating=n.rating,
        notes=n.notes,
        created_at=n.created_at,
        tick_id=n.tick_id,
        persona_id=n.persona_id,
        persona_email=n.persona_email,
        persona_name=n.persona_name,
    )


def _coverage_out(c: queries.Coverage) -> CoverageOut:
    return CoverageOut(never_called=c.never_called, always_failing=c.always_failing)


def _total(days: Iterable[DayFigures]) -> DayFigures:
    total = DayFigures()
    for d in days:
        for rating, count in d.ratings.by_value.items():
            total.ratings.add(rating, count)
        for kind, count in d.observations.items():
            total.observations[kind] = total.observations.get(kind, 0) + count
        total.calls += d.calls
        total.errors += d.errors
    return total


async def overview(session: AsyncSession, *, now: datetime, days: int) -> FindingsOverviewOut:
    window = Window.days_ending(now, days)
    dates = window.dates()
    daily = await queries.daily_figures(session, window=window)
    tools = await queries.tool_figures(session, window=window)
    found = await clusters.error_clusters(session, window=window)
    notes = await queries.latest_notes(
        session, window=window, max_rating=WORST_RATING, limit=WORST_NOTES
    )
    open_rows = await alerts.list_alerts(session, status="open")
    clusters_per_module: dict[str, int] = {}
    for c in found:
        clusters_per_module[c.module] = clusters_per_module.get(c.module, 0) + 1
    alerts_per_module: dict[str, int] = {}
    for row in open_rows:
        alerts_per_module[row.alert.module] = alerts_per_module.get(row.alert.module, 0) + 1

    modules = []
    for module in sorted(set(daily) | modules_with_tools()):
        per_day = daily.get(module, {})
        total = _total(per_day.values())
        day_figures = [per_day.get(d) for d in dates]
        modules.append(
            ModuleOverviewOut(
                module=module,
                ratings=_ratings(total.ratings),
                rating_trend=[
                    None if f is None or f.ratings.mean is None else round(f.ratings.mean, 3)
                    for f in day_figures
                ],
                calls=total.calls,
                errors=total.errors,
                error_rate=_rate(total.errors, total.calls),
                error_trend=[
                    None if f is None or not f.calls else _rate(f.errors, f.calls)
                    for f in day_figures
                ],
                observations=dict(sorted(total.observations.items())),
                clusters=clusters_per_module.get(module, 0),
                open_alerts=alerts_per_module.get(module, 0),
            )
        )
    return FindingsOverviewOut(
        window=_window_out(window),
        dates=dates,
        modules=modules,
        top_clusters=[_cluster_out(c) for c in found[:TOP_CLUSTERS]],
        worst_notes=[_note_out(n) for n in notes],
        coverage=_coverage_out(queries.coverage(tools.values())),
        open_alerts=[alert_out(r) for r in open_rows],
    )


async def module_findings(
    session: AsyncSession,
    *,
    module: str,
    now: datetime,
    days: int,
    max_rating: int = 5,
    notes_limit: int = 20,
    clusters_limit: int = 20,
) -> ModuleFindingsOut:
    window = Window.days_ending(now, days)
    daily = (await queries.daily_figures(session, window=window, module=module)).get(module, {})
    if not daily and module not in modules_with_tools():
        raise NotFound(f"no module {module!r}: neither a product module nor seen in the window")
    tools = await queries.tool_figures(session, window=window, module=module)
    found = await clusters.error_clusters(
        session, window=window, module=module, limit=clusters_limit
    )
    notes = await queries.latest_notes(
        session, window=window, module=module, max_rating=max_rating, limit=notes_limit
    )
    open_rows = await alerts.list_alerts(session, status="open", module=module)
    empty = DayFigures()
    day_out = []
    for d in window.dates():
        f = daily.get(d, empty)
        day_out.append(
            DayOut(
                date=d,
                ratings=_ratings(f.ratings),
                calls=f.calls,
                errors=f.errors,
                error_rate=_rate(f.errors, f.calls),
                observations=dict(sorted(f.observations.items())),
            )
        )
    return ModuleFindingsOut(
        module=module,
        window=_window_out(window),
        days=day_out,
        ratings=_ratings(_total(daily.values()).ratings),
        tools=[
            ToolOut(
                tool=t.tool,
                calls=t.calls,
                errors=t.errors,
                error_rate=_rate(t.errors, t.calls),
                p50_ms=round(t.p50_ms, 1),
                p95_ms=round(t.p95_ms, 1),
            )
            for t in sorted(tools.values(), key=lambda t: t.tool)
        ],
        clusters=[_cluster_out(c) for c in found],
        notes=[_note_out(n) for n in notes],
        coverage=_coverage_out(queries.coverage(tools.values(), module=module)),
        alerts=[alert_out(r) for r in open_rows],
    )
