"""`mana serve …`: run a service in the foreground (Ctrl-C / SIGTERM stops it cleanly)."""

from __future__ import annotations

import asyncio

import typer
import uvicorn

from mana.auth.app import create_auth_app
from mana.auth.keys import KeyRing
from mana.cli.common import fail, load_settings
from mana.config import ProductionConfigError, Settings
from mana.db import create_engine, create_sessionmaker
from mana.kit.clock import Clock
from mana.kit.server import uvicorn_config
from mana.mcp.app import configure_logging, create_mcp_app

app = typer.Typer(help="Run a service.", no_args_is_help=True)

HostOption = typer.Option("127.0.0.1", "--host", help="Interface to bind.")


@app.command()
def auth(
    host: str = HostOption,
    port: int = typer.Option(3001, "--port", help="Port to listen on."),
) -> None:
    """The auth service: sign-up, login, JWKS, spaces, admin and internal persona APIs."""
    settings = load_settings()
    try:
        application = create_auth_app(settings)
        if settings.is_production:
            asyncio.run(_check_production_keys(settings))
    except ProductionConfigError as exc:
        fail(str(exc))
    server = uvicorn.Server(uvicorn_config(application, host=host, port=port, log_level="info"))
    server.run()
    if not server.started:
        raise typer.Exit(1)


async def _check_production_keys(settings: Settings) -> None:
    """The app's lifespan refuses a development key too, but uvicorn reports a lifespan failure
    as a traceback; checking first gives the operator the one-line error."""
    engine = create_engine(settings.database_url)
    try:
        await KeyRing(create_sessionmaker(engine), Clock()).ensure_signing_key(production=True)
    finally:
        await engine.dispose()


@app.command()
def mcp(
    host: str = HostOption,
    port: int = typer.Option(3069, "--port", help="Port to listen on."),
) -> None:
    """The MCP tool server: the product's tools at /mcp, for valid user tokens only."""
    settings = load_settings()
    configure_logging()
    application = create_mcp_app(settings)
    server = uvicorn.Server(uvicorn_config(application, host=host, port=port, log_level="info"))
    server.run()
    if not server.started:
        raise typer.Exit(1)
