"""Admin user API (`/api/v1/admin/users`).

Humans only by default: personas are real users too, and mixing them into an admin's user
figures would inflate every human metric. `?kind=persona|system|all` asks for the others.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from mana.auth import admin_service
from mana.auth.deps import AdminUser, DbSession
from mana.auth.schemas import UserOut
from mana.kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v1/admin/users", tags=["admin"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Admin role required"},
    422: {"description": "Invalid query (names the parameter)"},
}


@router.get("", response_model=Page[UserOut], responses=_ERRORS)
async def list_users(
    _admin: AdminUser,
    session: DbSession,
    kind: Annotated[Literal["human", "persona", "system", "all"], Query()] = "human",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[UserOut]:
    after = decode_cursor(cursor, required=("email",))["email"] if cursor else None
    users, last = await admin_service.list_users(
        session,
        kinds=None if kind == "all" else (kind,),
        limit=limit,
        after_email=after,
    )
    return Page[UserOut](
        items=[UserOut.of(user) for user in users],
        next_cursor=encode_cursor({"email": last}) if last else None,
    )
