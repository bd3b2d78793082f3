"""The dashboard's only data source: the auth service's HTTP API, as the signed-in admin.

Responses are parsed with the server's own response models, so a renamed field fails here, in
one place, instead of rendering an empty page. Access tokens last minutes; the caller refreshes
one shortly before it expires (or once after a 401) and hands the new tokens back to the
session. Refresh tokens rotate and a reused one revokes its whole family, so two requests of one
browser must never refresh the same token twice: `Refresher` does one refresh at a time and
hands the recent result to a request that arrives with the same old token.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from mana.auth.schemas import TokenResponse
from mana.clients.errors import ApiError, ClientError, ServiceUnreachable
from mana.dashboard.sessions import Session, Tokens
from mana.kit.clock import Clock

ModelT = TypeVar("ModelT", bound=BaseModel)

# Refresh this long before the access token expires, so a page never starts with a token that
# dies halfway through its API calls.
REFRESH_MARGIN_SECONDS = 30
# How long a refresh result is handed to another request that still carries the old token.
REFRESH_REUSE_SECONDS = 60


class SignInFailed(ClientError):
    """Wrong email or password, or too many attempts (`retry_after` seconds)."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SignedOut(ClientError):
    """The session can no longer act: the refresh token is gone, or the admin role was removed.
    `reason` is a code the sign-in page turns into a sentence ("expired", "forbidden")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parse(model: type[ModelT], response: httpx.Response) -> ModelT:
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError) as exc:
        raise ApiError(
            502, "bad_response", f"the auth service sent an unexpected {model.__name__}: {exc}"
        ) from exc


class AuthApi:
    """One connection pool to the auth service for the whole dashboard process."""

    def __init__(self, base_url: str, *, timeout: float) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnreachable.of("auth service", str(self._http.base_url), exc) from exc

    async def login(self, email: str, password: str) -> TokenResponse:
        response = await self._send(
            "POST", "/api/v1/auth/login", json={"email": email, "password": password}
        )
        if response.status_code == 429:
            retry = response.headers.get("Retry-After")
            raise SignInFailed(
                "Too many sign-in attempts. Try again in a minute.",
                retry_after=int(retry) if retry and retry.isdigit() else None,
            )
        if response.status_code in (401, 422):
            raise SignInFailed("Wrong email or password.")
        if response.status_code != 200:
            raise ApiError.of(response)
        return _parse(TokenResponse, response)

    async def refresh(self, refresh_token: str) -> TokenResponse:
        response = await self._send(
            "POST", "/api/v1/auth/refresh", json={"refreshToken": refresh_token}
        )
        if response.status_code in (401, 422):
            raise SignedOut("expired")
        if response.status_code != 200:
            raise ApiError.of(response)
        return _parse(TokenResponse, response)

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        return await self._send(
            method, path, params=params, headers={"Authorization": f"Bearer {token}"}
        )


def tokens_from(answer: TokenResponse, *, now: datetime) -> Tokens:
    return Tokens(
        access=answer.token,
        refresh=answer.refresh_token,
        access_expires_at=now + timedelta(seconds=answer.expires_in),
    )


class Refresher:
    """One refresh at a time per process, and its result remembered for a minute by the hash of
    the refresh token it replaced (see the module docstring)."""

    def __init__(self, api: AuthApi) -> None:
        self._api = api
        self._lock = asyncio.Lock()
        self._recent: dict[str, tuple[float, TokenResponse]] = {}

    async def refresh(self, refresh_token: str) -> TokenResponse:
        key = hashlib.sha256(refresh_token.encode()).hexdigest()
        async with self._lock:
            now = time.monotonic()
            self._recent = {
                k: v for k, v in self._recent.items() if now - v[0] < REFRESH_REUSE_SECONDS
            }
            if key in self._recent:
                return self._recent[key][1]
            answer = await self._api.refresh(refresh_token)
            self._recent[key] = (now, answer)
            return answer


class AdminCaller:
    """The admin API as one signed-in session sees it, for the length of one page request.
    `on_tokens` receives refreshed tokens so the response can carry them in the cookie."""

    def __init__(
        self,
        *,
        api: AuthApi,
        refresher: Refresher,
        session: Session,
        clock: Clock,
        on_tokens: Callable[[Tokens], None],
    ) -> None:
        if session.tokens is None:
            raise SignedOut("signed_out")
        self._api = api
        self._refresher = refresher
        self._tokens = session.tokens
        self._clock = clock
        self._on_tokens = on_tokens

    async def _refresh(self) -> None:
        answer = await self._refresher.refresh(self._tokens.refresh)
        if answer.user.role != "admin":
            raise SignedOut("forbidden")
        self._tokens = tokens_from(answer, now=self._clock.now())
        self._on_tokens(self._tokens)

    async def _request(
        self, method: str, path: str, params: Mapping[str, Any] | None
    ) -> httpx.Response:
        if self._tokens.expires_within(REFRESH_MARGIN_SECONDS, now=self._clock.now()):
            await self._refresh()
        response = await self._api.call(method, path, token=self._tokens.access, params=params)
        if response.status_code == 401:
            # Expired early (clock skew, a rotated signing key): one refresh, one retry.
            await self._refresh()
            response = await self._api.call(method, path, token=self._tokens.access, params=params)
        if response.status_code == 401:
            raise SignedOut("expired")
        if response.status_code == 403:
            raise SignedOut("forbidden")
        if response.status_code >= 400:
            raise ApiError.of(response)
        return response

    async def get(
        self, path: str, model: type[ModelT], *, params: Mapping[str, Any] | None = None
    ) -> ModelT:
        return _parse(model, await self._request("GET", path, params))

    async def post(self, path: str, model: type[ModelT]) -> ModelT:
        return _parse(model, await self._request("POST", path, None))
