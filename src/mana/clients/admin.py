"""A small typed HTTP client for the auth service, as an operator (or a persona) uses it.

The seed, spaces and cleanup pipelines (`mana.clients.{seed,spaces,cleanup}`) talk to the auth
service only through this client: the admin persona API with the admin token, and login +
spaces with a persona's own token. Nothing here touches the database, so the same commands work
against a local server and a deployment. Answers are parsed with the server's own response
models (`mana.personas.contract`, `mana.auth.schemas`, `mana.spaces.schemas`).

Every request goes through one semaphore, so `concurrency` bounds what is in flight against the
server no matter how many pipelines share the client. Failures become `ApiError` (the server's
`{error, message}` and the HTTP status) or `ServiceUnreachable` (no HTTP answer at all), each
with a message that reads well as one CLI line.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from mana.auth.schemas import TokenResponse
from mana.clients.errors import ApiError, ClientError, ServiceUnreachable, parse_answer
from mana.personas.contract import (
    ForgetOut,
    PersonaDeleted,
    PersonaDetailOut,
    PersonaList,
    PersonaListItem,
    PersonaUpsert,
    PersonaUpserted,
)
from mana.spaces.schemas import InvitationOut, SpaceDetailOut, SpaceOut

DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT_SECONDS = 30.0
PAGE_SIZE = 100

ADMIN_PERSONAS = "/api/v1/admin/personas"


_M = TypeVar("_M", bound=BaseModel)


class AdminClient:
    """Admin persona API (with the admin token) plus login and spaces (with a user's token).

    Use as an async context manager; one instance shares one connection pool and one
    concurrency limit across all pipelines that use it.
    """

    def __init__(
        self,
        base_url: str,
        admin_token: str | None = None,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._admin_token = admin_token
        self._limit = asyncio.Semaphore(concurrency)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=concurrency),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- transport ------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self._limit:
            try:
                response = await self._http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                raise ServiceUnreachable.of("auth service", self.base_url, exc) from exc
        if response.status_code >= 400:
            raise ApiError.of(response)
        return response

    def _admin(self) -> str:
        if not self._admin_token:
            # The CLI checks this before building a client; this guards library callers.
            raise ClientError("no admin token: pass --jwt=TOKEN or set MANA_ADMIN_JWT")
        return self._admin_token

    @staticmethod
    def _parse(model: type[_M], response: httpx.Response) -> _M:
        return parse_answer(TypeAdapter(model), response)

    @staticmethod
    def _parse_list(model: type[_M], response: httpx.Response) -> list[_M]:
        return parse_answer(TypeAdapter(list[model]), response)  # type: ignore[valid-type]

    # --- admin persona API ----------------------------------------------------------------

    async def upsert_persona(self, body: PersonaUpsert) -> PersonaUpserted:
        payload = body.model_dump(mode="json", by_alias=True, exclude_none=True)
        response = await self._request("POST", ADMIN_PERSONAS, token=self._admin(), json=payload)
        return self._parse(PersonaUpserted, response)

    async def list_personas(
        self, *, limit: int = PAGE_SIZE, cursor: str | None = None, archetype: str | None = None
    ) -> PersonaList:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if archetype:
            params["archetype"] = archetype
        response = await self._request("GET", ADMIN_PERSONAS, token=self._admin(), params=params)
        return self._parse(PersonaList, response)

    async def iter_personas(
        self, *, archetype: str | None = None, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[PersonaListItem]:
        """Every live persona, following `nextCursor` until the last page."""
        cursor: str | None = None
        seen_cursors: set[str] = set()
        while True:
            page = await self.list_personas(limit=page_size, cursor=cursor, archetype=archetype)
            for item in page.personas:
                yield item
            if not page.next_cursor:
                return
            if page.next_cursor in seen_cursors:
                # A server bug must not turn `cleanup` into an endless loop.
                raise ClientError(f"the persona list repeats cursor {page.next_cursor!r}")
            seen_cursors.add(page.next_cursor)
            cursor = page.next_cursor

    async def all_personas(self, *, archetype: str | None = None) -> list[PersonaListItem]:
        return [p async for p in self.iter_personas(archetype=archetype)]

    async def get_persona(self, user_id: uuid.UUID | str) -> PersonaDetailOut:
        response = await self._request("GET", f"{ADMIN_PERSONAS}/{user_id}", token=self._admin())
        return self._parse(PersonaDetailOut, response)

    async def delete_persona(self, user_id: uuid.UUID | str) -> PersonaDeleted:
        response = await self._request("DELETE", f"{ADMIN_PERSONAS}/{user_id}", token=self._admin())
        return self._parse(PersonaDeleted, response)

    async def forget_memory(self, user_id: uuid.UUID | str) -> bool:
        """Reset the persona's story; whether there was one."""
        response = await self._request(
            "DELETE", f"{ADMIN_PERSONAS}/{user_id}/memory", token=self._admin()
        )
        return self._parse(ForgetOut, response).forgotten

    # --- as a user --------------------------------------------------------------------------

    async def login(self, email: str, password: str) -> TokenResponse:
        response = await self._request(
            "POST", "/api/v1/auth/login", token=None, json={"email": email, "password": password}
        )
        return self._parse(TokenResponse, response)

    async def list_spaces(self, token: str) -> list[SpaceOut]:
        response = await self._request("GET", "/api/v1/spaces", token=token)
        return self._parse_list(SpaceOut, response)

    async def create_space(self, token: str, *, name: str, type: str) -> SpaceOut:
        response = await self._request(
            "POST", "/api/v1/spaces", token=token, json={"name": name, "type": type}
        )
        return self._parse(SpaceOut, response)

    async def get_space(self, token: str, space_id: uuid.UUID) -> SpaceDetailOut:
        response = await self._request("GET", f"/api/v1/spaces/{space_id}", token=token)
        return self._parse(SpaceDetailOut, response)

    async def invite(self, token: str, space_id: uuid.UUID, email: str) -> InvitationOut:
        """Invite an email; an already pending invitation is returned as it is (HTTP 200)."""
        response = await self._request(
            "POST", f"/api/v1/spaces/{space_id}/invitations", token=token, json={"email": email}
        )
        return self._parse(InvitationOut, response)

    async def pending_invitations(self, token: str) -> list[InvitationOut]:
        response = await self._request("GET", "/api/v1/invitations", token=token)
        return self._parse_list(InvitationOut, response)

    async def accept_invitation(self, token: str, invitation_id: uuid.UUID) -> SpaceOut:
        response = await self._request(
            "POST", f"/api/v1/invitations/{invitation_id}/accept", token=token
        )
        return self._parse(SpaceOut, response)
