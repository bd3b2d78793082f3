"""Cleanup pipeline (`mana personas cleanup`): back to zero personas, through the admin API.

Cleanup deletes every live persona, not only those in the catalog: its job is a clean slate
(e.g. before re-seeding a changed catalog). Personas the catalog does not know are flagged as
drift so the operator sees them before confirming. Humans are never touched: the list only
returns personas, and the server refuses to delete a non-persona user anyway.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mana.clients.admin import AdminClient
from mana.clients.errors import ApiError, ClientError
from mana.clients.seed import count_noun
from mana.personas.catalog import Catalog


@dataclass(frozen=True)
class LivePersona:
    user_id: uuid.UUID
    email: str
    archetype: str
    in_catalog: bool


@dataclass(frozen=True)
class DeleteResult:
    persona: LivePersona
    already_gone: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class CleanupReport:
    results: list[DeleteResult] = field(default_factory=list)

    @property
    def deleted(self) -> list[DeleteResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[DeleteResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return f"{count_noun(len(self.deleted), 'persona')} deleted, {len(self.failed)} failed"


async def list_live_personas(client: AdminClient, catalog: Catalog | None) -> list[LivePersona]:
    """Every live persona (all pages), each marked whether the catalog knows its email.

    Without a catalog nothing can be compared, so every persona counts as in the catalog.
    """
    known = {p.email.strip().lower() for p in catalog.personas} if catalog else None
    return [
        LivePersona(
            user_id=p.user_id,
            email=p.email,
            archetype=p.archetype,
            in_catalog=known is None or p.email.strip().lower() in known,
        )
        async for p in client.iter_personas()
    ]


async def delete_personas(
    client: AdminClient,
    personas: Sequence[LivePersona],
    *,
    on_result: Callable[[DeleteResult], None] | None = None,
) -> CleanupReport:
    """Hard-delete the given personas; one failure does not stop the others."""

    async def one(persona: LivePersona) -> DeleteResult:
        try:
            await client.delete_persona(persona.user_id)
        except ApiError as exc:
            # 404: already deleted (by a concurrent cleanup): the goal is reached all the same.
            result = (
                DeleteResult(persona, already_gone=True)
                if exc.status == 404
                else DeleteResult(persona, error=str(exc))
            )
        except ClientError as exc:
            result = DeleteResult(persona, error=str(exc))
        else:
            result = DeleteResult(persona)
        if on_result is not None:
            on_result(result)
        return result

    results = await asyncio.gather(*(one(p) for p in personas))
    return CleanupReport(results=list(results))
