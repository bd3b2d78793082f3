"""Space membership rules. Existence and membership are checked once here, not in each route.

Non-members learn nothing about a space (404); members who are not owners get 403 for owner
actions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mana.auth.models import Space, SpaceInvitation, SpaceMember, User
from mana.auth.service import normalize_email
from mana.kit.errors import Conflict, Forbidden, InvalidInput, NotFound

INVITATION_TTL = timedelta(days=14)


@dataclass(frozen=True)
class Membership:
    space: Space
    role: str


async def list_spaces(session: AsyncSession, *, user_id: uuid.UUID) -> list[Membership]:
    rows = await session.execute(
        sa.select(Space, SpaceMember.role)
        .join(SpaceMember, SpaceMember.space_id == Space.id)
        .where(SpaceMember.user_id == user_id)
        .order_by(Space.type != "personal", Space.created_at, Space.id)
    )
    return [Membership(space=space, role=role) for space, role in rows]


async def personal_space_id(session: AsyncSession, *, user_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(sa.select(Space.id).where(Space.personal_owner_id == user_id))


async def membership(
    session: AsyncSession, *, space_id: uuid.UUID, user_id: uuid.UUID
) -> Membership:
    """The caller's membership of a space, or 404 (also for spaces that exist elsewhere)."""
    row = await session.execute(
        sa.select(Space, SpaceMember.role)
        .join(SpaceMember, SpaceMember.space_id == Space.id)
        .where(Space.id == space_id, SpaceMember.user_id == user_id)
    )
    found = row.first()
    if found is None:
        raise NotFound("space not found")
    return Membership(space=found[0], role=found[1])


async def owned_space(session: AsyncSession, *, space_id: uuid.UUID, user_id: uuid.UUID) -> Space:
    member = await membership(session, space_id=space_id, user_id=user_id)
    if member.role != "owner":
        raise Forbidden("only the space's owner can do this")
    return member.space


async def members(session: AsyncSession, *, space_id: uuid.UUID) -> list[tuple[User, str]]:
    rows = await session.execute(
        sa.select(User, SpaceMember.role)
        .join(SpaceMember, SpaceMember.user_id == User.id)
        .where(SpaceMember.space_id == space_id)
        .order_by(SpaceMember.created_at, User.email)
    )
    return list(rows.all())


async def create_shared_space(
    session: AsyncSession, *, owner: User, name: str, type: str, now: datetime
) -> Space:
    if type == "personal":
        raise InvalidInput(
            "type: a personal space is created at sign-up; choose a shared type",
            details=[{"field": "type", "message": "personal spaces cannot be created"}],
        )
    space = Space(id=uuid.uuid4(), name=name, type=type, created_at=now)
    session.add(space)
    await session.flush()
    session.add(SpaceMember(space_id=space.id, user_id=owner.id, role="owner", created_at=now))
    await session.flush()
    return space


async def invite(
    session: AsyncSession, *, space_id: uuid.UUID, inviter: User, email: str, now: datetime
) -> tuple[SpaceInvitation, bool]:
    """Invite an email to a shared space. Re-inviting returns the pending invitation (created=False)."""
    space = await owned_space(session, space_id=space_id, user_id=inviter.id)
    if space.type == "personal":
        raise Forbidden("a personal space cannot be shared")
    email = normalize_email(email)
    already_member = await session.scalar(
        sa.select(SpaceMember.user_id)
        .join(User, User.id == SpaceMember.user_id)
        .where(SpaceMember.space_id == space.id, User.email == email)
    )
    if already_member is not None:
        raise Conflict(f"{email} is already a member of this space")
    existing = await session.scalar(
        sa.select(SpaceInvitation).where(
            SpaceInvitation.space_id == space.id, SpaceInvitation.email == email
        )
    )
    if existing is not None:
        if existing.status == "pending" and existing.expires_at > now:
            return existing, False
        # Renew an expired, revoked or consumed-by-a-departed-member invitation.
        existing.status = "pending"
        existing.invited_by = inviter.id
        existing.created_at = now
        existing.expires_at = now + INVITATION_TTL
        existing.accepted_at = None
        await session.flush()
        return existing, True
    invitation = SpaceInvitation(
        space_id=space.id,
        email=email,
        invited_by=inviter.id,
        status="pending",
        created_at=now,
        expires_at=now + INVITATION_TTL,
    )
    session.add(invitation)
    await session.flush()
    return invitation, True


async def pending_invitations(
    session: AsyncSession, *, user: User, now: datetime
) -> list[tuple[SpaceInvitation, Space]]:
    rows = await session.execute(
        sa.select(SpaceInvitation, Space)
        .join(Space, Space.id == SpaceInvitation.space_id)
        .where(
            SpaceInvitation.email == user.email,
            SpaceInvitation.status == "pending",
            SpaceInvitation.expires_at > now,
        )
        .order_by(SpaceInvitation.created_at)
    )
    return list(rows.all())


async def accept_invitation(
    session: AsyncSession, *, invitation_id: uuid.UUID, user: User, now: datetime
) -> Space:
    """Only the invited email can accept. Accepting twice is harmless (returns the space)."""
    invitation = await session.get(SpaceInvitation, invitation_id)
    if invitation is None:
        raise NotFound("invitation not found")
    if invitation.email != user.email:
        raise Forbidden("this invitation was sent to another email address")
    space = await session.get(Space, invitation.space_id)
    if space is None:
        raise NotFound("invitation not found")
    is_member = await session.get(SpaceMember, (space.id, user.id))
    if invitation.status == "accepted" and is_member is not None:
        return space
    if invitation.status != "pending" or invitation.expires_at <= now:
        raise Conflict("this invitation is no longer valid; ask for a new one")
    invitation.status = "accepted"
    invitation.accepted_at = now
    if is_member is None:
        try:
            async with session.begin_nested():
                session.add(
                    SpaceMember(space_id=space.id, user_id=user.id, role="member", created_at=now)
                )
                await session.flush()
        except IntegrityError:
            pass  # a concurrent accept of the same invitation already added the membership
    await session.flush()
    return space


async def delete_orphaned_shared_spaces(session: AsyncSession) -> int:
    """Shared spaces survive member deletions while they have members; empty ones go."""
    result = await session.execute(
        sa.delete(Space).where(
            Space.type != "personal",
            ~sa.exists().where(SpaceMember.space_id == Space.id),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
