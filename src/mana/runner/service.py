"""Wiring: build a Runner (and its clients) from Settings. Used by the CLI, the runner service
and `mana demo`, so all three behave the same way."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import httpx

from mana.clients.internal import InternalApi
from mana.config import ProductionConfigError, Settings
from mana.kit.clock import Clock
from mana.personas.password import SeedSecretError, resolve_seed_secret
from mana.runner.brains import get_brain
from mana.runner.brains.base import Brain
from mana.runner.brains.shared_budget import SharedDailySpend, shared_daily_spend
from mana.runner.loop import Runner, RunnerConfig, default_runner_id, stable_runner_id
from mana.runner.metrics import RunnerMetrics
from mana.runner.outages import Breakers
from mana.runner.session import McpConnections, PersonaAuth
from mana.runner.spool import Spool
from mana.runner.tick import TickDeps, TickReport


def runner_config(settings: Settings) -> RunnerConfig:
    return RunnerConfig(
        concurrency=settings.persona_concurrency,
        interval_seconds=settings.tick_interval_ms / 1000,
        timeout_seconds=settings.tick_timeout_seconds,
        lease_seconds=settings.runner_lease_seconds,
    )


def service_runner_id(settings: Settings) -> str:
    """MANA_RUNNER_ID, or an id that stays the same across restarts of this service."""
    return settings.runner_id or stable_runner_id(settings.runner_spool_dir.parent)


def seed_secret(settings: Settings) -> str:
    """The seed secret, or a ProductionConfigError naming PERSONA_SEED_SECRET."""
    raw = settings.persona_seed_secret.get_secret_value() if settings.persona_seed_secret else None
    try:
        return resolve_seed_secret(raw, production=settings.is_production)
    except SeedSecretError as exc:
        raise ProductionConfigError(str(exc)) from exc


def check_runner_settings(settings: Settings) -> None:
    """Production refuses a missing/dev service key and the development seed secret."""
    settings.require_production_secrets()
    seed_secret(settings)


@contextlib.asynccontextmanager
async def build_runner(
    settings: Settings,
    *,
    brain: str | Brain | None = None,
    clock: Clock | None = None,
    metrics: RunnerMetrics | None = None,
    runner_id: str | None = None,
    on_report: Callable[[TickReport], None] | None = None,
    service: bool = False,
) -> AsyncIterator[Runner]:
    """A Runner wired from settings. `brain` is a name (default: settings.brain) or a ready
    instance (tests, benches, the runner service), which the caller then owns and closes.

    `service`: the long-running runner (`mana serve runner`): its stable id, and at start it
    sends the spool and takes back the leases its previous run left. One-off runs get a fresh
    id, so they never close a running service's ticks."""
    check_runner_settings(settings)
    # Built once, before anything is claimed: an unknown name or a missing API key fails here.
    # One instance serves every tick, so a brain's per-day budget spans the whole process.
    the_brain: Brain
    runner_id = runner_id or (service_runner_id(settings) if service else default_runner_id())
    shared_spend: SharedDailySpend | None = None
    if brain is None or isinstance(brain, str):
        name = brain or settings.brain
        if name != "scripted":
            # The daily LLM budget is the ledger's, shared with every other runner process.
            shared_spend = shared_daily_spend(settings, runner_id=runner_id, clock=clock)
        try:
            the_brain, owned = get_brain(name, settings, daily_spend=shared_spend), True
        except BaseException:
            if shared_spend is not None:
                await shared_spend.aclose()
            raise
    else:
        the_brain, owned = brain, False

    def brain_factory() -> Brain:
        return the_brain

    spool = Spool(settings.runner_spool_dir, runner_id)
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as http,
        McpConnections() as mcp_connections,
    ):
        internal = InternalApi(
            settings.auth_url, settings.service_key.get_secret_value(), client=http, spool=spool
        )
        deps = TickDeps(
            internal=internal,
            auth=PersonaAuth(settings.auth_url, seed_secret(settings), http),
            mcp_url=settings.mcp_url,
            clock=clock or Clock(),
            runner_id=runner_id,
            timeout_seconds=settings.tick_timeout_seconds,
            mcp=mcp_connections,
            lease_seconds=settings.runner_lease_seconds,
            action_batch_calls=settings.runner_action_batch_calls,
            action_batch_seconds=settings.runner_action_batch_seconds,
        )
        try:
            if shared_spend is not None:
                await shared_spend.start()
            yield Runner(
                runner_config(settings),
                internal=internal,
                deps=deps,
                brain_factory=brain_factory,
                metrics=metrics,
                paused=settings.runner_paused,
                on_report=on_report,
                breakers=Breakers(max_pause_seconds=settings.runner_breaker_max_seconds),
                spool=spool,
                recover_at_start=service,
            )
        finally:
            if owned:
                await the_brain.aclose()
            if shared_spend is not None:
                await shared_spend.aclose()
