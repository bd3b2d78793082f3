"""Chart descriptions built from API responses: drawn by Chart.js, and shown as tables.

A `Chart` is data, not drawing code: the page embeds `config()` as JSON next to a canvas, and
`static/dashboard.js` hands it to the vendored Chart.js. The same labels and values fill the
table under every chart and the canvas's text summary, so nothing is only visible as pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

# Colour-blind-safe (Okabe–Ito) and ≥3:1 against white, as chart marks need.
BLUE = "#0072B2"
VERMILION = "#D55E00"
GREEN = "#009E73"
GREY = "#6b6b6b"
# Counts behind a line: light, so the line in front stays the thing to read.
LIGHT_GREY = "#c4c4c4"
RATING_COLOURS = ["#b2182b", "#D55E00", "#8a7a00", "#4d9221", "#1b7837"]


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | int | None]
    kind: Literal["line", "bar"] = "line"
    colour: str = BLUE
    axis: Literal["y", "y2"] = "y"
    decimals: int = 0
    # One colour per bar (the rating distribution) instead of one per series.
    bar_colours: Sequence[str] | None = None


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    labels: Sequence[str]
    series: Sequence[Series]
    summary: str
    x_title: str = "Day"
    y_title: str = ""
    y2_title: str = ""
    y_min: float | None = None
    y_max: float | None = None
    y2_max: float | None = None
    stacked: bool = False
    # A small chart (an overview card): no axis titles, short day labels; the legend stays.
    compact: bool = False

    def config(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "series": [
                {
                    "label": s.label,
                    "values": list(s.values),
                    "kind": s.kind,
                    "colour": s.colour,
                    "axis": s.axis,
                    "barColours": list(s.bar_colours) if s.bar_colours else None,
                }
                for s in self.series
            ],
            "xTitle": self.x_title,
            "yTitle": self.y_title,
            "y2Title": self.y2_title,
            "yMin": self.y_min,
            "yMax": self.y_max,
            "y2Max": self.y2_max,
            "stacked": self.stacked,
            "compact": self.compact,
        }


def fmt(value: float | int | None, decimals: int = 0) -> str:
    """A table cell: a dash for a day without data, so gaps read as gaps."""
    if value is None:
        return "—"
    return f"{value:.{decimals}f}"


def day_labels(dates: Sequence[date]) -> list[str]:
    return [d.isoformat() for d in dates]


def _trend_words(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "no ratings in this window"
    if len(known) == 1:
        return f"one day with ratings, average {known[0]:.2f}"
    return (
        f"from {known[0]:.2f} to {known[-1]:.2f}, lowest {min(known):.2f}, "
        f"{len(known)} of {len(values)} days with ratings"
    )


def rating_trend(
    chart_id: str,
    *,
    module: str,
    dates: Sequence[date],
    means: Sequence[float | None],
    error_rates: Sequence[float | None] | None = None,
    error_axis_max: float | None = None,
) -> Chart:
    """The overview card's chart: mean rating per day (and the error rate beside it). Give
    every card the same `error_axis_max` (percent) so their bars compare across modules."""
    series = [Series("Mean rating", means, colour=BLUE, decimals=2)]
    if error_rates is not None:
        series.append(
            Series(
                "Error rate (%)",
                [None if r is None else round(r * 100, 1) for r in error_rates],
                kind="bar",
                colour=VERMILION,
                axis="y2",
                decimals=1,
            )
        )
    return Chart(
        id=chart_id,
        title=f"{module}: rating per day",
        labels=day_labels(dates),
        series=series,
        summary=f"{module} mean rating per day, {_trend_words(means)}.",
        y_title="rating",
        y2_title="error %",
        y_min=1,
        y_max=5,
        y2_max=error_axis_max,
        compact=True,
    )


def error_axis_max(rates: Sequence[float | None]) -> float:
    """A shared top for error-rate axes, in percent: the highest rate rounded up to 10s."""
    highest = max((r for r in rates if r is not None), default=0.0) * 100
    return float(max(10, math.ceil(highest / 10) * 10))


def daily_ratings(
    chart_id: str,
    *,
    module: str,
    dates: Sequence[date],
    means: Sequence[float | None],
    counts: Sequence[int],
) -> Chart:
    """The module page's main chart: one point per day, with how many ratings it rests on."""
    return Chart(
        id=chart_id,
        title="Daily rating and number of ratings",
        labels=day_labels(dates),
        series=[
            Series("Mean rating", means, colour=BLUE, decimals=2),
            Series("Ratings", counts, kind="bar", colour=LIGHT_GREY, axis="y2"),
        ],
        summary=f"{module} mean rating per day, {_trend_words(means)}; {sum(counts)} ratings.",
        y_title="rating",
        y2_title="ratings",
        y_min=1,
        y_max=5,
        # Count bars reach at most half-way up, under the rating line.
        y2_max=max(max(counts, default=0) * 2, 2),
    )


def daily_errors(
    chart_id: str,
    *,
    module: str,
    dates: Sequence[date],
    calls: Sequence[int],
    errors: Sequence[int],
) -> Chart:
    ok = [c - e for c, e in zip(calls, errors, strict=True)]
    return Chart(
        id=chart_id,
        title="Tool calls per day, ok and failed",
        labels=day_labels(dates),
        series=[
            Series("Ok", ok, kind="bar", colour=GREEN),
            Series("Failed", errors, kind="bar", colour=VERMILION),
        ],
        summary=(
            f"{module}: {sum(calls)} tool calls, {sum(errors)} failed, "
            f"most failures on one day {max(errors, default=0)}."
        ),
        y_title="calls",
        y_min=0,
        stacked=True,
    )


def rating_distribution(chart_id: str, *, distribution: dict[str, int]) -> Chart:
    labels = ["1", "2", "3", "4", "5"]
    values = [int(distribution.get(k, 0)) for k in labels]
    total = sum(values)
    words = ", ".join(f"{v} × {k}" for k, v in zip(labels, values, strict=True))
    return Chart(
        id=chart_id,
        title="Rating distribution",
        labels=labels,
        series=[Series("Ratings", values, kind="bar", bar_colours=RATING_COLOURS)],
        summary=f"{total} ratings: {words}." if total else "No ratings in this window.",
        x_title="Rating",
        y_title="ratings",
        y_min=0,
    )


def ticks_per_day(
    chart_id: str,
    *,
    days: Sequence[date],
    calls: Sequence[int],
    errors: Sequence[int],
    ticks: Sequence[int],
) -> Chart:
    return Chart(
        id=chart_id,
        title="Tool calls per day (recent ticks)",
        labels=day_labels(days),
        series=[
            Series("Tool calls", calls, kind="bar", colour=BLUE),
            Series("Errors", errors, kind="bar", colour=VERMILION),
            Series("Ticks", ticks, colour=GREY, axis="y2"),
        ],
        summary=(
            f"{sum(ticks)} ticks on {len(days)} days, {sum(calls)} tool calls, "
            f"{sum(errors)} errors."
        ),
        y_title="calls",
        y2_title="ticks",
        y_min=0,
        y2_max=max(max(ticks, default=0) * 2, 2),
    )
