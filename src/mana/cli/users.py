"""`mana users …`: operator commands that act on the database directly."""

from __future__ import annotations

import asyncio

import typer

from mana.auth import service
from mana.cli.common import console, fail, load_settings
from mana.db import create_engine, create_sessionmaker, transaction
from mana.kit.clock import Clock
from mana.kit.errors import AppError

app = typer.Typer(help="Manage users.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Manage users."""


async def _create_admin(database_url: str, email: str, password: str, name: str | None) -> str:
    engine = create_engine(database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            user = await service.get_user_by_email(session, email)
            if user is None:
                user = await service.sign_up(
                    session, email=email, password=password, name=name, now=Clock().now()
                )
                verb = "created"
            else:
                await service.set_password(session, user, password)
                verb = "updated"
            user.role = "admin"
            user.email_verified = True
            await session.flush()
            return f"{verb} admin {user.email} id={user.id}"
    finally:
        await engine.dispose()


@app.command("create-admin")
def create_admin(
    email: str = typer.Option(..., "--email", help="The admin's email."),
    password: str = typer.Option(
        ...,
        "--password",
        envvar="MANA_ADMIN_PASSWORD",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="Password (or MANA_ADMIN_PASSWORD, or a prompt).",
    ),
    name: str | None = typer.Option(None, "--name"),
) -> None:
    """Create an admin user, or promote an existing user to admin (and set the password)."""
    settings = load_settings()
    try:
        console.print(asyncio.run(_create_admin(settings.database_url, email, password, name)))
    except AppError as exc:
        fail(exc.message)
