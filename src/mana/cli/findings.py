"""`mana findings`: the Monday-morning report in the terminal, and the CI gate.

Talks to the auth service's admin API like `mana personas list`. Exit codes: 0 done; 1 with
`--fail-on-alert` while alerts are open; 2 on a usage or connection error (one line on stderr).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from mana.cli.common import console, err_console, fail, load_settings
from mana.clients.errors import ApiError, ClientError
from mana.clients.findings import FindingsClient
from mana.findings.schemas import (
    AlertOut,
    ClusterOut,
    FindingsOverviewOut,
    ModuleFindingsOut,
    NoteOut,
)

USAGE_ERROR = 2
GATE_FAILED = 1
SPARKS = "▁▂▃▄▅▆▇█"

_T = TypeVar("_T")

app = typer.Typer()


def sparkline(values: Sequence[float | None], *, low: float = 1.0, high: float = 5.0) -> str:
    """One character per value on a fixed scale (ratings 1–5), '·' for a day without data."""
    out = []
    for value in values:
        if value is None:
            out.append("·")
            continue
        share = (min(max(value, low), high) - low) / (high - low) if high > low else 0.0
        out.append(SPARKS[round(share * (len(SPARKS) - 1))])
    return "".join(out)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "–"


def _mean(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "–"


def _run(step: Coroutine[Any, Any, _T]) -> _T:
    try:
        return asyncio.run(step)
    except ApiError as exc:
        if exc.status == 401:
            fail(f"the auth service refused the admin token: {exc}", USAGE_ERROR)
        if exc.status == 403:
            fail(f"the token does not belong to an admin: {exc}", USAGE_ERROR)
        fail(str(exc), USAGE_ERROR)
    except ClientError as exc:
        fail(str(exc), USAGE_ERROR)


def _say(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True)


# --- printing -----------------------------------------------------------------------------------


def _alerts_table(alerts: list[AlertOut]) -> Table:
    table = Table(title=f"open alerts ({len(alerts)})", title_justify="left")
    for column in ("rule", "module", "message", "opened", "acknowledged"):
        table.add_column(column, overflow="fold")
    for a in alerts:
        ack = (
            f"{a.acknowledged_by_email or '?'} {_when(a.acknowledged_at)}"
            if a.acknowledged_at
            else ""
        )
        table.add_row(a.rule, a.module, escape(a.message), _when(a.opened_at), escape(ack))
    return table


def _clusters_table(clusters: list[ClusterOut], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("count", justify="right")
    table.add_column("personas", justify="right")
    for column in ("tool", "message", "last seen", "example tick"):
        table.add_column(column, overflow="fold")
    for c in clusters:
        table.add_row(
            str(c.count),
            str(c.personas),
            c.tool,
            escape(c.message),
            _when(c.last_seen),
            str(c.example_tick_id),
        )
    return table


def _notes_table(notes: list[NoteOut], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("rating", justify="right")
    for column in ("module", "persona", "note", "when"):
        table.add_column(column, overflow="fold")
    for n in notes:
        table.add_row(
            str(n.rating), n.module, n.persona_email, escape(n.notes), _when(n.created_at)
        )
    return table


def print_overview(data: FindingsOverviewOut) -> None:
    w = data.window
    _say(f"[bold]Findings[/] · {w.days} days · {_when(w.start)} → {_when(w.end)} UTC")
    table = Table(title_justify="left")
    table.add_column("module")
    table.add_column(f"rating ({w.days}d)")
    table.add_column("mean", justify="right")
    table.add_column("ratings", justify="right")
    table.add_column("calls", justify="right")
    table.add_column("error rate", justify="right")
    table.add_column("observations", overflow="fold")
    table.add_column("clusters", justify="right")
    table.add_column("alerts", justify="right")
    for m in data.modules:
        observed = ", ".join(f"{k} {v}" for k, v in m.observations.items())
        table.add_row(
            m.module,
            sparkline(m.rating_trend),
            _mean(m.ratings.mean),
            str(m.ratings.count),
            str(m.calls),
            f"{m.error_rate:.1%}",
            observed,
            str(m.clusters),
            f"[bold red]{m.open_alerts}[/]" if m.open_alerts else "0",
        )
    console.print(table)
    if data.open_alerts:
        console.print(_alerts_table(data.open_alerts))
    else:
        _say("no open alerts")
    if data.top_clusters:
        console.print(_clusters_table(data.top_clusters[:5], "top error clusters"))
    if data.worst_notes:
        console.print(_notes_table(data.worst_notes, "worst notes (rating ≤ 2)"))
    if data.coverage.never_called:
        _say("never called: " + ", ".join(data.coverage.never_called))
    if data.coverage.always_failing:
        _say("[red]always failing:[/] " + ", ".join(data.coverage.always_failing))


def print_module(data: ModuleFindingsOut) -> None:
    w = data.window
    trend = sparkline([d.ratings.mean for d in data.days])
    _say(
        f"[bold]{data.module}[/] · {w.days} days · rating {trend} "
        f"mean {_mean(data.ratings.mean)} ({data.ratings.count} ratings)"
    )
    days = Table(title="per day", title_justify="left")
    for column in ("date", "mean", "ratings", "calls", "error rate", "observations"):
        days.add_column(column, justify="left" if column in ("date", "observations") else "right")
    for d in data.days:
        days.add_row(
            d.date.isoformat(),
            _mean(d.ratings.mean),
            str(d.ratings.count),
            str(d.calls),
            f"{d.error_rate:.1%}" if d.calls else "–",
            ", ".join(f"{k} {v}" for k, v in d.observations.items()),
        )
    console.print(days)
    tools = Table(title="tools", title_justify="left")
    tools.add_column("tool")
    for column in ("calls", "error rate", "p50 ms", "p95 ms"):
        tools.add_column(column, justify="right")
    for t in data.tools:
        tools.add_row(
            t.tool, str(t.calls), f"{t.error_rate:.1%}", f"{t.p50_ms:.0f}", f"{t.p95_ms:.0f}"
        )
    console.print(tools)
    if data.alerts:
        console.print(_alerts_table(data.alerts))
    if data.clusters:
        console.print(_clusters_table(data.clusters, "error clusters"))
    if data.notes:
        console.print(_notes_table(data.notes, "latest notes"))
    if data.coverage.never_called:
        _say("never called: " + ", ".join(data.coverage.never_called))
    if data.coverage.always_failing:
        _say("[red]always failing:[/] " + ", ".join(data.coverage.always_failing))


# --- the command --------------------------------------------------------------------------------


async def _fetch(
    base: str, token: str, *, days: int, module: str | None, max_rating: int, evaluate: bool
) -> FindingsOverviewOut | ModuleFindingsOut:
    async with FindingsClient(base, token) as client:
        if evaluate:
            # A gate must not read before the last tick's evaluation, which runs after a
            # debounce on the server: evaluate now, then read.
            await client.evaluate()
        if module is None:
            return await client.overview(days=days)
        return await client.module(module, days=days, max_rating=max_rating)


@app.command()
def findings(
    days: int = typer.Option(14, "--days", min=1, max=365, help="Whole UTC days, today included."),
    module: str | None = typer.Option(None, "--module", help="One module in detail."),
    max_rating: int = typer.Option(
        5, "--max-rating", min=1, max=5, help="With --module: only notes rated this or lower."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON instead."),
    fail_on_alert: bool = typer.Option(
        False,
        "--fail-on-alert",
        help="Evaluate the alert rules now, then exit 1 while alerts are open (a CI gate).",
    ),
    auth: str | None = typer.Option(
        None,
        "--auth",
        help="Auth service URL (default: MANA_AUTH_URL, else http://localhost:3001).",
    ),
    jwt: str | None = typer.Option(
        None, "--jwt", help="Admin access token (default: MANA_ADMIN_JWT)."
    ),
) -> None:
    """What the personas found, per module: rating trend, errors, clusters, alerts, notes."""
    settings = load_settings()
    base = (auth or settings.auth_url).strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        fail(
            f"the auth service URL must start with http:// or https:// (got {base!r})", USAGE_ERROR
        )
    token = (jwt or settings.admin_jwt or "").strip()
    if not token:
        fail(
            "no admin token: pass --jwt=TOKEN or set MANA_ADMIN_JWT "
            "(an admin gets one with `mana auth token --email ADMIN_EMAIL`)",
            USAGE_ERROR,
        )
    data = _run(
        _fetch(base, token, days=days, module=module, max_rating=max_rating, evaluate=fail_on_alert)
    )
    if as_json:
        print(json.dumps(data.model_dump(mode="json", by_alias=True), indent=2))
    elif isinstance(data, FindingsOverviewOut):
        print_overview(data)
    else:
        print_module(data)
    open_alerts = data.open_alerts if isinstance(data, FindingsOverviewOut) else data.alerts
    if fail_on_alert and open_alerts:
        where = f" on {module}" if module else ""
        err_console.print(
            f"[bold red]gate:[/] {len(open_alerts)} open alert(s){where}", highlight=False
        )
        raise typer.Exit(GATE_FAILED)
