"""Typed FastAPI dependencies: the request's DB session, the current user, the admin user.

No route parses tokens itself. The current user (`CurrentUser`) is re-read from the database
on every request, so a role change or a deletion takes effect on the next request, not when
the token expires. The admin check (`AdminUser`) trusts a confirmed admin for
`MANA_ADMIN_CACHE_SECONDS` (default 2 s, 0: read every time; `mana.auth.admin_cache`): a
demotion or a deletion made elsewhere takes effect within that, one made through this process's
admin API on the next request.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth.admin_cache import Admin, AdminCache
from mana.auth.keys import KeyRing
from mana.auth.models import User
from mana.auth.tokens import AccessClaims, InvalidToken, VerifiedTokens
from mana.config import Settings
from mana.db import transaction
from mana.kit.clock import Clock
from mana.kit.errors import Forbidden, Unauthorized

# GET and HEAD are safe methods (RFC 9110 §9.2.1): their routes only read, so they skip the
# BEGIN and COMMIT round trips (`mana.db.reads_only_engine`) — two of the three a small admin read cost.
_READ_METHODS = frozenset({"GET", "HEAD"})


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    if request.method in _READ_METHODS:
        # On the reads-only engine (`mana.db.reads_only_engine`), set up once at start-up: no
        # execution options per request, and the connection is checked out by the first
        # statement, in the same call into SQLAlchemy's sync layer.
        async with request.app.state.reader() as session:
            yield session
        return
    async with transaction(request.app.state.sessionmaker) as session:
        yield session


# scope="function": commit before the response is sent, so a 2xx always means "stored".
DbSession = Annotated[AsyncSession, Depends(_session, scope="function")]


# `async def`, though they never await: FastAPI runs a plain `def` dependency in a worker
# thread, and that hand-off was a visible part of every request's cost (issue 14).
async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


AppSettings = Annotated[Settings, Depends(_settings)]
AppClock = Annotated[Clock, Depends(_clock)]

_bearer = HTTPBearer(auto_error=False)


async def _claims(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> AccessClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    keyring: KeyRing = request.app.state.keyring
    tokens: VerifiedTokens = request.app.state.verified_tokens

    async def key_for_kid(kid: str) -> Ed25519PublicKey | None:
        return (await keyring.public_keys()).get(kid)

    try:
        return await tokens.verify(credentials.credentials, key_for_kid=key_for_kid)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from exc


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _current_user(request: Request, session: DbSession, credentials: Bearer) -> User:
    claims = await _claims(request, credentials)
    user = await session.get(User, claims.sub)
    if user is None or user.deleted_at is not None:
        raise Unauthorized("user no longer exists")
    return user


CurrentUser = Annotated[User, Depends(_current_user)]

# Only the columns the admin check needs, not the whole row through the ORM.
_ADMIN_ROW = sa.select(User.email, User.role, User.deleted_at).where(
    User.id == sa.bindparam("user_id")
)


async def _admin_user(request: Request, session: DbSession, credentials: Bearer) -> Admin:
    claims = await _claims(request, credentials)
    cache: AdminCache = request.app.state.admin_cache
    admin = cache.get(claims.sub)
    if admin is not None:
        return admin
    row = (await session.execute(_ADMIN_ROW, {"user_id": claims.sub})).first()
    if row is None or row.deleted_at is not None:
        raise Unauthorized("user no longer exists")
    if row.role != "admin":
        raise Forbidden("admin role required")
    admin = Admin(id=claims.sub, email=row.email)
    cache.put(admin)
    return admin


AdminUser = Annotated[Admin, Depends(_admin_user)]


async def _admin_cache(request: Request) -> AdminCache:
    cache: AdminCache = request.app.state.admin_cache
    return cache


# For the routes that delete users: they `forget` the user, so it takes effect here at once.
AppAdminCache = Annotated[AdminCache, Depends(_admin_cache)]


async def _service_caller(
    settings: AppSettings,
    x_service_key: Annotated[str | None, Header(alias="X-Service-Key")] = None,
) -> None:
    expected = settings.service_key.get_secret_value().encode()
    given = (x_service_key or "").encode()
    if not x_service_key or not hmac.compare_digest(given, expected):
        raise Unauthorized(
            "missing or invalid service key", headers={"WWW-Authenticate": "ServiceKey"}
        )


ServiceCaller = Annotated[None, Depends(_service_caller)]
