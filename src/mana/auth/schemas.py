"""Request and response bodies of the auth API (camelCase JSON)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from mana.kit.schemas import Email, RequestModel, ResponseModel, Text

if TYPE_CHECKING:
    # Only for `UserOut.of`'s signature: clients parse with these models without loading
    # SQLAlchemy and every table.
    from mana.auth.models import User

Password = Annotated[Text, Field(min_length=1, max_length=1024)]
"""Length policy (8–128) is checked by the service so the message is the policy's own; the
1024 cap only stops absurd payloads from reaching the hasher."""


class RegisterRequest(RequestModel):
    email: Email
    password: Password
    name: Annotated[Text, Field(max_length=200)] | None = None


class LoginRequest(RequestModel):
    email: Annotated[Text, Field(min_length=1, max_length=320)]
    password: Password


class RefreshRequest(RequestModel):
    refresh_token: Annotated[Text, Field(min_length=1, max_length=200)]


class UserOut(ResponseModel):
    id: uuid.UUID
    email: str
    name: str | None
    kind: str
    tier: str
    role: str
    email_verified: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            kind=user.kind,
            tier=user.access_tier,
            role=user.role,
            email_verified=user.email_verified,
            created_at=user.created_at,
        )


class TokenResponse(ResponseModel):
    token: str
    refresh_token: str
    expires_in: int
    user: UserOut
