from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from mana.kit.schemas import Email, RequestModel, ResponseModel, Text

SharedSpaceType = Literal["family", "team", "practice", "brand", "club"]


class CreateSpaceRequest(RequestModel):
    name: Annotated[Text, Field(min_length=1, max_length=120)]
    type: SharedSpaceType


class InviteRequest(RequestModel):
    email: Email


class SpaceOut(ResponseModel):
    id: uuid.UUID
    name: str
    type: str
    role: str
    created_at: datetime


class MemberOut(ResponseModel):
    user_id: uuid.UUID
    email: str
    name: str | None
    role: str


class SpaceDetailOut(SpaceOut):
    members: list[MemberOut]


class InvitationOut(ResponseModel):
    id: uuid.UUID
    space_id: uuid.UUID
    space_name: str
    space_type: str
    email: str
    status: str
    expires_at: datetime
