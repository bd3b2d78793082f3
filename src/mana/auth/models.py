"""Auth tables (PostgreSQL schema `auth`). Relationships are lazy="raise": load explicitly."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mana.db import Base, JSONType, UTCDateTime, new_id, one_of, utcnow

USER_KINDS = ("human", "persona", "system")
ACCESS_TIERS = ("public", "beta", "alpha", "founder")
USER_ROLES = ("user", "admin")
SPACE_TYPES = ("personal", "family", "team", "practice", "brand", "club")
SHARED_SPACE_TYPES = tuple(t for t in SPACE_TYPES if t != "personal")
MEMBER_ROLES = ("owner", "member")
INVITATION_STATUSES = ("pending", "accepted", "revoked")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(one_of("kind", USER_KINDS), name="kind"),
        sa.CheckConstraint(one_of("access_tier", ACCESS_TIERS), name="access_tier"),
        sa.CheckConstraint(one_of("role", USER_ROLES), name="role"),
        {"schema": "auth"},
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    # Stored normalised (trimmed, lower-case): the unique index is then case-insensitive.
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    email_verified: Mapped[bool] = mapped_column(
        sa.Boolean, default=False, server_default=sa.false()
    )
    kind: Mapped[str] = mapped_column(sa.String(16), default="human", server_default="human")
    access_tier: Mapped[str] = mapped_column(
        sa.String(16), default="public", server_default="public"
    )
    role: Mapped[str] = mapped_column(sa.String(16), default="user", server_default="user")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


SPACE_NAME_MAX_LENGTH = 120


class Space(Base):
    __tablename__ = "spaces"
    __table_args__ = (
        sa.CheckConstraint(one_of("type", SPACE_TYPES), name="type"),
        # A personal space belongs to exactly one user and goes with that user (cascade).
        sa.CheckConstraint(
            "(type = 'personal') = (personal_owner_id IS NOT NULL)", name="personal_owner"
        ),
        {"schema": "auth"},
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(SPACE_NAME_MAX_LENGTH))
    type: Mapped[str] = mapped_column(sa.String(16))
    personal_owner_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("auth.users.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpaceMember(Base):
    __tablename__ = "space_members"
    __table_args__ = (
        sa.CheckConstraint(one_of("role", MEMBER_ROLES), name="role"),
        {"schema": "auth"},
    )

    space_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.spaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpaceInvitation(Base):
    __tablename__ = "space_invitations"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", INVITATION_STATUSES), name="status"),
        sa.UniqueConstraint("space_id", "email"),
        {"schema": "auth"},
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    space_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("auth.spaces.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(sa.String(320), index=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("auth.users.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RefreshToken(Base):
    """Only a SHA-256 of the token is stored. Tokens of one login share a family; reuse of a
    rotated token revokes the whole family (it means the token was stolen)."""

    __tablename__ = "refresh_tokens"
    __table_args__ = ({"schema": "auth"},)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("auth.users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigningKey(Base):
    """Ed25519 keys for access tokens. The newest non-retired key signs; retired keys keep
    verifying (and stay in the JWKS) until `expires_at`."""

    __tablename__ = "signing_keys"
    __table_args__ = ({"schema": "auth"},)

    kid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(sa.String(16), default="EdDSA")
    private_key_pem: Mapped[str] = mapped_column(sa.Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Generated automatically by a development server: refused when MANA_ENV=production.
    development: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
