"""Prometheus metrics and the /metrics route, one registry per app.

A registry per app (not the global default) lets tests run several services in one process.
Labels use the route template, never the raw path (ids would explode cardinality and leak).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.routing import Match


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

    def route_of(request: Request) -> str:
        # The router records the route it picked in the scope. Matching app.router.routes here
        # instead finds nothing for included routers (FastAPI wraps them), so every request
        # was labelled "other".
        route = request.scope.get("route")
        if route is None:
            # Plain Starlette routes (the MCP endpoint) do not record themselves in the scope.
            route = next(
                (r for r in app.router.routes if r.matches(request.scope)[0] == Match.FULL), None
            )
        if route is None:
            return "unmatched"
        return str(getattr(route, "path_format", None) or getattr(route, "path", "other"))

    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = route_of(request)
            requests.labels(service, route, request.method, str(status)).inc()
            latency.labels(service, route, request.method).observe(time.perf_counter() - start)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
