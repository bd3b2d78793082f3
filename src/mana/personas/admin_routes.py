"""Admin persona API (`/api/v1/admin/personas`): create-or-update, list, detail, delete.

Admin role required, read from the database on every request: 401 without a token, 403 for a
non-admin. Routes validate and call the service; SQL lives in `mana.personas.lifecycle`.
Bodies are the wire contract's models (`mana.personas.contract`), the same ones the clients
parse with.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from mana.auth.deps import AdminUser, AppClock, AppSettings, DbSession
from mana.kit.pagination import Cursor, Limit, decode_cursor, encode_cursor
from mana.personas import lifecycle
from mana.personas.contract import (
    EMAIL_DOMAIN,
    ActionOut,
    PersonaDeleted,
    PersonaDetailOut,
    PersonaList,
    PersonaOut,
    PersonaUpsert,
    PersonaUpserted,
    Slug,
    TickOut,
)
from mana.personas.memory_routes import persona_memory_out

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
) -> PersonaList:
    """Every persona by email, with its action count and average rating over 7 days.

    The page is under `personas` (the original system's key) and again under `items` (this
    API's `{items, nextCursor}` page shape)."""
    after = decode_cursor(cursor, required=("email",))["email"] if cursor else None
    items, last = await lifecycle.list_personas(
        session, now=clock.now(), limit=limit, archetype=archetype, after_email=after
    )
    return PersonaList(
        personas=items, items=items, next_cursor=encode_cursor({"email": last}) if last else None
    )


@router.get("/{persona_id}", response_model=PersonaDetailOut, responses=_ERRORS)
async def get_persona(
    persona_id: uuid.UUID, _admin: AdminUser, session: DbSession
) -> PersonaDetailOut:
    detail = await lifecycle.get_persona_detail(session, persona_id=persona_id)
    user, persona = detail.user, detail.persona
    remembered = await persona_memory_out(session, persona_id)  # issue 10: story + observations
    return PersonaDetailOut(
        story=remembered.story,
        recent_observations=remembered.recent_observations,
        persona=PersonaOut(
            user_id=user.id,
            email=user.email,
            name=user.name,
            kind=user.kind,
            tier=user.access_tier,
            email_verified=user.email_verified,
            archetype=persona.archetype,
            system_prompt=persona.system_prompt,
            module_mix=persona.module_mix,
            tick_cadence=persona.tick_cadence,
            last_active_at=persona.last_active_at,
            leased_until=persona.leased_until,
            leased_by=persona.leased_by,
            created_at=persona.created_at,
            updated_at=persona.updated_at,
        ),
        recent_actions=[ActionOut.model_validate(a) for a in detail.recent_actions],
        recent_ticks=[TickOut.model_validate(t) for t in detail.recent_ticks],
        feedback_by_module=detail.feedback_by_module,
    )


@router.delete("/{persona_id}", response_model=PersonaDeleted, responses=_ERRORS)
async def delete_persona(
    persona_id: uuid.UUID, _admin: AdminUser, session: DbSession
) -> PersonaDeleted:
    """Hard delete: the user and, by cascade, everything the persona owns. Shared spaces lose
    the membership and are removed only when no member is left. Answers `{ok, deleted, …}`
    (`deleted`: the deleted user's id, as the original answered)."""
    return await lifecycle.delete_persona(session, user_id=persona_id)
