"""`mana personas …`: validate the catalog, seed / clean up personas, inspect them.

Everything here talks to the auth service over HTTP, with the admin token for the admin persona
API and with each persona's own login for shared spaces, exactly as an operator would; nothing
writes to the database directly. The work itself lives in `mana.personas.{seed,shared_spaces,
cleanup}` as plain async functions; this module parses options, prints, and picks exit codes.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from mana.cli.common import console, err_console, fail, load_settings
from mana.cli.story import print_story
from mana.clients.admin import DEFAULT_CONCURRENCY, AdminClient
from mana.clients.cleanup import (
    CleanupReport,
    DeleteResult,
    LivePersona,
    delete_personas,
    list_live_personas,
)
from mana.clients.errors import ApiError, ClientError
from mana.clients.seed import (
    SeedReport,
    SeedResult,
    count_noun,
    describe_dry_run,
    seed_personas,
)
from mana.clients.spaces import SpaceResult, SpacesReport, setup_shared_spaces
from mana.config import Settings
from mana.personas.catalog import Catalog, CatalogError, load_catalog
from mana.personas.contract import PersonaDetailOut, PersonaListItem
from mana.personas.password import SeedSecretError, resolve_seed_secret
from mana.tools.registry import modules_with_tools

app = typer.Typer(
    help="Persona catalog, seeding and cleanup, over the auth service's admin API.",
    no_args_is_help=True,
)

AuthOption = typer.Option(
    None, "--auth", help="Auth service URL (default: MANA_AUTH_URL, else http://localhost:3001)."
)
JwtOption = typer.Option(None, "--jwt", help="Admin access token (default: MANA_ADMIN_JWT).")
CatalogOption = typer.Option(
    None, "--catalog", dir_okay=False, help="Catalog file (default: the shipped catalog.json)."
)
ConcurrencyOption = typer.Option(
    DEFAULT_CONCURRENCY, "--concurrency", min=1, max=64, help="Requests in flight at most."
)

MISSING_TOKEN = (
    "no admin token: pass --jwt=TOKEN or set MANA_ADMIN_JWT "
    "(an admin gets one with `mana auth token --email ADMIN_EMAIL`)"
)

_T = TypeVar("_T")


# --- shared steps -----------------------------------------------------------------------------


def _catalog(path: Path | None, settings: Settings) -> Catalog:
    """The validated catalog, or every problem on stderr (one per line) and exit 1.

    Modules the product does not offer are no problem (the catalog may run ahead of the
    product): each persona that names one gets a warning line on stderr."""
    try:
        loaded = load_catalog(path, email_domain=settings.persona_email_domain)
    except CatalogError as exc:
        for line in exc.errors:
            err_console.print(escape(line), highlight=False, soft_wrap=True)
        where = path or "the shipped catalog"
        fail(f"{where}: {count_noun(len(exc.errors), 'problem')}")
    for line in loaded.module_warnings(modules_with_tools()):
        err_console.print(f"warning: {escape(line)}", highlight=False, soft_wrap=True)
    return loaded


def _secret(settings: Settings) -> str:
    configured = settings.persona_seed_secret
    try:
        return resolve_seed_secret(
            configured.get_secret_value() if configured else None,
            production=settings.is_production,
        )
    except SeedSecretError as exc:
        fail(f"{exc}; nothing was sent")


def _auth_url(auth: str | None, settings: Settings) -> str:
    url = (auth or settings.auth_url).strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        fail(f"the auth service URL must start with http:// or https:// (got {url!r})")
    return url


def _token(jwt: str | None, settings: Settings) -> str:
    token = (jwt or settings.admin_jwt or "").strip()
    if not token:
        fail(MISSING_TOKEN)
    return token


def _run(step: Coroutine[Any, Any, _T]) -> _T:
    """Run an async step; any client error left unhandled becomes one line and exit 1."""
    try:
        return asyncio.run(step)
    except ClientError as exc:
        fail(_explain(exc))


def _explain(exc: ClientError) -> str:
    """The first admin request doubles as a check of the URL and the token; say which failed."""
    if isinstance(exc, ApiError):
        if exc.status == 401:
            return f"the auth service refused the admin token: {exc} (get a fresh one with `mana auth token`)"
        if exc.status == 403:
            return f"the token does not belong to an admin: {exc}"
    return str(exc)


def _say(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True)


def _progress() -> Progress:
    # transient: the bar disappears when done, leaving one line per persona and the summary.
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def _rating(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "–"


# --- validate -----------------------------------------------------------------------------------


@app.command()
def validate(catalog: Path | None = CatalogOption) -> None:
    """Check the catalog: prints a one-line summary, or every problem (one per line) and exit 1."""
    settings = load_settings()
    loaded = _catalog(catalog, settings)
    _say(loaded.summary())
    if loaded.description:
        _say(escape(loaded.description))


# --- seed ---------------------------------------------------------------------------------------


def _seed_line(result: SeedResult) -> str:
    if result.ok:
        verb = "created" if result.created else "updated"
        return f"[green]✓[/] {result.email} ({result.archetype}) user={result.user_id} {verb}"
    return f"[red]✗[/] {result.email} ({result.archetype}): {escape(result.error or '')}"


def _space_line(result: SpaceResult) -> str:
    label = f"space {escape(result.name)} ({result.type})"
    if not result.ok:
        return f"[red]✗[/] {label}: {escape(result.error or '')}"
    parts = [f"owner={result.owner}", "created" if result.created else "exists"]
    if result.joined:
        parts.append("joined: " + ", ".join(result.joined))
    if result.already_members:
        parts.append("already members: " + ", ".join(result.already_members))
    return f"[green]✓[/] {label} " + "; ".join(parts)


async def _seed(
    base: str, token: str, catalog: Catalog, secret: str, concurrency: int, with_spaces: bool
) -> tuple[SeedReport, SpacesReport | None]:
    async with AdminClient(base, token, concurrency=concurrency) as client:
        # One cheap admin request first: an unreachable server or a refused token is then one
        # clear error instead of the same failure repeated for every persona.
        await client.list_personas(limit=1)
        with _progress() as progress:
            task = progress.add_task("seeding personas", total=len(catalog.personas))

            def on_result(result: SeedResult) -> None:
                progress.console.print(_seed_line(result), highlight=False, soft_wrap=True)
                progress.advance(task)

            report = await seed_personas(client, catalog, secret=secret, on_result=on_result)
        _say(f"seeded {report.summary()}")
        if not with_spaces or not catalog.spaces:
            return report, None
        spaces_report = await _spaces(client, catalog, secret, [r.email for r in report.failed])
        return report, spaces_report


async def _spaces(
    client: AdminClient, catalog: Catalog, secret: str, unavailable: list[str]
) -> SpacesReport:
    with _progress() as progress:
        task = progress.add_task("setting up shared spaces", total=len(catalog.spaces))

        def on_result(result: SpaceResult) -> None:
            progress.console.print(_space_line(result), highlight=False, soft_wrap=True)
            progress.advance(task)

        report = await setup_shared_spaces(
            client, catalog, secret=secret, unavailable=unavailable, on_result=on_result
        )
    _say(report.summary())
    return report


def _exit_on_failures(seeded: SeedReport | None, spaces: SpacesReport | None) -> None:
    failures = [(r.email, r.error) for r in seeded.failed] if seeded else []
    failures += [(f"space {r.name}", r.error) for r in spaces.failed] if spaces else []
    if not failures:
        return
    for what, error in failures:
        err_console.print(
            f"[bold red]failed:[/] {escape(what)}: {escape(error or '')}",
            highlight=False,
            soft_wrap=True,
        )
    fail(f"{count_noun(len(failures), 'failure')}; the rest was applied")


@app.command()
def seed(
    auth: str | None = AuthOption,
    jwt: str | None = JwtOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be done; send nothing."),
    catalog: Path | None = CatalogOption,
    concurrency: int = ConcurrencyOption,
    no_spaces: bool = typer.Option(False, "--no-spaces", help="Skip the shared-spaces step."),
) -> None:
    """Create or update every catalog persona, then set up their shared spaces. Idempotent."""
    settings = load_settings()
    personas = _catalog(catalog, settings)
    secret = _secret(settings)
    base = _auth_url(auth, settings)
    if personas.description:
        _say(escape(personas.description))
    if dry_run:
        _say(f"dry run: nothing is sent ({personas.summary()})")
        for line in describe_dry_run(personas, auth_url=base):
            _say(escape(line))
        if not no_spaces:
            for space in personas.spaces:
                others = ", ".join(space.members[1:])
                _say(
                    f"would set up space {escape(space.name)} ({space.type}): "
                    f"owner {space.owner} invites {others}, "
                    + ("who accepts" if len(space.members) == 2 else "who accept")
                )
        if not (jwt or settings.admin_jwt):
            _say("note: a real run needs an admin token: --jwt=TOKEN or MANA_ADMIN_JWT")
        return
    token = _token(jwt, settings)
    seeded, spaces_report = _run(
        _seed(base, token, personas, secret, concurrency, with_spaces=not no_spaces)
    )
    _exit_on_failures(seeded, spaces_report)


async def _spaces_only(base: str, catalog: Catalog, secret: str, concurrency: int) -> SpacesReport:
    async with AdminClient(base, concurrency=concurrency) as client:
        return await _spaces(client, catalog, secret, [])


@app.command()
def spaces(
    auth: str | None = AuthOption,
    catalog: Path | None = CatalogOption,
    concurrency: int = ConcurrencyOption,
) -> None:
    """Set up the catalog's shared spaces as the personas themselves (login, invite, accept).

    Needs no admin token: every step is a persona acting with its own login.
    """
    settings = load_settings()
    personas = _catalog(catalog, settings)
    secret = _secret(settings)
    base = _auth_url(auth, settings)

    report = _run(_spaces_only(base, personas, secret, concurrency))
    _exit_on_failures(None, report)


# --- cleanup ------------------------------------------------------------------------------------


async def _list_live(base: str, token: str, catalog: Catalog) -> list[LivePersona]:
    async with AdminClient(base, token) as client:
        return await list_live_personas(client, catalog)


async def _delete(base: str, token: str, live: list[LivePersona]) -> CleanupReport:
    async with AdminClient(base, token) as client:
        with _progress() as progress:
            task = progress.add_task("deleting personas", total=len(live))

            def on_result(result: DeleteResult) -> None:
                p = result.persona
                if result.ok:
                    note = " (already gone)" if result.already_gone else ""
                    line = f"[green]✓[/] deleted {p.email} ({p.archetype}){note}"
                else:
                    line = f"[red]✗[/] {p.email} ({p.archetype}): {escape(result.error or '')}"
                progress.console.print(line, highlight=False, soft_wrap=True)
                progress.advance(task)

            return await delete_personas(client, live, on_result=on_result)


@app.command()
def cleanup(
    auth: str | None = AuthOption,
    jwt: str | None = JwtOption,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    catalog: Path | None = CatalogOption,
) -> None:
    """Hard-delete EVERY live persona (back to zero, not back to the catalog); humans stay."""
    settings = load_settings()
    personas = _catalog(catalog, settings)
    base = _auth_url(auth, settings)
    token = _token(jwt, settings)
    live = _run(_list_live(base, token, personas))
    if not live:
        _say("no live personas: nothing to delete")
        return
    drift = [p for p in live if not p.in_catalog]
    for p in live:
        warning = "  [yellow]⚠ not in catalog[/]" if not p.in_catalog else ""
        _say(f"{p.email} ({p.archetype}) user={p.user_id}{warning}")
    _say(
        f"{count_noun(len(live), 'live persona')}"
        + (f", {len(drift)} not in the catalog" if drift else ", all in the catalog")
    )
    if not yes:
        if not sys.stdin.isatty():
            fail(
                f"refusing to delete {count_noun(len(live), 'persona')} without confirmation: "
                "stdin is not a terminal; pass --yes"
            )
        if not typer.confirm(f"Delete {count_noun(len(live), 'live persona')}?", default=False):
            fail("nothing deleted")
    report = _run(_delete(base, token, live))
    _say(report.summary())
    if report.failed:
        for r in report.failed:
            err_console.print(
                f"[bold red]failed:[/] {r.persona.email}: {escape(r.error or '')}",
                highlight=False,
                soft_wrap=True,
            )
        fail(f"{len(report.failed)} of {count_noun(len(live), 'persona')} could not be deleted")


# --- list / show --------------------------------------------------------------------------------


async def _all(base: str, token: str, archetype: str | None) -> list[PersonaListItem]:
    async with AdminClient(base, token) as client:
        return await client.all_personas(archetype=archetype)


@app.command("list")
def list_(
    auth: str | None = AuthOption,
    jwt: str | None = JwtOption,
    archetype: str | None = typer.Option(None, "--archetype", help="Only this archetype."),
) -> None:
    """Live personas with their activity over the last 7 days."""
    settings = load_settings()
    base = _auth_url(auth, settings)
    token = _token(jwt, settings)
    items = _run(_all(base, token, archetype))
    if not items:
        _say("no live personas" + (f" with archetype {archetype}" if archetype else ""))
        return
    table = Table(title=count_noun(len(items), "persona"))
    for column in ("email", "name", "archetype", "cadence"):
        table.add_column(column, overflow="fold")
    table.add_column("actions 7d", justify="right")
    table.add_column("avg rating 7d", justify="right")
    table.add_column("last active")
    for p in items:
        table.add_row(
            p.email,
            escape(p.name or ""),
            p.archetype,
            p.tick_cadence,
            str(p.actions_7d),
            _rating(p.avg_rating_7d),
            _when(p.last_active_at),
        )
    console.print(table)


async def _detail(base: str, token: str, ref: str) -> PersonaDetailOut:
    async with AdminClient(base, token) as client:
        try:
            user_id = uuid.UUID(ref)
        except ValueError:
            wanted = ref.strip().lower()
            found = None
            async for p in client.iter_personas():
                if p.email.strip().lower() == wanted:
                    found = p
                    break
            if found is None:
                raise ClientError(f"no live persona with email {ref}") from None
            user_id = found.user_id
        try:
            return await client.get_persona(user_id)
        except ApiError as exc:
            if exc.status == 404:
                raise ClientError(f"no live persona with id {ref}") from exc
            raise


@app.command()
def show(
    ref: str = typer.Argument(..., metavar="EMAIL|ID", help="The persona's email or user id."),
    auth: str | None = AuthOption,
    jwt: str | None = JwtOption,
) -> None:
    """One persona: its profile, recent actions and ticks, and ratings per module."""
    settings = load_settings()
    base = _auth_url(auth, settings)
    token = _token(jwt, settings)
    detail = _run(_detail(base, token, ref))
    p = detail.persona

    profile = Table(title=f"persona {p.email}", show_header=False)
    profile.add_column("field", style="bold")
    profile.add_column("value", overflow="fold")
    mix = ", ".join(f"{m}={w:g}" for m, w in p.module_mix.items())
    for key, value in (
        ("id", str(p.user_id)),
        ("name", escape(p.name or "")),
        ("archetype", p.archetype),
        ("tick cadence", p.tick_cadence),
        ("last active", _when(p.last_active_at)),
        ("created", _when(p.created_at)),
        ("module mix", mix),
        ("system prompt", escape(p.system_prompt)),
    ):
        profile.add_row(key, value)
    console.print(profile)

    ratings = Table(title="ratings by module")
    for column in ("module", "avg rating", "ratings", "last rating", "last rated"):
        ratings.add_column(column)
    for f in detail.feedback_by_module:
        ratings.add_row(
            f.module,
            _rating(f.avg_rating),
            str(f.count),
            str(f.last_rating) if f.last_rating is not None else "–",
            _when(f.last_at),
        )
    console.print(ratings if detail.feedback_by_module else "no ratings yet")

    actions = Table(title="recent actions")
    for column in ("when", "tool", "result", "latency ms", "error"):
        actions.add_column(column, overflow="fold")
    for a in detail.recent_actions:
        actions.add_row(
            _when(a.created_at),
            a.tool_name,
            a.result,
            str(a.latency_ms) if a.latency_ms is not None else "",
            escape(a.error_message or ""),
        )
    console.print(actions if detail.recent_actions else "no actions yet")

    if detail.recent_ticks:
        ticks = Table(title="recent ticks")
        for column in ("started", "status", "tool calls", "errors", "summary"):
            ticks.add_column(column, overflow="fold")
        for t in detail.recent_ticks:
            ticks.add_row(
                _when(t.started_at),
                t.status,
                str(t.tool_calls),
                str(t.errors),
                escape(t.summary or ""),
            )
        console.print(ticks)
    print_story(console, detail)


async def _forget(base: str, token: str, ref: str) -> tuple[str, bool]:
    detail = await _detail(base, token, ref)
    async with AdminClient(base, token) as client:
        return detail.persona.email, await client.forget_memory(detail.persona.user_id)


@app.command()
def forget(
    ref: str = typer.Argument(..., metavar="EMAIL|ID", help="The persona's email or user id."),
    auth: str | None = AuthOption,
    jwt: str | None = JwtOption,
) -> None:
    """Reset a persona's story: its next tick starts as on a first day (observations stay)."""
    settings = load_settings()
    email, forgotten = _run(_forget(_auth_url(auth, settings), _token(jwt, settings), ref))
    _say(f"{email}: story forgotten" if forgotten else f"{email}: had no story to forget")
