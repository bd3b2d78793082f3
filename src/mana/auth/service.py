"""Users: sign-up, sign-in, refresh-token rotation. Services flush; the caller owns the commit.

`sign_up` is the one code path for "a new user signs up": `/register` and the admin persona
upsert both go through it, so a persona gets exactly what a human gets (personal space included).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mana.auth import passwords
from mana.auth.models import SPACE_NAME_MAX_LENGTH, RefreshToken, Space, SpaceMember, User
from mana.kit.errors import Conflict, InvalidInput, Unauthorized

INVALID_CREDENTIALS = "invalid email or password"


class EmailTaken(Conflict):
    error = "email_taken"


class InvalidCredentials(Unauthorized):
    error = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__(INVALID_CREDENTIALS)


class InvalidRefreshToken(Unauthorized):
    error = "invalid_refresh_token"


def normalize_email(email: str) -> str:
    return email.strip().lower()


# Built once (every login runs it): building a statement and its cache key is CPU per call.
_USER_BY_EMAIL = sa.select(User).where(User.email == sa.bindparam("email"))


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(_USER_BY_EMAIL, {"email": normalize_email(email)})


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def sign_up(
    session: AsyncSession, *, email: str, password: str, name: str | None, now: datetime
) -> User:
    """Create a user and their personal space in the caller's transaction."""
    try:
        passwords.check_password_policy(password)
    except passwords.WeakPassword as exc:
        raise InvalidInput(
            f"password {exc}", details=[{"field": "password", "message": str(exc)}]
        ) from exc
    email = normalize_email(email)
    # Hash before the first query: on SQLite that query opens a transaction holding the
    # database's write lock, which would otherwise be held for the ~30 ms of hashing.
    password_hash = await passwords.hash_password(password)
    if await get_user_by_email(session, email) is not None:
        raise EmailTaken("an account with this email already exists")
    user = User(
        id=uuid.uuid4(),
        email=email,
        name=name,
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
    )
    space = Space(
        id=uuid.uuid4(),
        # Names (200) and emails (320) may be longer than a space name: PostgreSQL would refuse
        # the row (a 500), so the personal space gets a shortened copy.
        name=(name or email)[:SPACE_NAME_MAX_LENGTH],
        type="personal",
        personal_owner_id=user.id,
        created_at=now,
    )
    try:
        # A savepoint, so a lost race on the unique email leaves the caller's transaction usable.
        async with session.begin_nested():
            session.add(user)
            await session.flush()
            session.add(space)
            await session.flush()
            session.add(
                SpaceMember(space_id=space.id, user_id=user.id, role="owner", created_at=now)
            )
            await session.flush()
    except IntegrityError as exc:
        raise EmailTaken("an account with this email already exists") from exc
    return user


async def find_sign_in_user(session: AsyncSession, *, email: str) -> User | None:
    """The user who may sign in with this email: None for an unknown or a deleted account."""
    user = await get_user_by_email(session, email)
    return user if user is not None and user.deleted_at is None else None


async def check_password(user: User | None, password: str) -> User:
    """Unknown email, wrong password and deleted user fail identically, in similar time (with
    no user, a dummy hash is verified). Needs no session: callers can (and on SQLite should)
    end their read transaction before this ~30 ms of hashing."""
    ok = await passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None:
        raise InvalidCredentials()
    return user


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    user.password_hash = await passwords.hash_password(password)
    await session.flush()


# --- refresh tokens -------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str
    id: uuid.UUID
    family_id: uuid.UUID


# A Core INSERT, not an ORM add + flush: the row is not read back, and the unit of work cost
# about as much CPU as the statement itself on every login (issue 14). So it also runs on a
# bare connection (login: one statement, no session at all) as well as in a session (rotation).
_INSERT_REFRESH_TOKEN = sa.insert(cast(sa.Table, RefreshToken.__table__))


async def issue_refresh_token(
    session: AsyncSession | AsyncConnection,
    *,
    user_id: uuid.UUID,
    now: datetime,
    ttl: timedelta,
    family_id: uuid.UUID | None = None,
) -> IssuedRefreshToken:
    token = secrets.token_urlsafe(48)
    issued = IssuedRefreshToken(token=token, id=uuid.uuid4(), family_id=family_id or uuid.uuid4())
    await session.execute(
        _INSERT_REFRESH_TOKEN,
        {
            "id": issued.id,
            "user_id": user_id,
            "family_id": issued.family_id,
            "token_hash": _hash_token(token),
            "created_at": now,
            "expires_at": now + ttl,
        },
    )
    return issued


class RefreshTokenReused(InvalidRefreshToken):
    """Signals the caller to commit the family revocation before answering 401."""


async def rotate_refresh_token(
    session: AsyncSession, *, token: str, now: datetime, ttl: timedelta
) -> tuple[User, IssuedRefreshToken]:
    """Exchange a refresh token for a new one of the same family.

    Presenting a token that was already rotated means it leaked (the legitimate holder has the
    newer one): the whole family is revoked, so the thief and the victim both have to log in.
    """
    row = await session.scalar(
        sa.select(RefreshToken)
        .where(RefreshToken.token_hash == _hash_token(token))
        .with_for_update()
    )
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise InvalidRefreshToken("refresh token is invalid or expired")
    if row.rotated_at is not None:
        await session.execute(
            sa.update(RefreshToken)
            .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await session.flush()
        raise RefreshTokenReused("refresh token was already used; the session has been revoked")
    user = await session.get(User, row.user_id)
    if user is None or user.deleted_at is not None:
        raise InvalidRefreshToken("refresh token is invalid or expired")
    row.rotated_at = now
    issued = await issue_refresh_token(
        session, user_id=user.id, now=now, ttl=ttl, family_id=row.family_id
    )
    return user, issued
