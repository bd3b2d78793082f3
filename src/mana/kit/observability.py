"""Prometheus metrics and the /metrics route, one registry per app.

A registry per app (not the global default) lets tests run several services in one process.
Labels use the route template, never the raw path (ids would explode cardinality and leak).
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMetrics:
    """Counts and times every HTTP request, labelled by route template, method and status.

    A plain ASGI middleware, not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs
    every request through a task group and a memory stream, and py-spy showed it as the largest
    single cost of a request on both services (issue 14).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        requests: Counter,
        latency: Histogram,
        routes: list[BaseRoute],
    ) -> None:
        self.app = app
        self._service = service
        self._requests = requests
        self._latency = latency
        self._routes = routes

    def _route_of(self, scope: Scope) -> str:
        # The router records the route it picked in the scope. Matching the app's routes here
        # instead finds nothing for included routers (FastAPI wraps them), so every request
        # was labelled "other".
        route = scope.get("route")
        if route is None:
            route = next((r for r in self._routes if r.matches(scope)[0] == Match.FULL), None)
        if route is None:
            return "unmatched"
        return str(getattr(route, "path_format", None) or getattr(route, "path", "other"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route, method = self._route_of(scope), scope["method"]
            self._requests.labels(self._service, route, method, str(status)).inc()
            self._latency.labels(self._service, route, method).observe(time.perf_counter() - start)


def install_http_metrics(app: FastAPI, *, service: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    requests = Counter(
        "http_requests_total",
        "HTTP requests by route template, method and status",
        ["service", "route", "method", "status"],
        registry=registry,
    )
    latency = Histogram(
        "http_request_duration_seconds",
        "HTTP request latency by route template",
        ["service", "route", "method"],
        registry=registry,
    )
    app.add_middleware(
        HttpMetrics,
        service=service,
        requests=requests,
        latency=latency,
        routes=app.router.routes,
    )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
