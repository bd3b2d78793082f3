"""`mana demo`: the whole loop on the embedded SQLite default, no API keys.

migrate → start the auth and MCP services → create an admin → seed the catalog (and its shared
spaces, through invitations) → one tick of every persona with the scripted brain → a report and the findings (`mana
findings`) read back through the admin API → stop (or keep serving with --serve).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import typer
from rich.table import Table

from mana import migrate
from mana.auth import service as auth_service
from mana.auth.app import create_auth_app
from mana.cli.common import console, fail, load_settings
from mana.cli.findings import print_overview
from mana.clients.admin import AdminClient
from mana.clients.errors import ClientError
from mana.clients.findings import FindingsClient
from mana.clients.seed import seed_personas
from mana.clients.spaces import setup_shared_spaces
from mana.config import ProductionConfigError, Settings
from mana.dashboard.app import create_dashboard_app
from mana.db import create_engine, create_sessionmaker, transaction
from mana.findings.schemas import FindingsOverviewOut
from mana.kit.clock import Clock
from mana.kit.server import BackgroundServer
from mana.mcp.app import create_mcp_app
from mana.personas.catalog import Catalog, load_catalog
from mana.runner.service import build_runner, seed_secret
from mana.runner.tick import TickReport

DEMO_ADMIN_EMAIL = "demo.admin@example.com"
DEMO_ADMIN_PASSWORD = "demo-admin-password-2026"
DEMO_CONCURRENCY = 4
# The findings report after the run covers the last week (more history with `mana simulate`).
DEMO_FINDINGS_DAYS = 7


async def ensure_admin(settings: Settings) -> None:
    """The demo's operator account (created once, promoted and re-passworded on reruns)."""
    engine = create_engine(settings.database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            user = await auth_service.get_user_by_email(session, DEMO_ADMIN_EMAIL)
            if user is None:
                user = await auth_service.sign_up(
                    session,
                    email=DEMO_ADMIN_EMAIL,
                    password=DEMO_ADMIN_PASSWORD,
                    name="Demo Admin",
                    now=Clock().now(),
                )
            user.role = "admin"
            user.email_verified = True
    finally:
        await engine.dispose()


async def seed_catalog(settings: Settings, catalog: Catalog, secret: str) -> str:
    async with AdminClient(settings.auth_url) as anonymous:
        token = (await anonymous.login(DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD)).token
    async with AdminClient(settings.auth_url, token, concurrency=DEMO_CONCURRENCY) as client:
        seeded = await seed_personas(client, catalog, secret=secret)
        console.print(f"✓ seeded {seeded.summary()}")
        if not seeded.ok:
            fail("; ".join(f"{r.email}: {r.error}" for r in seeded.failed))
        spaces = await setup_shared_spaces(client, catalog, secret=secret)
        console.print(f"✓ {spaces.summary()}")
        if not spaces.ok:
            fail("; ".join(f"{r.name}: {r.error}" for r in spaces.failed))
    return token


async def tick_everyone(settings: Settings, catalog: Catalog) -> list[TickReport]:
    async with build_runner(settings, brain="scripted", runner_id="demo") as runner:
        reports, unclaimed = await runner.tick_by_email([p.email for p in catalog.personas])
    if unclaimed:
        fail(f"could not tick {', '.join(unclaimed)}")
    return reports


async def findings_overview(settings: Settings, token: str) -> FindingsOverviewOut:
    """The Monday-morning report (`mana findings`), read through the admin API like any client."""
    async with FindingsClient(settings.auth_url, token) as client:
        return await client.overview(days=DEMO_FINDINGS_DAYS)


async def stored_figures(settings: Settings, token: str) -> dict[str, Any]:
    async with AdminClient(settings.auth_url, token) as client:
        return {p.email: p for p in await client.all_personas()}


def print_report(reports: list[TickReport], stored: dict[str, Any]) -> None:
    """Per persona: what it did and what it thought; then the average rating per module."""
    console.rule("one day in the product (scripted brain)")
    by_module: dict[str, list[int]] = defaultdict(list)
    for r in sorted(reports, key=lambda r: r.persona.email):
        figures = stored.get(r.persona.email)
        space = f"{r.space.name} ({r.space.type})" if r.space else "no space"
        status = "" if r.status == "ok" else f" [red]{r.status}: {r.error_message}[/]"
        console.print(
            f"[bold]{r.persona.name or r.persona.email}[/] ({r.persona.archetype}) in {space}: "
            f"{len(r.actions)} tool calls, {r.errors} errors{status}",
            highlight=False,
        )
        for x in r.ratings:
            by_module[x.module].append(x.rating)
            console.print(f"    {x.module:<9} {x.rating}/5  {x.notes}", highlight=False)
        if r.rating_problem:
            console.print(f"    [yellow]rating problem:[/] {r.rating_problem}", highlight=False)
        if figures is not None:
            average = "—" if figures.avg_rating_7d is None else f"{figures.avg_rating_7d:.2f}"
            console.print(
                f"    [dim]stored: {figures.actions_7d} actions in 7 days, average rating {average}[/]",
                highlight=False,
            )
    modules = Table(title="average rating per module")
    modules.add_column("module")
    modules.add_column("ratings", justify="right")
    modules.add_column("average", justify="right")
    for module in sorted(by_module):
        values = by_module[module]
        modules.add_row(module, str(len(values)), f"{sum(values) / len(values):.2f}")
    console.print(modules)


def _serve_forever(
    settings: Settings, token: str, auth_url: str, mcp_url: str, dashboard_port: int
) -> None:
    with BackgroundServer(create_dashboard_app(settings), port=dashboard_port) as dashboard:
        console.print(
            f"serving: auth {auth_url}, MCP {mcp_url}/mcp — admin token:\n{token}\n"
            f"dashboard {dashboard.url} — sign in as {DEMO_ADMIN_EMAIL} / {DEMO_ADMIN_PASSWORD}\n"
            "Ctrl-C to stop",
            highlight=False,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


app = typer.Typer()


@app.command()
def demo(
    serve: bool = typer.Option(False, "--serve", help="Keep the services running afterwards."),
    auth_port: int = typer.Option(
        0, "--auth-port", help="Auth port (0: a free one; 3001 with --serve)."
    ),
    mcp_port: int = typer.Option(
        0, "--mcp-port", help="MCP port (0: a free one; 3069 with --serve)."
    ),
    dashboard_port: int = typer.Option(
        3071, "--dashboard-port", help="Dashboard port (with --serve)."
    ),
) -> None:
    """Run the whole loop once on the SQLite default and print what the personas did."""
    started = time.perf_counter()
    base = load_settings()
    try:
        secret = seed_secret(base)
        base.require_production_secrets()
    except ProductionConfigError as exc:
        fail(str(exc))
    catalog = load_catalog()
    console.rule("[bold]Mana personas demo")
    console.print(f"database: {base.database_url}")
    migrate.upgrade(base.database_url)
    console.print("✓ migrations applied")

    auth_port = auth_port or (3001 if serve else 0)
    mcp_port = mcp_port or (3069 if serve else 0)
    with BackgroundServer(create_auth_app(base), port=auth_port or None) as auth:
        settings = base.model_copy(update={"auth_url": auth.url})
        with BackgroundServer(create_mcp_app(settings), port=mcp_port or None) as mcp:
            settings = settings.model_copy(update={"mcp_url": f"{mcp.url}/mcp"})
            console.print(f"✓ auth service on {auth.url}, MCP server on {mcp.url}/mcp")
            asyncio.run(ensure_admin(settings))
            console.print(f"✓ admin {DEMO_ADMIN_EMAIL}")
            try:
                token = asyncio.run(seed_catalog(settings, catalog, secret))
                reports = asyncio.run(tick_everyone(settings, catalog))
                stored = asyncio.run(stored_figures(settings, token))
                overview = asyncio.run(findings_overview(settings, token))
            except ClientError as exc:
                fail(str(exc))
            print_report(reports, stored)
            print_overview(overview)
            failed = [r for r in reports if r.failed]
            console.print(
                f"{len(reports)} ticks, {sum(len(r.actions) for r in reports)} tool calls, "
                f"{len(failed)} failed, in {time.perf_counter() - started:.1f}s"
            )
            if serve:
                _serve_forever(settings, token, auth.url, mcp.url, dashboard_port)
    console.print("✓ services stopped")
    if failed:
        raise typer.Exit(1)
