"""Entry point of the `mana` console script."""

from __future__ import annotations

import typer

from mana.cli import auth, db, demo, serve, users

app = typer.Typer(
    name="mana",
    help="Mana Personas: synthetic users that exercise the product every day.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(serve.app, name="serve")
app.add_typer(users.app, name="users")
app.add_typer(auth.app, name="auth")
app.command(name="demo")(demo.demo)

if __name__ == "__main__":
    app()
