"""A persona's way in: log in like a person (derived password), then open an MCP session with
the persona's own token and the chosen space. No service-key shortcut anywhere on this path.

What does not change between ticks is kept (`McpConnections`): the HTTP connection pool with
its TLS set-up, and the tool list (with its compiled output-schema validators) per server
version. An MCP session is never shared: every tick opens its own, as its persona, and closes it.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx
import httpx2
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ListToolsResult

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


# The tool list is the same for every persona (the gateway lists one set to everyone) and
# changes with the server, which says its version when a session starts. A server redeployed
# under the same version string is still listed afresh this often.
TOOL_LIST_MAX_AGE_SECONDS = 600.0


def tool_infos(listed: ListToolsResult) -> list[ToolInfo]:
    return [
        ToolInfo(
            name=t.name,
            description=t.description or "",
            input_schema=dict(t.input_schema),
            output_schema=dict(t.output_schema) if t.output_schema else None,
            read_only=t.annotations.read_only_hint if t.annotations else None,
            destructive=t.annotations.destructive_hint if t.annotations else None,
        )
        for t in listed.tools
    ]


@dataclass
class ToolList:
    """One server version's tools, as listed, and what the SDK derived from them."""

    server: tuple[str, str]  # (name, version) from the session's initialize result
    listed: ListToolsResult
    tools: list[ToolInfo]
    listed_at: float
    # Compiled output-schema validators by tool name: compiling one costs ~60 validations.
    validators: dict[str, Any] = field(default_factory=dict)


class _BorrowedPool(httpx2.AsyncBaseTransport):
    """The shared pool, lent to one tick's HTTP client: closing that client (the MCP client
    does, at the end of the tick) must not close the pool under the other ticks."""

    def __init__(self, pool: httpx2.AsyncHTTPTransport) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self._pool.handle_async_request(request)

    async def aclose(self) -> None:
        pass


class McpConnections:
    """What one runner's MCP sessions share between ticks, owned by the runner: one HTTP
    connection pool, and the tool list per MCP server version. Requests carry their persona's
    token and session id each; a pooled connection is only a socket."""

    def __init__(
        self,
        *,
        tool_list_max_age_seconds: float = TOOL_LIST_MAX_AGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = httpx2.AsyncHTTPTransport()
        self._tool_lists: dict[str, ToolList] = {}  # by MCP URL
        self._max_age = tool_list_max_age_seconds
        self._monotonic = monotonic
        self.tool_lists_fetched = 0

    def http_client(self, headers: dict[str, str], timeout: httpx2.Timeout) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            transport=_BorrowedPool(self._pool), headers=headers, timeout=timeout
        )

    async def tools(self, mcp_url: str, client: Client) -> ToolList:
        """The server's tools: kept from an earlier session of the same server version, else
        listed (and kept). A kept list is handed to the new session as if it had listed it."""
        info = client.server_info
        server = (info.name, info.version) if info is not None else None
        kept = self._tool_lists.get(mcp_url)
        if (
            kept is not None
            and kept.server == server
            and self._monotonic() - kept.listed_at < self._max_age
            and _adopt(client.session, kept)
        ):
            return kept
        listed = await client.list_tools()
        self.tool_lists_fetched += 1
        fresh = ToolList(server or ("", ""), listed, tool_infos(listed), self._monotonic())
        if server is not None:  # a server that does not say its version is listed every time
            self._tool_lists[mcp_url] = fresh
        else:
            self._tool_lists.pop(mcp_url, None)
        return fresh

    def forget_tools(self, mcp_url: str) -> None:
        """The server refused a tool it listed: its list changed under the same version."""
        self._tool_lists.pop(mcp_url, None)

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _adopt(session: ClientSession, kept: ToolList) -> bool:
    """Give a new session the kept listing, so it validates results without listing again.

    The SDK has no public way to seed a session's listing (its own response cache uses these
    two members, and deep-copies every hit); if they are gone in a future SDK, the session
    simply lists its tools again (`test_session_reuse` notices)."""
    absorb = getattr(session, "_absorb_tool_listing", None)
    validators = getattr(session, "_tool_output_validators", None)
    if absorb is None or not isinstance(validators, dict):
        return False
    absorb(kept.listed.model_copy(), complete=True)
    validators.update(kept.validators)
    return True


def _keep_validators(session: ClientSession, kept: ToolList) -> None:
    validators = getattr(session, "_tool_output_validators", None)
    if isinstance(validators, dict):
        kept.validators.update(validators)


@contextlib.asynccontextmanager
async def mcp_toolbox(
    mcp_url: str,
    *,
    token: str,
    space_id: uuid.UUID | None,
    clock: Clock,
    call_timeout_seconds: float = 60.0,
    connections: McpConnections | None = None,
) -> AsyncIterator[RecordingToolBox]:
    """An MCP session as the persona, in the chosen space, with every call recorded.

    `connections`: the runner's shared pool and tool lists; without it the session makes its
    own client and lists the tools itself."""
    headers = {"Authorization": f"Bearer {token}"}
    if space_id is not None:
        headers["X-Mana-Space"] = str(space_id)
    timeout = httpx2.Timeout(30.0, read=call_timeout_seconds)
    http = (
        connections.http_client(headers, timeout)
        if connections is not None
        else httpx2.AsyncClient(headers=headers, timeout=timeout)
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
        kept: ToolList | None = None
        if connections is not None:
            kept = await connections.tools(mcp_url, client)
            tools = kept.tools
        else:
            tools = tool_infos(await client.list_tools())
        listed_names = {t.name for t in tools}

        async def raw_call(name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
            result = await client.call_tool(name, arguments)
            text = "\n".join(getattr(c, "text", "") for c in result.content)
            if result.is_error:
                if connections is not None and name in listed_names and "unknown tool" in text:
                    connections.forget_tools(mcp_url)
                return True, text or "tool failed without a message"
            if result.structured_content is not None:
                return False, result.structured_content
            return False, json_payload(text)

        try:
            yield RecordingToolBox(tools, raw_call, clock)
        finally:
            if kept is not None:
                _keep_validators(client.session, kept)
