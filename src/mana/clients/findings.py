"""Client of the findings and alerts admin API, parsing with the server's own response models."""

from __future__ import annotations

import uuid
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from mana.clients.errors import ApiError, ServiceUnreachable, parse_answer
from mana.findings.schemas import (
    AlertEvaluationOut,
    AlertListOut,
    AlertOut,
    FindingsOverviewOut,
    ModuleFindingsOut,
)

DEFAULT_TIMEOUT_SECONDS = 60.0

_M = TypeVar("_M", bound=BaseModel)


class FindingsClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._http.aclose()

    async def _call(
        self, model: type[_M], method: str, path: str, params: dict[str, Any] | None = None
    ) -> _M:
        try:
            response = await self._http.request(method, path, params=params)
        except httpx.HTTPError as exc:
            raise ServiceUnreachable.of("auth service", self.base_url, exc) from exc
        if response.status_code >= 400:
            raise ApiError.of(response)
        return parse_answer(TypeAdapter(model), response)

    async def overview(self, *, days: int = 14) -> FindingsOverviewOut:
        return await self._call(
            FindingsOverviewOut, "GET", "/api/v1/admin/findings", {"days": days}
        )

    async def module(
        self, module: str, *, days: int = 14, max_rating: int = 5, notes_limit: int = 20
    ) -> ModuleFindingsOut:
        return await self._call(
            ModuleFindingsOut,
            "GET",
            f"/api/v1/admin/findings/modules/{module}",
            {"days": days, "maxRating": max_rating, "notesLimit": notes_limit},
        )

    async def alerts(self, *, status: str = "open", limit: int = 200) -> AlertListOut:
        return await self._call(
            AlertListOut, "GET", "/api/v1/admin/alerts", {"status": status, "limit": limit}
        )

    async def acknowledge(self, alert_id: uuid.UUID) -> AlertOut:
        return await self._call(AlertOut, "POST", f"/api/v1/admin/alerts/{alert_id}/acknowledge")

    async def evaluate(self) -> AlertEvaluationOut:
        """Evaluate the alert rules now (what a gate does before it reads)."""
        return await self._call(AlertEvaluationOut, "POST", "/api/v1/admin/alerts/evaluate")
