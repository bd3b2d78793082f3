"""The gate in front of `/mcp`: origin/host, bearer token, protocol era, active space.

Every HTTP request to the MCP endpoint passes here before the SDK sees it, in this order:

1. Host/Origin allow-lists (DNS-rebinding protection) — 421 / 403.
2. `Authorization: Bearer <access token>`, verified with `verify_access_token` (EdDSA pinned,
   `iss`/`aud`/`exp` checked) against the auth service's JWKS — 401 with `WWW-Authenticate:
   Bearer` when missing or bad; 503 when the keys cannot be fetched. No other credential is
   accepted: no service key, no admin bypass. The token goes no further than this function.
   The token is checked on every request, as MCP's authorization rules ask, but its signature
   only the first time (`mana.auth.tokens.VerifiedTokens`): later requests with the same token
   check its expiry and that the JWKS still holds the very key that verified it.
3. The protocol era: only the handshake (initialize + `Mcp-Session-Id`) protocol versions are
   served. A 2026-07-28 request (the SDK client's `mode="auto"` probe) gets the JSON-RPC error
   -32022 naming the versions we speak; the SDK client then falls back to the handshake by
   itself, so `auto` clients work — on the stateful, owner-bound session path. The SDK's
   stateless 2026 path is never reached (see `mana.mcp.app` for why).
4. `X-Mana-Space`: a space the user belongs to (403 otherwise, 400 if it is not a UUID);
   absent → the user's personal space. Positive answers are cached for a few seconds
   (`mana.mcp.spaces.MembershipCache`).

It then sets `scope["user"]` to the SDK's `AuthenticatedUser` for this principal — the SDK binds
each session to the principal that opened it and answers 404 to anyone else presenting its id —
and `scope["state"]["mana_principal"]` for the tool handlers.

Rejections are JSON-RPC error objects (`{"jsonrpc", "id": null, "error": {code, message, data}}`)
with the HTTP status above: that is the error shape of this endpoint (the SDK answers the same
way for unknown sessions), and the official client hands such a message to its caller instead of
a bare "Server returned an error response". `error.data` carries `{"error": <short code>}`.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp_types import INTERNAL_ERROR, INVALID_REQUEST, UNSUPPORTED_PROTOCOL_VERSION
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mana.auth.tokens import AccessClaims, InvalidToken, VerifiedTokens
from mana.mcp.jwks import JwksUnavailable
from mana.mcp.runtime import McpRuntime
from mana.mcp.spaces import (
    SPACE_HEADER,
    InvalidSpaceHeader,
    MembershipCache,
    NoActiveUser,
    NotAMember,
    parse_space_header,
    resolve_space,
)

logger = logging.getLogger(__name__)

PRINCIPAL_KEY = "mana_principal"
PROTOCOL_VERSION_HEADER = "mcp-protocol-version"


@dataclass(frozen=True)
class Principal:
    """Who is calling and where: read by the tool handlers from the request's scope."""

    user_id: uuid.UUID
    kind: str
    space_id: uuid.UUID


class Rejected(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        code: int = INVALID_REQUEST,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.code = code
        self.data = data
        self.headers = headers or {}

    async def respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        data = {"error": self.error, **(self.data or {})}
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": self.code, "message": self.message, "data": data},
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in self.headers.items()),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _unauthorized(message: str, *, presented: bool) -> Rejected:
    # RFC 6750 §3: no error code when no credentials were sent at all.
    challenge = (
        f'Bearer error="invalid_token", error_description="{message}"' if presented else "Bearer"
    )
    return Rejected(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


def bearer_token(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class McpAuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: McpRuntime,
        issuer: str,
        audience: str,
        security: TransportSecuritySettings,
        memberships: MembershipCache,
    ) -> None:
        self.app = app
        self._memberships = memberships
        self._runtime = runtime
        self._issuer = issuer
        self._transport_security = TransportSecurityMiddleware(security)
        self.tokens = VerifiedTokens(issuer=issuer, audience=audience)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            principal, claims = await self._admit(scope)
        except Rejected as rejection:
            logger.info("mcp request rejected: %s %s", rejection.status, rejection.error)
            await rejection.respond(scope, receive, send)
            return
        subject = str(principal.user_id)
        # The SDK binds a session to (client_id, iss, sub) of the request that opened it; the
        # token string itself is not kept (the jti stands in for it), so it can't leak onwards.
        scope["user"] = AuthenticatedUser(
            AccessToken(
                token=claims.jti,
                client_id=subject,
                subject=subject,
                scopes=[],
                expires_at=claims.exp,
                claims={"iss": self._issuer},
            )
        )
        scope.setdefault("state", {})[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)

    async def _admit(self, scope: Scope) -> tuple[Principal, AccessClaims]:
        request = Request(scope)
        refused = await self._transport_security.validate_request(request, is_post=False)
        if refused is not None:
            error = "invalid_host" if refused.status_code == 421 else "invalid_origin"
            raise Rejected(refused.status_code, error, bytes(refused.body).decode())

        token = bearer_token(request.headers)
        if token is None:
            raise _unauthorized("missing bearer token", presented=False)
        try:
            claims = await self.tokens.verify(token, key_for_kid=self._runtime.keys.key_for_kid)
        except InvalidToken as exc:
            raise _unauthorized(str(exc), presented=True) from exc
        except JwksUnavailable as exc:
            raise Rejected(
                503,
                "auth_unavailable",
                "cannot verify the token right now: the auth service's keys are unreachable",
                code=INTERNAL_ERROR,
                headers={"Retry-After": "5"},
            ) from exc

        version = request.headers.get(PROTOCOL_VERSION_HEADER)
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            raise Rejected(
                400,
                "unsupported_protocol_version",
                "Unsupported protocol version: this server keeps stateful sessions; "
                "connect with the initialize handshake",
                code=UNSUPPORTED_PROTOCOL_VERSION,
                data={"supported": list(HANDSHAKE_PROTOCOL_VERSIONS), "requested": version},
            )

        try:
            requested = parse_space_header(request.headers.get(SPACE_HEADER))
            space_id = self._memberships.get(claims.sub, requested)
            if space_id is None:
                async with self._runtime.reader() as session:
                    space_id = await resolve_space(session, user_id=claims.sub, requested=requested)
                self._memberships.put(claims.sub, requested, space_id)
        except InvalidSpaceHeader as exc:
            raise Rejected(400, "invalid_space", str(exc)) from exc
        except NotAMember as exc:
            raise Rejected(403, "forbidden", str(exc)) from exc
        except NoActiveUser as exc:
            raise _unauthorized(str(exc), presented=True) from exc
        return Principal(user_id=claims.sub, kind=claims.kind, space_id=space_id), claims
