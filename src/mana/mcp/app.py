"""The MCP tool server application (`mana serve mcp`, port 3069, endpoint `/mcp`).

The official SDK's low-level `Server` (tools come from our registry, not from Python
signatures) behind `StreamableHTTPSessionManager`: stateful sessions, JSON responses (DESIGN §6:
markedly cheaper than SSE), DNS-rebinding protection with the allow-lists from settings.

About the SDK's 2026-07-28 stateless path (`Client(mode="auto")`, the SDK default): it has no
`Mcp-Session-Id`, so none of the session rules (one owner per session, idle expiry) apply to
it, and the manager routes to it on the request header alone. We do not serve it: the gate
(`mana.mcp.auth`) answers such requests with -32022 listing the handshake versions, and the SDK
client then falls back to `initialize` on its own. So `auto` clients are accepted — they end up
on the same stateful, owner-bound path as `mode="legacy"` clients (the runner's choice) — and
there is exactly one path to secure and to test.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route

from mana import __version__
from mana.config import Settings
from mana.db import create_engine, create_sessionmaker, database_ok, reads_only_engine
from mana.kit.clock import Clock
from mana.kit.errors import error_body, install_error_handlers
from mana.kit.observability import install_http_metrics
from mana.mcp.auth import McpAuthMiddleware
from mana.mcp.faults import FaultInjector
from mana.mcp.gateway import Gateway
from mana.mcp.jwks import JWKS_PATH, JwksKeyCache
from mana.mcp.limits import RequestLimits
from mana.mcp.metrics import ToolMetrics
from mana.mcp.runtime import McpRuntime
from mana.mcp.spaces import MembershipCache
from mana.tools.registry import ToolSpec, exposed_tools

MCP_PATH = "/mcp"
JWKS_TIMEOUT_SECONDS = 5.0
# Connections kept open. Each tool call holds one for its statements; with SQLAlchemy's
# default of 5, eight concurrent clients kept opening and closing overflow connections (a
# PostgreSQL backend started per call: 8% of the server's CPU for the echo tool, issue 14).
DATABASE_POOL_SIZE = 10


def create_mcp_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    tools: Mapping[str, ToolSpec] | None = None,
) -> FastAPI:
    """`tools` replaces the registry (tests inject tools); either way only tools that may be
    exposed (user-space, read or write) are served: no admin or destructive tool, ever.

    Raises ProductionConfigError for MANA_FAULTS in production and FaultRulesError for a
    missing or invalid rules file: both are start-up errors with one clear line."""
    settings.require_no_faults_in_production()
    clock = clock or Clock()
    served = {
        name: spec
        for name, spec in sorted((exposed_tools() if tools is None else tools).items())
        if spec.exposed
    }
    runtime = McpRuntime()
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(settings.mcp_allowed_hosts),
        allowed_origins=list(settings.mcp_allowed_origins),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url,
            echo=settings.database_echo,
            connect_timeout=settings.database_connect_timeout_seconds,
            pool_timeout=settings.database_pool_timeout_seconds,
            pool_size=DATABASE_POOL_SIZE,
        )
        # Only ever talks to the auth service, and only for its public keys: the caller's
        # token is never sent anywhere.
        auth_client = httpx.AsyncClient(
            base_url=settings.auth_url, timeout=JWKS_TIMEOUT_SECONDS, follow_redirects=False
        )
        keys = JwksKeyCache(
            auth_client,
            url=JWKS_PATH,
            min_refetch_interval=settings.mcp_jwks_min_refetch_seconds,
            max_age=settings.mcp_jwks_max_age_seconds,
        )
        runtime.open(
            sessionmaker=create_sessionmaker(engine),
            reader=create_sessionmaker(reads_only_engine(engine)),
            keys=keys,
            serialize_writes=engine.dialect.name == "sqlite",
        )
        app.state.engine = engine
        app.state.keys = keys
        try:
            async with session_manager.run():
                yield
        finally:
            runtime.close()
            await auth_client.aclose()
            await engine.dispose()

    app = FastAPI(title="Mana MCP server", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    registry = install_http_metrics(app, service="mcp")
    faults = (
        FaultInjector(
            Path(settings.faults.strip()),
            registry=registry,
            tool_names=list(served),
            check_interval=settings.faults_check_seconds,
        )
        if settings.faults.strip()
        else None
    )
    gateway = Gateway(
        tools=served,
        runtime=runtime,
        clock=clock,
        metrics=ToolMetrics(registry, list(served)),
        faults=faults,
    )
    session_manager = StreamableHTTPSessionManager(
        app=gateway.server(name="mana", version=__version__),
        json_response=True,
        stateless=False,
        security_settings=security,
        session_idle_timeout=settings.mcp_session_idle_timeout_seconds,
        max_sessions=settings.mcp_max_sessions,
        max_request_body_size=settings.mcp_max_body_bytes,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.gateway = gateway
    app.state.faults = faults
    app.state.session_manager = session_manager
    gate = McpAuthMiddleware(
        RequestLimits(
            StreamableHTTPASGIApp(session_manager),
            max_body_bytes=settings.mcp_max_body_bytes,
        ),
        runtime=runtime,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        security=security,
        memberships=MembershipCache(ttl=settings.mcp_membership_cache_seconds),
    )
    app.state.verified_tokens = gate.tokens
    # A Route, not a Mount: exactly /mcp (no redirect to /mcp/), every method passed through.
    app.router.routes.append(Route(MCP_PATH, endpoint=gate))

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> JSONResponse:
        problem = await database_ok(request.app.state.engine)
        if problem is not None:
            return JSONResponse(error_body("unhealthy", problem), status_code=503)
        return JSONResponse(
            {
                "status": "ok",
                "service": "mcp",
                "version": __version__,
                "tools": len(served),
                "signingKeys": len(request.app.state.keys.kids),
            }
        )

    return app


def configure_logging(level: int = logging.INFO) -> None:
    """For `mana serve mcp`: the per-call lines go to stderr as bare JSON (one object a line,
    for log shippers); other `mana.*` records get a timestamped plain format. Third-party
    loggers keep their defaults (the SDK logs session ids at INFO; we don't want those)."""
    calls = logging.getLogger("mana.mcp.calls")
    if not calls.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        calls.addHandler(handler)
        calls.propagate = False
    calls.setLevel(level)
    mana = logging.getLogger("mana")
    if not mana.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        mana.addHandler(handler)
    mana.setLevel(level)
