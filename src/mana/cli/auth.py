"""`mana auth …`: tokens and signing keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import typer

from mana.auth.keys import rotate_signing_key, valid_keys
from mana.cli.common import console, fail, load_settings
from mana.db import create_engine, create_sessionmaker, transaction
from mana.kit.clock import Clock

app = typer.Typer(help="Tokens and signing keys.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys for access tokens.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def token(
    email: str = typer.Option(..., "--email"),
    password: str = typer.Option(..., "--password", envvar="MANA_ADMIN_PASSWORD"),
    auth: str | None = typer.Option(None, "--auth", help="Auth service URL (MANA_AUTH_URL)."),
) -> None:
    """Log in and print an access token (e.g. for MANA_ADMIN_JWT)."""
    base = (auth or load_settings().auth_url).rstrip("/")
    try:
        response = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30
        )
    except httpx.HTTPError as exc:
        fail(f"cannot reach the auth service at {base}: {exc}")
    if response.status_code != 200:
        fail(
            f"login failed ({response.status_code}): {response.json().get('message', response.text)}"
        )
    print(response.json()["token"])


async def _rotate(database_url: str, grace_seconds: int, development: bool) -> str:
    engine = create_engine(database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            row = await rotate_signing_key(
                session,
                now=Clock().now(),
                grace=timedelta(seconds=grace_seconds),
                development=development,
            )
            return row.kid
    finally:
        await engine.dispose()


@keys_app.command("rotate")
def rotate() -> None:
    """Add a new signing key; the old one verifies for MANA_KEY_ROTATION_GRACE_SECONDS more."""
    settings = load_settings()
    kid = asyncio.run(
        _rotate(
            settings.database_url, settings.key_rotation_grace_seconds, not settings.is_production
        )
    )
    console.print(
        f"new signing key {kid} (running servers pick it up within "
        f"{settings.key_refresh_seconds:g} s)"
    )


async def _list(database_url: str) -> list[tuple[str, str, bool]]:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await valid_keys(session, now=Clock().now())
            return [
                (
                    r.kid,
                    "signing"
                    if r.retired_at is None
                    else f"verifying until {r.expires_at:%Y-%m-%d %H:%M}Z",
                    r.development,
                )
                for r in rows
            ]
    finally:
        await engine.dispose()


@keys_app.command("list")
def list_keys() -> None:
    """Show the keys that currently sign or verify tokens."""
    rows = asyncio.run(_list(load_settings().database_url))
    if not rows:
        fail(
            "no signing keys yet; start `mana serve auth` (development) or run `mana auth keys rotate`"
        )
    for kid, state, development in rows:
        console.print(f"{kid}  {state}{'  (development)' if development else ''}")
