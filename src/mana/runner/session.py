"""A persona's way in: log in like a person (derived password), then open an MCP session with
the persona's own token and the chosen space. No service-key shortcut anywhere on this path."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mana.kit.clock import Clock
from mana.personas.password import derive_persona_password
from mana.runner.recording import RecordingToolBox, json_payload
from mana.runner.types import PersonaProfile, ToolInfo

logger = logging.getLogger(__name__)


class LoginFailed(Exception):
    """The persona could not sign in. `service` is set when that was an outage (the auth
    service or its database unreachable), not a refusal of this persona."""

    def __init__(self, message: str, *, service: str | None = None) -> None:
        super().__init__(message)
        self.service = service


class PersonaAuth:
    """Logs personas in and keeps each one's refresh token, so the next tick refreshes instead
    of presenting the password again (as a returning user's app would)."""

    def __init__(self, auth_url: str, seed_secret: str, client: httpx.AsyncClient) -> None:
        self.base_url = auth_url
        self._base = auth_url.rstrip("/") + "/api/v1/auth"
        self._secret = seed_secret
        self._client = client
        self._refresh_tokens: dict[str, str] = {}

    async def access_token(self, persona: PersonaProfile) -> str:
        refresh = self._refresh_tokens.pop(persona.email, None)
        if refresh is not None:
            response = await self._client.post(
                f"{self._base}/refresh", json={"refreshToken": refresh}
            )
            if response.status_code == 200:
                return self._keep(persona, response.json())
            logger.info(
                "refresh for %s refused (%s); logging in", persona.email, response.status_code
            )
        password = derive_persona_password(persona.email, self._secret)
        try:
            response = await self._client.post(
                f"{self._base}/login", json={"email": persona.email, "password": password}
            )
        except httpx.TransportError as exc:
            raise LoginFailed(
                f"login failed: auth service unreachable ({type(exc).__name__}: {exc})",
                service="auth",
            ) from exc
        if response.status_code != 200:
            error = None
            try:
                answer = response.json()
                message, error = answer.get("message", response.text), answer.get("error")
            except (ValueError, AttributeError):
                message = response.text
            # A 5xx is the service's trouble, not this persona's: not the persona's day.
            service = (
                "database"
                if error == "database_unavailable"
                else "auth"
                if response.status_code >= 500
                else None
            )
            raise LoginFailed(f"login failed ({response.status_code}): {message}", service=service)
        return self._keep(persona, response.json())

    def _keep(self, persona: PersonaProfile, body: dict[str, Any]) -> str:
        self._refresh_tokens[persona.email] = body["refreshToken"]
        return str(body["token"])


@contextlib.asynccontextmanager
async def mcp_toolbox(
    mcp_url: str,
    *,
    token: str,
    space_id: uuid.UUID | None,
    clock: Clock,
    call_timeout_seconds: float = 60.0,
) -> AsyncIterator[RecordingToolBox]:
    """An MCP session as the persona, in the chosen space, with every call recorded."""
    headers = {"Authorization": f"Bearer {token}"}
    if space_id is not None:
        headers["X-Mana-Space"] = str(space_id)
    http = httpx2.AsyncClient(
        headers=headers, timeout=httpx2.Timeout(30.0, read=call_timeout_seconds)
    )
    async with (
        http,
        Client(
            streamable_http_client(mcp_url, http_client=http),
            # "legacy": a stateful session bound to this persona (the default probes a
            # stateless protocol revision that has no session at all).
            mode="legacy",
            read_timeout_seconds=call_timeout_seconds,
        ) as client,
    ):
        listed = await client.list_tools()
        tools = [
            ToolInfo(
                name=t.name, description=t.description or "", input_schema=dict(t.input_schema)
            )
            for t in listed.tools
        ]

        async def raw_call(name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
            result = await client.call_tool(name, arguments)
            text = "\n".join(getattr(c, "text", "") for c in result.content)
            if result.is_error:
                return True, text or "tool failed without a message"
            if result.structured_content is not None:
                return False, result.structured_content
            return False, json_payload(text)

        yield RecordingToolBox(tools, raw_call, clock)
