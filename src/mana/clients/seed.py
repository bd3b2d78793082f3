"""Seed pipeline: upsert every catalog persona through the admin API (`mana personas seed`).

Each persona is registered (or updated) with its derived password, so re-running after a
catalog edit or a secret rotation brings the live personas in line: the server's upsert is keyed
by email, hence a second run creates nothing. One persona failing does not stop the others; the
report lists what happened to each.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mana.clients.admin import AdminClient
from mana.clients.errors import ClientError
from mana.personas.catalog import Catalog, CatalogPersona
from mana.personas.contract import PersonaUpsert
from mana.personas.password import derive_persona_password


def count_noun(n: int, noun: str) -> str:
    """`1 persona`, `3 personas`: report lines read as sentences."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass(frozen=True)
class SeedResult:
    email: str
    archetype: str
    user_id: uuid.UUID | None = None
    created: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class SeedReport:
    results: list[SeedResult] = field(default_factory=list)

    @property
    def created(self) -> list[SeedResult]:
        return [r for r in self.results if r.ok and r.created]

    @property
    def updated(self) -> list[SeedResult]:
        return [r for r in self.results if r.ok and not r.created]

    @property
    def failed(self) -> list[SeedResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"{count_noun(len(self.results), 'persona')}: {len(self.created)} created, "
            f"{len(self.updated)} updated, {len(self.failed)} failed"
        )


def upsert_request(persona: CatalogPersona, *, secret: str) -> PersonaUpsert:
    """The POST /api/v1/admin/personas request for one catalog entry.

    Built without validating again: the catalog entry was validated field by field with the
    contract's own types, the very ones PersonaUpsert uses."""
    return PersonaUpsert.model_construct(
        email=persona.email,
        name=persona.name,
        password=derive_persona_password(persona.email, secret),
        archetype=persona.archetype,
        system_prompt=persona.system_prompt,
        module_mix=dict(persona.module_mix),
        tick_cadence=persona.tick_cadence,
    )


def upsert_body(persona: CatalogPersona, *, secret: str) -> dict[str, Any]:
    """The same request as it goes on the wire (camelCase JSON)."""
    return upsert_request(persona, secret=secret).model_dump(mode="json", by_alias=True)


async def seed_personas(
    client: AdminClient,
    catalog: Catalog,
    *,
    secret: str,
    on_result: Callable[[SeedResult], None] | None = None,
) -> SeedReport:
    """Upsert every persona of the catalog; results come back in catalog order.

    Requests run concurrently up to the client's concurrency limit. `on_result` is called as
    each persona finishes (for a progress display), in completion order.
    """
    # Derive every password before the first request: a bad secret fails the whole run up front.
    bodies = [(persona, upsert_request(persona, secret=secret)) for persona in catalog.personas]

    async def one(persona: CatalogPersona, body: PersonaUpsert) -> SeedResult:
        try:
            answer = await client.upsert_persona(body)
        except ClientError as exc:
            result = SeedResult(email=persona.email, archetype=persona.archetype, error=str(exc))
        else:
            result = SeedResult(
                email=persona.email,
                archetype=persona.archetype,
                user_id=answer.user_id,
                created=answer.created,
            )
        if on_result is not None:
            on_result(result)
        return result

    results = await asyncio.gather(*(one(persona, body) for persona, body in bodies))
    return SeedReport(results=list(results))


def describe_dry_run(catalog: Catalog, *, auth_url: str) -> list[str]:
    """What `seed --dry-run` would do, one line per request it would send (no secrets shown)."""
    lines = [
        f"would POST {auth_url.rstrip('/')}/api/v1/admin/personas for each of "
        f"{count_noun(len(catalog.personas), 'persona')}:"
    ]
    for persona in catalog.personas:
        modules = ", ".join(f"{m}={w:g}" for m, w in persona.module_mix.items())
        lines.append(
            f"  {persona.email} ({persona.archetype}, {persona.tick_cadence}) modules: {modules}"
        )
    return lines
