"""The auth service application (`mana serve auth`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mana import __version__
from mana.auth.admin_routes import router as admin_users_router
from mana.auth.keys import KeyRing
from mana.auth.routes import router as auth_router
from mana.auth.routes import well_known
from mana.auth.tokens import VerifiedTokens
from mana.config import Settings
from mana.db import create_engine, create_sessionmaker, database_ok
from mana.kit.clock import Clock
from mana.kit.errors import error_body, install_error_handlers
from mana.kit.observability import install_http_metrics
from mana.kit.ratelimit import SlidingWindowLimiter
from mana.personas.admin_routes import router as admin_personas_router
from mana.personas.internal_routes import router as internal_personas_router
from mana.spaces.routes import router as spaces_router


def create_auth_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    settings.require_production_secrets()
    clock = clock or Clock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, echo=settings.database_echo)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.keyring = KeyRing(
            app.state.sessionmaker, clock, refresh_seconds=settings.key_refresh_seconds
        )
        try:
            # Inside the try: a refused start-up (production without a proper key) still closes
            # the engine's connections.
            await app.state.keyring.ensure_signing_key(production=settings.is_production)
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="Mana auth service", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.clock = clock
    # Each access token's signature is checked once, not on every request (see VerifiedTokens).
    app.state.verified_tokens = VerifiedTokens(
        issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    app.state.login_limiter = SlidingWindowLimiter(
        limit=settings.login_rate_limit, window=settings.login_rate_window_seconds
    )
    app.state.client_limiter = SlidingWindowLimiter(
        limit=settings.login_rate_limit_per_client, window=settings.login_rate_window_seconds
    )
    install_error_handlers(app)
    install_http_metrics(app, service="auth")
    app.include_router(auth_router)
    app.include_router(well_known)
    app.include_router(spaces_router)
    app.include_router(admin_users_router)
    app.include_router(admin_personas_router)
    app.include_router(internal_personas_router)

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> JSONResponse:
        problem = await database_ok(request.app.state.engine)
        if problem is not None:
            return JSONResponse(error_body("unhealthy", problem), status_code=503)
        return JSONResponse({"status": "ok", "service": "auth", "version": __version__})

    return app
