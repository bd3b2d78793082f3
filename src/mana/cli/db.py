"""`mana db …`: schema migrations."""

from __future__ import annotations

import typer

from mana import migrate
from mana.cli.common import console, load_settings

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = load_settings()
    migrate.upgrade(settings.database_url, revision)
    console.print(f"database at revision {revision}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Revert migrations down to REVISION."""
    settings = load_settings()
    migrate.downgrade(settings.database_url, revision)
    console.print(f"database at revision {revision}")


@app.command()
def current() -> None:
    """Show the database's current revision."""
    migrate.current(load_settings().database_url)
