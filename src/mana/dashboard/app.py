"""The dashboard application (`mana serve dashboard`): server-rendered pages over the admin API.

No database here: every figure comes from the auth service's admin API over HTTP, as the signed
in admin (`api.py`). This module wires the app — the session cookie, security headers, the
static files and templates, and how the API's failures become pages.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import RequestResponseEndpoint

from mana import __version__
from mana.clients.errors import ApiError, ServiceUnreachable
from mana.config import Settings
from mana.dashboard.api import AuthApi, Refresher, SignedOut
from mana.dashboard.charts import fmt
from mana.dashboard.routes import router
from mana.dashboard.sessions import COOKIE_NAME, Session, SessionCodec
from mana.dashboard.web import (
    HERE,
    CsrfFailed,
    SignInRequired,
    csrf_failed_page,
    error_page,
    request_path,
    set_session,
    sign_in_url,
)
from mana.kit.clock import Clock

# Scripts and styles only from this origin; nothing may frame the dashboard or post elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def static_version() -> str:
    digest = hashlib.sha256()
    for path in sorted((HERE / "static").rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def create_dashboard_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    settings.require_dashboard_secret()
    clock = clock or Clock()
    codec = SessionCodec(
        settings.dashboard_secret.get_secret_value(),
        max_age_seconds=settings.dashboard_session_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.auth_api = AuthApi(
            settings.auth_url, timeout=settings.dashboard_api_timeout_seconds
        )
        app.state.refresher = Refresher(app.state.auth_api)
        try:
            yield
        finally:
            await app.state.auth_api.aclose()

    app = FastAPI(
        title="Mana dashboard",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["fmt"] = fmt
    templates.env.globals["version"] = static_version()
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(router)

    @app.middleware("http")
    async def session_cookie(request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path.startswith("/static/"):
            response = await call_next(request)
            response.headers.update(SECURITY_HEADERS)
            # Pages link static files with a digest of their contents (`?v=`), so a browser
            # may keep them for a day and a changed file still reaches it at once.
            response.headers["Cache-Control"] = "public, max-age=86400"
            return response
        stored = codec.decode(request.cookies.get(COOKIE_NAME), now=clock.now())
        request.state.session = stored or Session()
        # A visitor without a valid cookie gets one, so its first form already has a CSRF token.
        request.state.session_changed = stored is None
        response = await call_next(request)
        if request.state.session_changed:
            response.set_cookie(
                COOKIE_NAME,
                codec.encode(request.state.session),
                max_age=settings.dashboard_session_seconds,
                httponly=True,
                samesite="lax",
                secure=settings.is_production,
                path="/",
            )
        response.headers.update(SECURITY_HEADERS)
        # Admin data: never kept by a shared cache or the browser's back/forward cache.
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(sign_in_url(exc.next_path), status_code=303)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return csrf_failed_page(request)

    @app.exception_handler(SignedOut)
    async def _signed_out(request: Request, exc: SignedOut) -> Response:
        set_session(request, Session())
        target = sign_in_url(request_path(request), reason=exc.reason)
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(ServiceUnreachable)
    async def _unreachable(request: Request, exc: ServiceUnreachable) -> Response:
        return error_page(request, 503, "The auth service did not answer", str(exc))

    @app.exception_handler(ApiError)
    async def _problem(request: Request, exc: ApiError) -> Response:
        if exc.status == 404:
            return error_page(request, 404, "Not found", exc.message)
        if exc.status == 422:
            return error_page(request, 400, "Bad request", exc.message)
        return error_page(request, 502, "The auth service answered with an error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _bad_query(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(str(e["loc"][-1]) for e in exc.errors())
        return error_page(request, 400, "Bad request", f"Check these values: {fields}.")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(request, 404, "Not found", "There is no such page.")
        return error_page(request, exc.status_code, "Request refused", str(exc.detail))

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "dashboard", "version": __version__})

    return app
