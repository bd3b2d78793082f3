"""The auth service application (`mana serve auth`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mana import __version__
from mana.auth.admin_cache import AdminCache
from mana.auth.admin_routes import router as admin_users_router
from mana.auth.keys import KeyRing
from mana.auth.routes import router as auth_router
from mana.auth.routes import well_known
from mana.auth.tokens import VerifiedTokens
from mana.budget.routes import router as llm_budget_router
from mana.config import Settings
from mana.db import (
    create_engine,
    create_sessionmaker,
    database_ok,
    one_statement_engine,
    reads_only_engine,
)
from mana.findings.delivery import start_alerts, stop_alerts
from mana.findings.routes import router as findings_router
from mana.kit.body_limit import BodySizeLimit
from mana.kit.clock import Clock
from mana.kit.errors import error_body, install_error_handlers
from mana.kit.observability import install_http_metrics
from mana.kit.openapi import document_common_statuses
from mana.kit.outage import install_database_outage_handling, watch_engine
from mana.kit.ratelimit import SharedLimiter, parse_networks, shared_storage
from mana.personas.admin_routes import router as admin_personas_router
from mana.personas.internal_routes import router as internal_personas_router
from mana.personas.memory_routes import admin_router as admin_memory_router
from mana.personas.memory_routes import internal_router as internal_memory_router
from mana.personas.sweeper import StaleTickSweeper
from mana.personas.tick_routes import router as admin_ticks_router
from mana.spaces.routes import router as spaces_router


def create_auth_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    settings.require_production_secrets()
    clock = clock or Clock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url,
            echo=settings.database_echo,
            connect_timeout=settings.database_connect_timeout_seconds,
            pool_timeout=settings.database_pool_timeout_seconds,
        )
        watch_engine(engine, outage)
        app.state.engine = engine
        # For the login's lookup and refresh-token INSERT (mana.auth.routes.login).
        app.state.single_statements = one_statement_engine(engine)
        # Sign-in limits live in Redis or the database, so every auth process counts together.
        storage = shared_storage(redis_url=settings.redis_url, engine=engine)
        window, prefix = settings.login_rate_window_seconds, settings.rate_limit_key_prefix
        app.state.login_limiter = SharedLimiter(
            storage,
            name="signin-account",
            limit=settings.login_rate_limit,
            window=window,
            prefix=prefix,
        )
        app.state.client_limiter = SharedLimiter(
            storage,
            name="signin-client",
            limit=settings.login_rate_limit_per_client,
            window=window,
            prefix=prefix,
        )
        app.state.sessionmaker = create_sessionmaker(engine)
        # GET routes' sessions (mana.auth.deps): set up to only read once, not per request.
        app.state.reader = create_sessionmaker(reads_only_engine(engine))
        app.state.stale_tick_sweeper = StaleTickSweeper(
            app.state.sessionmaker, clock, interval=settings.stale_tick_sweep_seconds
        )
        app.state.keyring = KeyRing(
            app.state.sessionmaker, clock, refresh_seconds=settings.key_refresh_seconds
        )
        try:
            # Inside the try: a refused start-up (production without a proper key) still closes
            # the engine's connections.
            await app.state.keyring.ensure_signing_key(production=settings.is_production)
            await start_alerts(app)  # evaluation after tick finishes + webhook delivery
            app.state.stale_tick_sweeper.start()
            yield
        finally:
            await app.state.stale_tick_sweeper.stop()
            await stop_alerts(app)
            await engine.dispose()

    app = FastAPI(title="Mana auth service", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.clock = clock
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    # Each access token's signature is checked once, not on every request (see VerifiedTokens).
    app.state.verified_tokens = VerifiedTokens(
        issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    # Confirmed admins for a few seconds, on the app's clock (tests move it past the bound).
    app.state.admin_cache = AdminCache(
        ttl=settings.admin_cache_seconds, now=lambda: clock.now().timestamp()
    )
    install_error_handlers(app)
    outage = install_database_outage_handling(app, service="auth")
    install_http_metrics(app, service="auth")
    app.include_router(auth_router)
    app.include_router(well_known)
    app.include_router(spaces_router)
    app.include_router(admin_users_router)
    app.include_router(admin_personas_router)
    # Before the persona routes: its paths must not be read as `/{persona_id}/…`.
    app.include_router(llm_budget_router)
    app.include_router(internal_personas_router)
    app.include_router(admin_ticks_router)
    app.include_router(admin_memory_router)
    app.include_router(internal_memory_router)
    app.include_router(findings_router)
    document_common_statuses(app)
    # Added last, so it is the outermost layer: an oversized body is refused before anything
    # (metrics, routing, validation) touches it.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> JSONResponse:
        problem = await database_ok(request.app.state.engine)
        if problem is not None:
            return JSONResponse(error_body("unhealthy", problem), status_code=503)
        return JSONResponse({"status": "ok", "service": "auth", "version": __version__})

    return app
