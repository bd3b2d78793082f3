"""Admin persona API (`/api/v1/admin/personas`): create-or-update, list, detail, delete.

Admin role required (`mana.auth.deps.AdminUser`): 401 without a token, 403 for a non-admin.
Routes validate and call the service; SQL lives in `mana.personas.lifecycle`.
Bodies are the wire contract's models (`mana.personas.contract`), the same ones the clients
parse with.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from mana.auth.deps import AdminUser, AppAdminCache, AppClock, AppSettings, DbSession
from mana.kit.pagination import Cursor, Limit, decode_cursor, encode_cursor
from mana.personas import lifecycle
from mana.personas.contract import (
    EMAIL_DOMAIN,
    PersonaDeleted,
    PersonaDetailOut,
    PersonaList,
    PersonaListItem,
    PersonaUpsert,
    PersonaUpserted,
    Slug,
)

router = APIRouter(prefix="/api/v1/admin/personas", tags=["admin"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Admin role required"},
    404: {"description": "No such persona"},
    409: {"description": "The account is not a persona"},
    422: {"description": "Invalid input (names every bad field)"},
}


async def _upsert_body(request: Request, settings: AppSettings) -> PersonaUpsert:
    """Parse the body with the persona email domain in the validation context, so the domain
    rule is reported together with every other bad field in one 422."""
    try:
        return PersonaUpsert.model_validate_json(
            await request.body(), context={EMAIL_DOMAIN: settings.persona_email_domain}
        )
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


@router.post(
    "",
    response_model=PersonaUpserted,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": PersonaUpsert.model_json_schema(by_alias=True)}
            },
        }
    },
)
async def upsert_persona(
    _admin: AdminUser,
    body: Annotated[PersonaUpsert, Depends(_upsert_body)],
    session: DbSession,
    clock: AppClock,
) -> PersonaUpserted:
    """Create a persona (through the ordinary sign-up) or update it; idempotent by email."""
    result = await lifecycle.upsert_persona(
        session,
        email=body.email,
        name=body.name,
        password=body.password,
        archetype=body.archetype,
        system_prompt=body.system_prompt,
        module_mix=body.module_mix,
        tick_cadence=body.tick_cadence,
        now=clock.now(),
    )
    return PersonaUpserted(user_id=result.user.id, email=result.user.email, created=result.created)


@router.get("", response_model=PersonaList, responses=_ERRORS)
async def list_personas(
    _admin: AdminUser,
    session: DbSession,
    clock: AppClock,
    archetype: Annotated[Slug | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """Every persona by email, with its action count and average rating over 7 days.

    The page is under `personas` (the original system's key) and again under `items` (this
    API's `{items, nextCursor}` page shape)."""
    after = decode_cursor(cursor, required=("email",))["email"] if cursor else None
    items, last = await lifecycle.list_personas(
        session, now=clock.now(), limit=limit, archetype=archetype, after_email=after
    )
    return page_response(items, encode_cursor({"email": last}) if last else None)


_ITEMS = TypeAdapter(list[PersonaListItem])
_CURSOR = TypeAdapter(str | None)


def page_response(items: list[PersonaListItem], next_cursor: str | None) -> Response:
    """`PersonaList` as JSON, the same bytes as `PersonaList.model_dump_json(by_alias=True)`
    (a test holds them equal), with the page serialised once although it appears twice."""
    page = _ITEMS.dump_json(items, by_alias=True)
    body = b'{"personas":%s,"items":%s,"nextCursor":%s}' % (
        page,
        page,
        _CURSOR.dump_json(next_cursor),
    )
    return Response(body, media_type="application/json")


@router.get("/{persona_id}", response_model=PersonaDetailOut, responses=_ERRORS)
async def get_persona(
    persona_id: uuid.UUID, _admin: AdminUser, session: DbSession
) -> PersonaDetailOut:
    """The persona, its newest actions and ticks, its ratings per module, and (issue 10) its
    story with the newest observations."""
    return await lifecycle.get_persona_detail(session, persona_id=persona_id)


@router.delete("/{persona_id}", response_model=PersonaDeleted, responses=_ERRORS)
async def delete_persona(
    persona_id: uuid.UUID, _admin: AdminUser, session: DbSession, admins: AppAdminCache
) -> PersonaDeleted:
    """Hard delete: the user and, by cascade, everything the persona owns. Shared spaces lose
    the membership and are removed only when no member is left. Answers `{ok, deleted, …}`
    (`deleted`: the deleted user's id, as the original answered)."""
    deleted = await lifecycle.delete_persona(session, user_id=persona_id)
    # Were the account a confirmed admin, it stops being one here on the next request.
    admins.forget(persona_id)
    return deleted
