"""`mana serve …`: run a service in the foreground (Ctrl-C / SIGTERM stops it cleanly)."""

from __future__ import annotations

import typer
import uvicorn

from mana.auth.app import create_auth_app
from mana.cli.common import fail, load_settings
from mana.config import ProductionConfigError
from mana.kit.server import uvicorn_config

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
    except ProductionConfigError as exc:
        fail(str(exc))
    server = uvicorn.Server(uvicorn_config(application, host=host, port=port, log_level="info"))
    try:
        server.run()
    except ProductionConfigError as exc:  # raised from the lifespan (e.g. a development key)
        fail(str(exc))
    if not server.started:
        raise typer.Exit(1)
