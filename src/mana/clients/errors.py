"""What every HTTP client of the auth service raises: one family, so a CLI or a page handles
"no answer", "an error answer" and "an answer we cannot read" the same way whichever client
it used. `str()` of each is one line that reads well in a terminal."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

_T = TypeVar("_T")


class ClientError(Exception):
    """Base of everything the clients raise."""


class ServiceUnreachable(ClientError):
    """No HTTP answer: connection refused, DNS failure, timeout."""

    @classmethod
    def of(cls, service: str, base_url: str, exc: httpx.HTTPError) -> ServiceUnreachable:
        reason = str(exc) or type(exc).__name__
        return cls(f"cannot reach the {service} at {base_url}: {reason}")


class ApiError(ClientError):
    """The server answered with an error status: its `{error, message, details}` and the status."""

    def __init__(
        self, status: int, error: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        self.status = status
        self.error = error
        self.message = message
        self.details = details or []
        super().__init__(f"{message} (HTTP {status} {error})")

    @classmethod
    def of(cls, response: httpx.Response) -> ApiError:
        error = "http_error"
        message = response.reason_phrase or "error"
        details: list[dict[str, Any]] | None = None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            error = str(body.get("error") or error)
            message = str(body.get("message") or message)
            raw = body.get("details")
            if isinstance(raw, list):
                details = [d for d in raw if isinstance(d, dict)]
        elif response.text.strip():
            # A proxy's HTML error page: keep one short line of it.
            message = response.text.strip().splitlines()[0][:200]
        return cls(response.status_code, error, message, details)


def parse_answer(adapter: TypeAdapter[_T], response: httpx.Response) -> _T:
    """The answer as `adapter`'s type, or a one-line ClientError naming the first bad field."""
    where = f"{response.request.method} {response.request.url.path}"
    try:
        return adapter.validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise ClientError(
            f"unexpected answer from {where} (HTTP {response.status_code}): {field}: {first['msg']}"
        ) from exc
