"""HTTP routes of the auth API: thin — validate, call a service, shape the answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from mana.auth import service
from mana.auth.deps import AppClock, AppSettings, CurrentUser, DbSession
from mana.auth.keys import KeyRing, LoadedKey
from mana.auth.models import User
from mana.auth.schemas import LoginRequest, RefreshRequest, RegisterRequest, TokenResponse, UserOut
from mana.auth.tokens import issue_access_token
from mana.config import Settings
from mana.kit.clock import Clock
from mana.kit.errors import TooManyRequests
from mana.kit.ratelimit import SharedLimiter, client_address, private_key

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
well_known = APIRouter(tags=["auth"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Invalid credentials or token"},
    409: {"description": "Conflict"},
    422: {"description": "Invalid input (names the field)"},
    429: {"description": "Too many attempts"},
}


async def _issuing_key(request: Request) -> LoadedKey:
    """Resolved before the route touches its session, never in the middle of its transaction:
    a due key reload opens a second connection, and on SQLite (every transaction takes the write
    lock) that one would wait for this request's own transaction — a 30 s hang, then a 500."""
    keyring: KeyRing = request.app.state.keyring
    return await keyring.signing_key()


IssuingKey = Annotated[LoadedKey, Depends(_issuing_key)]


def _access_token(key: LoadedKey, settings: Settings, user: User, clock: Clock) -> str:
    return issue_access_token(
        user,
        key=key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        now=clock.now(),
        ttl=timedelta(seconds=settings.access_token_ttl_seconds),
    )


async def _verified(candidate: User | None, password: str) -> User | None:
    """The user if the password is theirs, else None (the caller decides what a failure costs)."""
    try:
        return await service.check_password(candidate, password)
    except service.InvalidCredentials:
        return None


@router.post("/register", status_code=201, response_model=UserOut, responses=_ERRORS)
async def register(body: RegisterRequest, session: DbSession, clock: AppClock) -> UserOut:
    user = await service.sign_up(
        session, email=body.email, password=body.password, name=body.name, now=clock.now()
    )
    return UserOut.of(user)


@router.post("/login", response_model=TokenResponse, responses=_ERRORS)
async def login(
    body: LoginRequest,
    request: Request,
    signing_key: IssuingKey,
    settings: AppSettings,
    clock: AppClock,
) -> TokenResponse:
    per_account: SharedLimiter = request.app.state.login_limiter
    per_client: SharedLimiter = request.app.state.client_limiter
    client = private_key(client_address(request, request.app.state.trusted_proxies))
    account_key = (client, private_key(service.normalize_email(body.email)))
    statements = request.app.state.single_statements

    # The user lookup: one statement, outside any transaction (see `one_statement_engine`); nothing is held
    # while hashing. It runs beside the account check: its answer is not used when the
    # attempt is refused, and a refusal looks the same whether the account exists or not.
    async def lookup() -> User | None:
        async with request.app.state.sessionmaker(bind=statements) as session:
            return await service.find_sign_in_user(session, email=body.email)

    # Both limits are read beside the lookup, so nothing is hashed for a refused attempt. The
    # account limit is only read (failures alone count against it, below); the client's is
    # counted next, while the password hashes (see below). Account first, so an attempt refused
    # for the account is not charged to the client (as before issue 14).
    account_wait, client_wait, candidate = await asyncio.gather(
        per_account.retry_after(*account_key), per_client.retry_after(client), lookup()
    )
    retry_after = account_wait if account_wait is not None else client_wait
    if retry_after is not None:
        raise TooManyRequests("too many sign-in attempts; try again later", retry_after=retry_after)
    # The client's hit is a durable write (a disk flush on both backends, ~2-3 ms): it runs
    # while the password hashes instead of before (issue 14). Its answer still decides: an
    # attempt over the limit is refused whatever the password, exactly as when the hit came
    # first. What changes is only that requests racing past the read above at a window's
    # limit each cost a hash; once the counter is over, the read refuses without hashing.
    user, retry_after = await asyncio.gather(
        _verified(candidate, body.password), per_client.hit_unless_limited(client)
    )
    if retry_after is not None:
        raise TooManyRequests("too many sign-in attempts; try again later", retry_after=retry_after)
    if user is None:
        # Only failures count against the account: a legitimate user is never locked out.
        await per_account.hit(*account_key)
        raise service.InvalidCredentials()
    # Committed before the response is built, so a 200 always means the token is stored. One
    # INSERT on a bare connection: no session, and on PostgreSQL no BEGIN/COMMIT round trips.
    async with statements.begin() as connection:
        issued = await service.issue_refresh_token(
            connection,
            user_id=user.id,
            now=clock.now(),
            ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    return TokenResponse(
        token=_access_token(signing_key, settings, user, clock),
        refresh_token=issued.token,
        expires_in=settings.access_token_ttl_seconds,
        user=UserOut.of(user),
    )


@router.post("/refresh", response_model=TokenResponse, responses=_ERRORS)
async def refresh(
    body: RefreshRequest,
    signing_key: IssuingKey,
    session: DbSession,
    settings: AppSettings,
    clock: AppClock,
) -> TokenResponse:
    try:
        user, issued = await service.rotate_refresh_token(
            session,
            token=body.refresh_token,
            now=clock.now(),
            ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    except service.RefreshTokenReused:
        await session.commit()  # keep the family revocation although the request fails
        raise
    return TokenResponse(
        token=_access_token(signing_key, settings, user, clock),
        refresh_token=issued.token,
        expires_in=settings.access_token_ttl_seconds,
        user=UserOut.of(user),
    )


@router.get("/me", response_model=UserOut, responses=_ERRORS)
async def me(user: CurrentUser) -> UserOut:
    return UserOut.of(user)


@well_known.get("/.well-known/jwks.json")
async def jwks(request: Request) -> dict[str, Any]:
    keyring: KeyRing = request.app.state.keyring
    return await keyring.jwks()
