"""`mana runner …`: run persona ticks from the command line."""

from __future__ import annotations

import asyncio

import httpx
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mana.cli.common import console, fail, load_settings
from mana.clients.internal import InternalApiError
from mana.config import ProductionConfigError, Settings
from mana.runner.brains import UnknownBrain
from mana.runner.brains.llm_common import BrainConfigError
from mana.runner.service import build_runner
from mana.runner.tick import TickReport

app = typer.Typer(help="The persona runner.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """The persona runner."""


def report_table(reports: list[TickReport]) -> Table:
    table = Table(title="persona ticks")
    for column in ("persona", "status", "tool calls", "errors", "ratings", "duration"):
        table.add_column(
            column, justify="right" if column in ("tool calls", "errors", "duration") else "left"
        )
    for r in sorted(reports, key=lambda r: r.persona.email):
        ratings = ", ".join(f"{x.module} {x.rating}" for x in r.ratings) or "—"
        status = r.status if r.posted else f"{r.status} (not posted)"
        if r.error_message:
            status += f": {r.error_message[:60]}"
        table.add_row(
            r.persona.email,
            status,
            str(len(r.actions)),
            str(r.errors),
            ratings,
            f"{r.duration_s:.1f}s",
        )
    return table


async def run_once(
    settings: Settings, *, persona: str | None, brain: str | None
) -> list[TickReport]:
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} done"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("ticking due personas", total=None)

        def on_report(report: TickReport) -> None:
            mark = "✓" if report.status == "ok" else "✗"
            progress.console.print(
                f"{mark} {report.persona.email}: {report.status}, {len(report.actions)} calls, "
                f"{report.errors} errors"
            )
            progress.advance(task)

        async with build_runner(settings, brain=brain, on_report=on_report) as runner:
            if persona is not None:
                profile = await runner.internal.claim_one(
                    email=persona,
                    runner_id=runner.runner_id,
                    lease_seconds=runner.config.lease_seconds,
                )
                if profile is None:
                    fail(f"no persona with email {persona}")
                with runner.collecting() as reports:
                    runner.start(profile)
                    await asyncio.gather(*runner.in_flight, return_exceptions=True)
                return reports
            return await runner.drain()


@app.command()
def tick(
    once: bool = typer.Option(False, "--once", help="One pass over the due personas, then exit."),
    persona: str | None = typer.Option(None, "--persona", help="Tick this persona (due or not)."),
    brain: str | None = typer.Option(
        None,
        "--brain",
        help="scripted (default), chaos (edge input on purpose), anthropic, openai.",
    ),
) -> None:
    """Tick due personas once (`--once`); exit 1 if any persona's tick failed."""
    if not once:
        fail("use --once for a single pass, or `mana serve runner` to keep ticking")
    settings = load_settings()
    try:
        reports = asyncio.run(run_once(settings, persona=persona, brain=brain))
    except (ProductionConfigError, BrainConfigError, UnknownBrain) as exc:
        fail(str(exc))
    except InternalApiError as exc:
        fail(f"auth service refused the runner: {exc}")
    except httpx.TransportError as exc:
        fail(f"cannot reach the auth service at {settings.auth_url}: {exc}")
    if not reports:
        console.print("no persona is due")
        return
    console.print(report_table(reports))
    failed = [r for r in reports if r.failed]
    if failed:
        fail(f"{len(failed)} of {len(reports)} persona ticks failed")
