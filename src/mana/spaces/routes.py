"""Spaces API: list own spaces, create shared ones, invite by email, accept invitations."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from mana.auth.deps import AppClock, CurrentUser, DbSession
from mana.auth.models import Space, SpaceInvitation
from mana.spaces import service
from mana.spaces.schemas import (
    CreateSpaceRequest,
    InvitationOut,
    InviteRequest,
    MemberOut,
    SpaceDetailOut,
    SpaceOut,
)

router = APIRouter(prefix="/api/v1", tags=["spaces"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Not the owner / not the invitee"},
    404: {"description": "No such space visible to the caller"},
    409: {"description": "Conflict"},
}


def _invitation_out(invitation: SpaceInvitation, space: Space) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        space_id=space.id,
        space_name=space.name,
        space_type=space.type,
        email=invitation.email,
        status=invitation.status,
        expires_at=invitation.expires_at,
    )


@router.get("/spaces", response_model=list[SpaceOut], responses=_ERRORS)
async def list_spaces(user: CurrentUser, session: DbSession) -> list[SpaceOut]:
    memberships = await service.list_spaces(session, user_id=user.id)
    return [
        SpaceOut(
            id=m.space.id,
            name=m.space.name,
            type=m.space.type,
            role=m.role,
            created_at=m.space.created_at,
        )
        for m in memberships
    ]


@router.post("/spaces", status_code=201, response_model=SpaceOut, responses=_ERRORS)
async def create_space(
    body: CreateSpaceRequest, user: CurrentUser, session: DbSession, clock: AppClock
) -> SpaceOut:
    space = await service.create_shared_space(
        session, owner=user, name=body.name, type=body.type, now=clock.now()
    )
    return SpaceOut(
        id=space.id, name=space.name, type=space.type, role="owner", created_at=space.created_at
    )


@router.get("/spaces/{space_id}", response_model=SpaceDetailOut, responses=_ERRORS)
async def get_space(space_id: uuid.UUID, user: CurrentUser, session: DbSession) -> SpaceDetailOut:
    member = await service.membership(session, space_id=space_id, user_id=user.id)
    people = await service.members(session, space_id=space_id)
    return SpaceDetailOut(
        id=member.space.id,
        name=member.space.name,
        type=member.space.type,
        role=member.role,
        created_at=member.space.created_at,
        members=[MemberOut(user_id=u.id, email=u.email, name=u.name, role=r) for u, r in people],
    )


@router.post(
    "/spaces/{space_id}/invitations",
    status_code=201,
    response_model=InvitationOut,
    responses={**_ERRORS, 200: {"description": "Already invited: the pending invitation"}},
)
async def invite(
    space_id: uuid.UUID,
    body: InviteRequest,
    user: CurrentUser,
    session: DbSession,
    clock: AppClock,
    response: Response,
) -> InvitationOut:
    invitation, created = await service.invite(
        session, space_id=space_id, inviter=user, email=body.email, now=clock.now()
    )
    if not created:
        response.status_code = 200
    space = await service.membership(session, space_id=space_id, user_id=user.id)
    return _invitation_out(invitation, space.space)


@router.get("/invitations", response_model=list[InvitationOut], responses=_ERRORS)
async def my_invitations(
    user: CurrentUser, session: DbSession, clock: AppClock
) -> list[InvitationOut]:
    rows = await service.pending_invitations(session, user=user, now=clock.now())
    return [_invitation_out(inv, space) for inv, space in rows]


@router.post("/invitations/{invitation_id}/accept", response_model=SpaceOut, responses=_ERRORS)
async def accept(
    invitation_id: uuid.UUID, user: CurrentUser, session: DbSession, clock: AppClock
) -> SpaceOut:
    space = await service.accept_invitation(
        session, invitation_id=invitation_id, user=user, now=clock.now()
    )
    member = await service.membership(session, space_id=space.id, user_id=user.id)
    return SpaceOut(
        id=space.id, name=space.name, type=space.type, role=member.role, created_at=space.created_at
    )
