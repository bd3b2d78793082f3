"""Which space an MCP request acts in: the `X-Mana-Space` header, or the caller's personal space.

Read from the shared database (`auth.space_members`, `auth.spaces`) in one query, which also
requires the user to still exist: a deleted user's token, valid for a few more minutes, opens
nothing.

Every HTTP request of a session passes the gate, and a database session just for this check
cost about as much server CPU as the tool call itself (measured, bench/mcp_bench.py). So
positive answers are remembered for a few seconds (`MembershipCache`): leaving a space, or the
deletion of a user, takes effect within that time. Refusals are never remembered, so someone who
has just joined a space gets in at once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth.models import Space, SpaceMember, User
from mana.kit.ttl_cache import TtlCache

SPACE_HEADER = "x-mana-space"


class InvalidSpaceHeader(Exception):
    """The header is not a space id at all (400)."""


class NotAMember(Exception):
    """The caller is not a member of that space, or it does not exist (403; the two are not told
    apart, so ids of other people's spaces cannot be probed)."""


class NoActiveUser(Exception):
    """The token's user is gone (deleted) or has no personal space (401)."""


def parse_space_header(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise InvalidSpaceHeader("X-Mana-Space is empty; send a space id or leave the header out")
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise InvalidSpaceHeader(
            "X-Mana-Space is not a space id (expected a UUID); leave it out to use your "
            "personal space"
        ) from exc


async def resolve_space(
    session: AsyncSession, *, user_id: uuid.UUID, requested: uuid.UUID | None
) -> uuid.UUID:
    alive = sa.and_(User.id == user_id, User.deleted_at.is_(None))
    if requested is None:
        space_id = await session.scalar(
            sa.select(Space.id)
            .join(User, User.id == Space.personal_owner_id)
            .where(Space.personal_owner_id == user_id, alive)
        )
        if space_id is None:
            raise NoActiveUser("user no longer exists")
        return space_id
    member = await session.scalar(
        sa.select(SpaceMember.space_id)
        .join(User, User.id == SpaceMember.user_id)
        .where(SpaceMember.space_id == requested, SpaceMember.user_id == user_id, alive)
    )
    if member is None:
        raise NotAMember(f"X-Mana-Space: you are not a member of space {requested}")
    return requested


class MembershipCache:
    """(user, requested space or None) → the space it resolved to, for `ttl` seconds."""

    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spaces: TtlCache[tuple[uuid.UUID, uuid.UUID | None], uuid.UUID] = TtlCache(
            ttl=ttl, max_entries=max_entries, now=monotonic
        )

    def get(self, user_id: uuid.UUID, requested: uuid.UUID | None) -> uuid.UUID | None:
        return self._spaces.get((user_id, requested))

    def put(self, user_id: uuid.UUID, requested: uuid.UUID | None, space_id: uuid.UUID) -> None:
        self._spaces.put((user_id, requested), space_id)
