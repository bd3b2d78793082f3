"""Shared-spaces pipeline (`mana personas spaces`, also the last step of `seed`).

For each shared space of the catalog the owner persona logs in with its derived password,
finds the space among its own spaces by name and type (or creates it), invites the other
members, and each member logs in and accepts: exactly the path a real user takes, with no
admin shortcut. Running it again changes nothing: members are skipped, a pending invitation is
simply accepted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from mana.clients.admin import AdminClient
from mana.clients.errors import ApiError, ClientError
from mana.clients.seed import count_noun
from mana.personas.catalog import Catalog, CatalogSpace
from mana.personas.password import derive_persona_password
from mana.spaces.schemas import SpaceOut


@dataclass(frozen=True)
class SpaceResult:
    name: str
    type: str
    owner: str
    space_id: uuid.UUID | None = None
    created: bool = False
    joined: tuple[str, ...] = ()
    already_members: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def changed(self) -> bool:
        return self.created or bool(self.joined)


@dataclass
class SpacesReport:
    results: list[SpaceResult] = field(default_factory=list)

    @property
    def created(self) -> list[SpaceResult]:
        return [r for r in self.results if r.ok and r.created]

    @property
    def failed(self) -> list[SpaceResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        joined = sum(len(r.joined) for r in self.results)
        unchanged = sum(1 for r in self.results if r.ok and not r.changed)
        return (
            f"{count_noun(len(self.results), 'shared space')}: {len(self.created)} created, "
            f"{count_noun(joined, 'member')} joined, {unchanged} unchanged, "
            f"{len(self.failed)} failed"
        )


class _Logins:
    """One login per persona per run, shared by every space the persona belongs to."""

    def __init__(self, client: AdminClient, secret: str) -> None:
        self._client = client
        self._secret = secret
        self._tokens: dict[str, asyncio.Task[str]] = {}

    async def token(self, email: str) -> str:
        key = email.strip().lower()
        task = self._tokens.get(key)
        if task is None:
            task = asyncio.ensure_future(self._login(email))
            self._tokens[key] = task
        return await task

    async def _login(self, email: str) -> str:
        password = derive_persona_password(email, self._secret)
        try:
            session = await self._client.login(email, password)
        except ApiError as exc:
            if exc.status == 401:
                raise ClientError(
                    f"{email} cannot log in with its derived password (HTTP 401): seed it "
                    "first, with the same PERSONA_SEED_SECRET"
                ) from exc
            raise ClientError(f"{email} cannot log in: {exc}") from exc
        return session.token


def _same_space(found: SpaceOut, wanted: CatalogSpace) -> bool:
    # Case-insensitive, like the catalog's own uniqueness rule for space names.
    return (
        found.role == "owner"
        and found.type == wanted.type
        and found.name.strip().lower() == wanted.name.strip().lower()
    )


async def _setup_space(client: AdminClient, logins: _Logins, space: CatalogSpace) -> SpaceResult:
    owner_token = await logins.token(space.owner)
    existing = [s for s in await client.list_spaces(owner_token) if _same_space(s, space)]
    created = not existing
    if existing:
        space_id = existing[0].id
    else:
        space_id = (await client.create_space(owner_token, name=space.name, type=space.type)).id

    detail = await client.get_space(owner_token, space_id)
    members = {m.email.strip().lower() for m in detail.members}
    joined: list[str] = []
    already: list[str] = []
    for email in space.members[1:]:
        if email.strip().lower() in members:
            already.append(email)
            continue
        try:
            # 201 for a new invitation, 200 with the pending one when it was sent before.
            await client.invite(owner_token, space_id, email)
        except ApiError as exc:
            if exc.status != 409:
                raise
            # 409: the member joined between our read and the invitation (a concurrent run).
            already.append(email)
            continue
        member_token = await logins.token(email)
        invitations = [
            i for i in await client.pending_invitations(member_token) if i.space_id == space_id
        ]
        if not invitations:
            raise ClientError(f"{email} does not see the invitation to {space.name!r}")
        await client.accept_invitation(member_token, invitations[0].id)
        joined.append(email)
    return SpaceResult(
        name=space.name,
        type=space.type,
        owner=space.owner,
        space_id=space_id,
        created=created,
        joined=tuple(joined),
        already_members=tuple(already),
    )


async def setup_shared_spaces(
    client: AdminClient,
    catalog: Catalog,
    *,
    secret: str,
    unavailable: Collection[str] = (),
    on_result: Callable[[SpaceResult], None] | None = None,
) -> SpacesReport:
    """Create and join every shared space of the catalog; results come back in catalog order.

    `unavailable` names personas known not to be seeded (e.g. their upsert just failed): their
    spaces are reported as failed without sending a request, instead of failing on a login.
    """
    logins = _Logins(client, secret)
    missing = {email.strip().lower() for email in unavailable}

    async def one(space: CatalogSpace) -> SpaceResult:
        skipped = [m for m in space.members if m.strip().lower() in missing]
        if skipped:
            result = SpaceResult(
                name=space.name,
                type=space.type,
                owner=space.owner,
                error=f"skipped: {', '.join(skipped)} could not be seeded",
            )
        else:
            try:
                result = await _setup_space(client, logins, space)
            except ClientError as exc:
                result = SpaceResult(
                    name=space.name, type=space.type, owner=space.owner, error=str(exc)
                )
        if on_result is not None:
            on_result(result)
        return result

    results = await asyncio.gather(*(one(space) for space in catalog.spaces))
    return SpacesReport(results=list(results))
