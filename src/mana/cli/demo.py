"""`mana demo`: the whole system on the embedded SQLite default, no API keys, then stop."""

from __future__ import annotations

import json

import httpx
import jwt
import typer
from rich.panel import Panel
from rich.table import Table

from mana import migrate
from mana.auth.app import create_auth_app
from mana.cli.common import console, fail, load_settings, production_guard
from mana.kit.server import BackgroundServer

DEMO_EMAIL = "demo.user@example.com"
DEMO_PASSWORD = "demo-password-2026"


def demo(
    port: int = typer.Option(0, "--port", help="Auth port (0: a free one)."),
) -> None:
    """Migrate, start the auth service, sign up and log in a user, print the token's claims."""
    settings = load_settings()
    production_guard(settings)
    console.rule("[bold]Mana demo")
    console.print(f"database: {settings.database_url}")
    migrate.upgrade(settings.database_url)
    console.print("✓ migrations applied")
    with BackgroundServer(create_auth_app(settings), port=port or None) as auth:
        console.print(f"✓ auth service on {auth.url}")
        with httpx.Client(base_url=auth.url, timeout=30) as client:
            registered = client.post(
                "/api/v1/auth/register",
                json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "name": "Demo User"},
            )
            if registered.status_code not in (201, 409):
                fail(f"sign-up failed ({registered.status_code}): {registered.text}")
            console.print(
                "✓ signed up " + DEMO_EMAIL
                if registered.status_code == 201
                else f"✓ {DEMO_EMAIL} already exists (earlier demo run)"
            )
            login = client.post(
                "/api/v1/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
            )
            if login.status_code != 200:
                fail(f"login failed ({login.status_code}): {login.text}")
            body = login.json()
            jwks = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").json())
            kid = jwt.get_unverified_header(body["token"])["kid"]
            claims = jwt.decode(
                body["token"],
                jwks[kid].key,
                algorithms=["EdDSA"],
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
            )
            me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
            spaces = client.get(
                "/api/v1/spaces", headers={"Authorization": f"Bearer {body['token']}"}
            )

    table = Table(title="user (GET /api/v1/auth/me)", show_header=False)
    for key, value in me.json().items():
        table.add_row(key, str(value))
    console.print(table)
    console.print(Panel(json.dumps(claims, indent=2), title=f"access token claims (kid {kid})"))
    console.print(f"spaces: {', '.join(s['name'] + ' (' + s['type'] + ')' for s in spaces.json())}")
    console.print("✓ services stopped")
