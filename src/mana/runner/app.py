"""The runner service (`mana serve runner`): the tick loop plus /health, /metrics and, in
development only, /diag endpoints to trigger a pass or test a persona's login."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mana import __version__
from mana.config import Settings
from mana.kit.clock import Clock
from mana.kit.errors import NotFound, install_error_handlers
from mana.runner.brains import get_brain
from mana.runner.brains.base import Brain
from mana.runner.loop import Runner
from mana.runner.metrics import RunnerMetrics
from mana.runner.service import build_runner, check_runner_settings
from mana.runner.session import LoginFailed
from mana.runner.types import PersonaProfile


def create_runner_app(
    settings: Settings, *, clock: Clock | None = None, brain: Brain | None = None
) -> FastAPI:
    """The runner service. Refuses bad configuration here, before serving: production secrets
    (ProductionConfigError), an unknown brain (UnknownBrain) or a brain's missing API key
    (BrainConfigError). The app owns its brain and closes it at shutdown."""
    check_runner_settings(settings)
    the_brain = brain or get_brain(settings.brain, settings)
    metrics = RunnerMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        try:
            async with build_runner(
                settings, brain=the_brain, clock=clock, metrics=metrics, service=True
            ) as runner:
                app.state.runner = runner
                loop_task = asyncio.create_task(runner.run_forever(stop), name="runner-loop")
                try:
                    yield
                finally:
                    # Stop claiming, let in-flight ticks finish or cancel them (they still post).
                    stop.set()
                    await loop_task
        finally:
            await the_brain.aclose()

    app = FastAPI(title="Mana persona runner", version=__version__, lifespan=lifespan)
    install_error_handlers(app)

    def runner_of(request: Request) -> Runner:
        runner: Runner = request.app.state.runner
        return runner

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> dict[str, Any]:
        runner = runner_of(request)
        # Green even when paused: paused is a decision, not a failure.
        return {
            "status": "ok",
            "service": "runner",
            "runnerId": runner.runner_id,
            "paused": runner.paused,
            "inFlight": len(runner.in_flight),
            "concurrency": runner.config.concurrency,
            # The loop's heartbeat: passes keep counting while paused, so a stalled loop shows.
            "passes": runner.passes,
            "lastPassAt": runner.last_pass_at.isoformat() if runner.last_pass_at else None,
            # Services whose circuit breaker is open (ticks paused until a probe succeeds).
            "unreachable": runner.breakers.open_services(),
            "spooled": runner.spool.pending() if runner.spool else 0,
        }

    @app.get("/metrics", include_in_schema=False)
    async def metrics_route() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def development_only() -> None:
        if settings.is_production:
            raise NotFound("not found")

    @app.post("/diag/tick", tags=["diag"])
    async def diag_tick(request: Request) -> dict[str, Any]:
        """Run one claiming pass now (development only)."""
        development_only()
        started = await runner_of(request).claim_and_start()
        return {"started": started}

    @app.get("/diag/login", tags=["diag"])
    async def diag_login(request: Request, email: str = Query(max_length=320)) -> JSONResponse:
        """Check that a persona can log in with its derived password (development only)."""
        development_only()
        runner = runner_of(request)
        profile = PersonaProfile(
            user_id=uuid.UUID(int=0),
            email=email.strip().lower(),
            archetype="diag",
            system_prompt="diagnostic login check",
            module_mix={},
        )
        try:
            await runner.deps.auth.access_token(profile)
        except LoginFailed as exc:
            return JSONResponse({"ok": False, "email": profile.email, "message": str(exc)})
        return JSONResponse({"ok": True, "email": profile.email})

    return app
