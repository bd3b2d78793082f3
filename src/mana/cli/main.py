"""Entry point of the `mana` console script.

Command groups are imported only when they run: `mana personas validate` should not pay for
importing the web servers, SQLAlchemy, Alembic and the MCP SDK (seconds of start-up on these
machines), and neither should every CLI test that starts `mana` as a subprocess.
"""

from __future__ import annotations

import importlib

import typer
from typer import _click  # Typer ships its own copy of click; its types must match
from typer.core import TyperCommand, TyperGroup

# name -> (module, attribute, one-line help shown by `mana --help` without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "db": ("mana.cli.db", "app", "Database schema (Alembic migrations)."),
    "serve": ("mana.cli.serve", "app", "Run a service: auth, mcp, runner, dashboard or all."),
    "users": ("mana.cli.users", "app", "Manage users (create-admin)."),
    "auth": ("mana.cli.auth", "app", "Tokens and signing keys."),
    "personas": (
        "mana.cli.personas",
        "app",
        "The persona catalog: validate, seed, spaces, cleanup, list, show.",
    ),
    "runner": ("mana.cli.runner", "app", "The persona runner (tick --once)."),
    "findings": (
        "mana.cli.findings",
        "app",
        "What the personas found: trends, clusters, alerts, notes; --fail-on-alert gates CI.",
    ),
    "demo": ("mana.cli.demo", "app", "The whole loop once on the SQLite default, then a report."),
    "simulate": (
        "mana.cli.simulate",
        "app",
        "Days of persona life in minutes, dated on the simulated days.",
    ),
}


class LazyGroup(TyperGroup):
    """A Typer group whose sub-commands are imported on first use.

    `mana --help` lists every group with the one-line help above instead of importing it:
    listing them by importing would load every server (seconds on these machines).
    """

    _listing = False

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(COMMANDS)

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute, short_help = COMMANDS[cmd_name]
        if self._listing:
            return TyperCommand(cmd_name, help=short_help)
        typer_app = getattr(importlib.import_module(module_name), attribute)
        command = typer.main.get_command(typer_app)
        command.name = cmd_name
        return command


app = LazyGroup(
    name="mana",
    help="Mana Personas: synthetic users that exercise the product every day.",
    no_args_is_help=True,
)

if __name__ == "__main__":
    app()
