"""`mana serve …`: run a service in the foreground (Ctrl-C / SIGTERM stops it cleanly)."""

from __future__ import annotations

import asyncio
import signal
from types import FrameType
from typing import Any

import typer
import uvicorn
from fastapi import FastAPI

from mana.auth.app import create_auth_app
from mana.auth.keys import KeyRing
from mana.cli.common import console, fail, load_settings
from mana.config import ProductionConfigError, Settings
from mana.db import create_engine, create_sessionmaker
from mana.kit.clock import Clock
from mana.kit.server import BackgroundServer, uvicorn_config
from mana.mcp.app import configure_logging, create_mcp_app
from mana.mcp.faults import FaultRulesError
from mana.runner.app import create_runner_app
from mana.runner.brains import UnknownBrain
from mana.runner.brains.llm_common import BrainConfigError

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
    application = _mcp_app(settings)
    server = uvicorn.Server(uvicorn_config(application, host=host, port=port, log_level="info"))
    server.run()
    if not server.started:
        raise typer.Exit(1)


def _mcp_app(settings: Settings) -> FastAPI:
    try:
        return create_mcp_app(settings)
    except (ProductionConfigError, FaultRulesError) as exc:
        fail(str(exc))


def _exit_zero_after_signals() -> None:
    """uvicorn stops gracefully on SIGINT/SIGTERM and then re-raises the signal with whatever
    handler was installed before it started; with Python's defaults that is a KeyboardInterrupt
    traceback, or death by SIGTERM (exit status -15). For the runner a signal *is* the normal
    way to stop — in-flight ticks are finished or cancelled and recorded first — so the
    re-raised signal is swallowed and the command exits 0."""

    def swallow(_signum: int, _frame: FrameType | None) -> None:
        return None

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, swallow)


def _runner_app(settings: Settings) -> FastAPI:
    try:
        return create_runner_app(settings)
    except (ProductionConfigError, UnknownBrain, BrainConfigError) as exc:
        fail(str(exc))


@app.command()
def runner(
    host: str = HostOption,
    port: int = typer.Option(3070, "--port", help="Port to listen on."),
) -> None:
    """The persona runner: the tick loop, /health, /metrics (and /diag/* in development).
    SIGTERM or Ctrl-C stops claiming, winds in-flight ticks down, and exits 0."""
    settings = load_settings()
    application = _runner_app(settings)
    configure_logging()
    server = uvicorn.Server(uvicorn_config(application, host=host, port=port, log_level="info"))
    _exit_zero_after_signals()
    server.run()
    if not server.started:
        raise typer.Exit(1)


def _client_host(host: str) -> str:
    """Where this process reaches its own servers: a wildcard bind is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _start_background(application: Any, *, name: str, host: str, port: int) -> BackgroundServer:
    try:
        return BackgroundServer(application, host=host, port=port).start()
    except (RuntimeError, TimeoutError) as exc:
        fail(f"the {name} server could not start on {host}:{port} ({exc})")


@app.command(name="all")
def all_services(
    host: str = HostOption,
    auth_port: int = typer.Option(3001, "--auth-port", help="Auth service port."),
    mcp_port: int = typer.Option(3069, "--mcp-port", help="MCP server port."),
    runner_port: int = typer.Option(3070, "--runner-port", help="Runner port."),
) -> None:
    """Auth, MCP and the runner in one process, for development. The runner talks to the auth
    and MCP servers started here (MANA_AUTH_URL / MANA_MCP_URL are ignored). SIGTERM or
    Ctrl-C stops the runner first (its ticks still post to the auth service), then the rest."""
    base = load_settings()
    reach = _client_host(host)
    settings = base.model_copy(
        update={
            "auth_url": f"http://{reach}:{auth_port}",
            "mcp_url": f"http://{reach}:{mcp_port}/mcp",
        }
    )
    try:
        auth_app = create_auth_app(settings)
        if settings.is_production:
            asyncio.run(_check_production_keys(settings))
    except ProductionConfigError as exc:
        fail(str(exc))
    runner_app = _runner_app(settings)
    configure_logging()
    auth_server = _start_background(auth_app, name="auth", host=host, port=auth_port)
    try:
        mcp_server = _start_background(_mcp_app(settings), name="MCP", host=host, port=mcp_port)
        try:
            console.print(
                f"auth {settings.auth_url}, MCP {settings.mcp_url}, "
                f"runner http://{reach}:{runner_port}",
                highlight=False,
            )
            server = uvicorn.Server(
                uvicorn_config(runner_app, host=host, port=runner_port, log_level="info")
            )
            _exit_zero_after_signals()
            server.run()
        finally:
            mcp_server.stop()
    finally:
        auth_server.stop()
    if not server.started:
        raise typer.Exit(1)
