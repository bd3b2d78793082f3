"""Response models of the findings and alerts admin API (camelCase on the wire).

`mana findings` and the dashboard parse responses with these same models: one contract.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from mana.kit.schemas import ResponseModel

AlertStatus = Literal["open", "resolved"]


class WindowOut(ResponseModel):
    start: datetime = Field(description="First instant counted (midnight UTC of the first day).")
    end: datetime = Field(description="The app clock's now: the window ends here (exclusive).")
    days: int = Field(description="Whole UTC days in the window, today included.")


class RatingsOut(ResponseModel):
    mean: float | None = Field(description="Mean rating (1–5); null without ratings.")
    count: int
    distribution: dict[str, int] = Field(
        description='How often each rating was given: keys "1" to "5".'
    )


class ModuleOverviewOut(ResponseModel):
    module: str
    ratings: RatingsOut
    rating_trend: list[float | None] = Field(
        description="Mean rating per day of the window, oldest first (null: no rating that day)."
    )
    calls: int = Field(description="Tool calls of this module's tools in the window.")
    errors: int
    error_rate: float = Field(description="errors / calls (0 without calls).")
    error_trend: list[float | None] = Field(
        description="Error rate per day, oldest first (null: no calls that day)."
    )
    observations: dict[str, int] = Field(description="Observations by kind in the window.")
    clusters: int = Field(description="Distinct error clusters of this module's tools.")
    open_alerts: int


class ToolOut(ResponseModel):
    tool: str
    calls: int
    errors: int
    error_rate: float
    p50_ms: float = Field(description="Median latency (linear interpolation, percentile_cont).")
    p95_ms: float


class ClusterOut(ResponseModel):
    fingerprint: str = Field(description="Stable id: hash of tool + normalised message.")
    tool: str
    module: str
    message: str = Field(description="The normalised message: ids, numbers, dates replaced.")
    example_message: str = Field(description="One raw message of the cluster.")
    count: int
    first_seen: datetime
    last_seen: datetime
    personas: int = Field(description="Distinct personas that hit it.")
    example_tick_id: uuid.UUID = Field(description="A tick where it happened (the latest one).")


class NoteOut(ResponseModel):
    module: str
    rating: int
    notes: str
    created_at: datetime
    tick_id: uuid.UUID
    persona_id: uuid.UUID
    persona_email: str
    persona_name: str | None


class CoverageOut(ResponseModel):
    never_called: list[str] = Field(description="Registry tools nobody called in the window.")
    always_failing: list[str] = Field(description="Tools whose every call in the window failed.")


class AlertOut(ResponseModel):
    id: uuid.UUID
    rule: str = Field(
        description="rating_drop | error_rate | latency_p95 | new_cluster | new_observation"
    )
    subject: str = Field(description="A module, a tool, a cluster fingerprint or module:kind.")
    module: str
    status: AlertStatus
    message: str
    figures: dict[str, Any] = Field(description="The figures that fired it (its evidence).")
    opened_at: datetime
    updated_at: datetime
    last_fired_at: datetime = Field(description="Last evaluation at which the rule held.")
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    acknowledged_by_email: str | None


class AlertListOut(ResponseModel):
    items: list[AlertOut]


class AlertEvaluationOut(ResponseModel):
    evaluated_at: datetime = Field(description="The time the windows were taken as of.")
    opened: list[AlertOut] = Field(description="Alerts this evaluation opened.")
    resolved: list[AlertOut] = Field(description="Alerts this evaluation resolved.")
    open_alerts: list[AlertOut] = Field(description="Every alert open after it, newest first.")


class FindingsOverviewOut(ResponseModel):
    window: WindowOut
    dates: list[date] = Field(description="The days of the window: the x-axis of every trend.")
    modules: list[ModuleOverviewOut]
    top_clusters: list[ClusterOut]
    worst_notes: list[NoteOut] = Field(description="Latest notes with a rating of 2 or less.")
    coverage: CoverageOut
    open_alerts: list[AlertOut]


class DayOut(ResponseModel):
    date: date
    ratings: RatingsOut
    calls: int
    errors: int
    error_rate: float
    observations: dict[str, int]


class ModuleFindingsOut(ResponseModel):
    module: str
    window: WindowOut
    days: list[DayOut] = Field(description="One entry per day of the window, oldest first.")
    ratings: RatingsOut = Field(description="Over the whole window.")
    tools: list[ToolOut]
    clusters: list[ClusterOut]
    notes: list[NoteOut]
    coverage: CoverageOut
    alerts: list[AlertOut] = Field(description="Open alerts on this module.")
