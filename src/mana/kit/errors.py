"""Errors that know their HTTP status, and the handlers that render them as JSON.

Services raise these (never FastAPI's HTTPException) so the same service function works from a
route, a CLI command or the runner. Every error body is `{error, message, details?}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class AppError(Exception):
    status_code = 400
    error = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers


class Unauthorized(AppError):
    status_code = 401
    error = "unauthorized"

    def __init__(self, message: str = "missing or invalid credentials", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class Forbidden(AppError):
    status_code = 403
    error = "forbidden"


class NotFound(AppError):
    status_code = 404
    error = "not_found"


class Conflict(AppError):
    status_code = 409
    error = "conflict"


class InvalidInput(AppError):
    """Input that is well-formed but breaks a rule only the service can check (422)."""

    status_code = 422
    error = "validation_error"


class TooManyRequests(AppError):
    status_code = 429
    error = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class PayloadTooLarge(AppError):
    status_code = 413
    error = "payload_too_large"


class DatabaseUnavailable(AppError):
    """The database cannot be reached (refused, reset, timed out): a retry later may succeed."""

    status_code = 503
    error = "database_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class RateLimitStoreUnavailable(AppError):
    """The shared rate-limit store (Redis) cannot be reached. Sign-in is refused rather than
    let through unthrottled: brute-force protection that fails open protects nothing."""

    status_code = 503
    error = "rate_limit_store_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


def error_body(error: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error, "message": message}
    if details is not None:
        body["details"] = details
    return body


def _field_path(loc: tuple[Any, ...]) -> str:
    """('body', 'actions', 3, 'seq') -> 'actions[3].seq' — the offending field, readable."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            # A JSON syntax error's loc ends in a character offset, not a field: name the body.
            "field": "body" if e.get("type") == "json_invalid" else _field_path(tuple(e["loc"])),
            "message": str(e["msg"]),
        }
        for e in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.error, exc.message, exc.details),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = validation_details(list(exc.errors()))
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return JSONResponse(error_body("validation_error", message, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(error, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
