"""Admin queries over users. Separate from `service` (the sign-up/sign-in path) on purpose:
these read across accounts and are only reachable with the admin role."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth.models import User


async def list_users(
    session: AsyncSession, *, kinds: tuple[str, ...] | None, limit: int, after_email: str | None
) -> tuple[list[User], str | None]:
    """A page of users by email (`kinds=None`: every kind), and the email to continue after."""
    stmt = sa.select(User).order_by(User.email).limit(limit + 1)
    if kinds is not None:
        stmt = stmt.where(User.kind.in_(kinds))
    if after_email is not None:
        stmt = stmt.where(User.email > after_email)
    users = list(await session.scalars(stmt))
    page = users[:limit]
    return page, (page[-1].email if len(users) > limit else None)
