"""The runner service app (what `mana serve runner` serves) on 127.0.0.1: /health stays green
while paused, /metrics speaks Prometheus without user ids, /diag/* exists in development only,
and a paused loop claims nothing until an operator asks with POST /diag/tick."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mana.config import ProductionConfigError, Settings
from mana.kit.server import BackgroundServer
from mana.runner.app import create_runner_app
from mana.runner.brains import UnknownBrain
from mana.runner.brains.llm_common import BrainConfigError
from tests.fixtures.runner import (
    RunnerWorld,
    backend_of,
    fresh_world,
    metric_value,
    wait_until,
)
from tests.fixtures.servers import make_settings

METRIC_FAMILIES = (
    "persona_ticks_total",
    "persona_tool_calls_total",
    "persona_errors_total",
    "persona_tick_duration_seconds",
    "persona_ticks_in_flight",
)


@pytest.fixture
def paused_service(runner_world: RunnerWorld) -> Iterator[str]:
    """A paused runner on the shared servers (paused: it must not claim other tests' personas)."""
    app = create_runner_app(runner_world.settings(runner_paused=True, tick_interval_ms=100))
    with BackgroundServer(app) as server:
        yield server.url


def health(url: str) -> dict[str, object]:
    response = httpx.get(f"{url}/health", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_health_is_green_while_paused_and_shows_the_loop_going_round(paused_service: str) -> None:
    first = health(paused_service)
    assert first["status"] == "ok" and first["service"] == "runner"
    assert first["paused"] is True
    assert (first["inFlight"], first["concurrency"]) == (0, 2)
    later = wait_until(
        lambda: (h := health(paused_service))["passes"] > first["passes"] and h,  # type: ignore[operator]
        what="another loop pass",
    )
    assert later["lastPassAt"] is not None


def test_metrics_are_prometheus_text_with_every_runner_family(paused_service: str) -> None:
    response = httpx.get(f"{paused_service}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for family in METRIC_FAMILIES:
        assert f"# TYPE {family} " in response.text
    assert metric_value(response.text, "persona_ticks_in_flight") == 0


def test_diag_login_says_whether_a_persona_can_log_in(
    runner_world: RunnerWorld, paused_service: str
) -> None:
    _, good = runner_world.create_persona()
    _, bad = runner_world.create_persona(secret="not-the-runners-secret")

    def check(email: str) -> dict[str, object]:
        response = httpx.get(f"{paused_service}/diag/login", params={"email": email}, timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    assert check(good.upper()) == {"ok": True, "email": good}
    assert check(bad) == {
        "ok": False,
        "email": bad,
        "message": "login failed (401): invalid email or password",
    }
    assert check("nobody.here@mana.test")["ok"] is False


def production(world: RunnerWorld, **overrides: object) -> Settings:
    return world.settings(env="production", runner_paused=True, **overrides)


def test_diag_endpoints_do_not_exist_in_production(runner_world: RunnerWorld) -> None:
    with BackgroundServer(create_runner_app(production(runner_world))) as server:
        assert health(server.url)["status"] == "ok"
        assert httpx.post(f"{server.url}/diag/tick", timeout=10).status_code == 404
        login = httpx.get(f"{server.url}/diag/login", params={"email": "a@b.c"}, timeout=10)
        assert login.status_code == 404
        assert login.json()["error"] == "not_found"


def test_the_runner_refuses_bad_configuration_before_serving(tmp_path: Path) -> None:
    unused = f"sqlite:///{tmp_path / 'unused.db'}"  # the runner never opens a database

    def settings(**overrides: object) -> Settings:
        return make_settings(unused, **overrides)

    with pytest.raises(ProductionConfigError, match="MANA_SERVICE_KEY"):
        create_runner_app(settings(env="production", service_key="mana-dev-service-key"))
    with pytest.raises(ProductionConfigError, match="PERSONA_SEED_SECRET"):
        create_runner_app(settings(env="production", persona_seed_secret=None))
    with pytest.raises(UnknownBrain, match="unknown brain 'clever'"):
        create_runner_app(settings(brain="clever"))
    with pytest.raises(BrainConfigError, match="ANTHROPIC_API_KEY"):
        create_runner_app(settings(brain="anthropic", anthropic_api_key=None))


def test_a_paused_loop_claims_nothing_until_an_operator_asks(
    database_url: str, tmp_path: Path
) -> None:
    with fresh_world(backend_of(database_url), tmp_path) as world:
        persona_id, _ = world.create_persona()
        app = create_runner_app(world.settings(runner_paused=True, tick_interval_ms=100))
        with BackgroundServer(app) as server:
            wait_until(lambda: health(server.url)["passes"] >= 3, what="three loop passes")  # type: ignore[operator]
            assert world.ticks(persona_id) == []
            assert persona_id in world.api.due_ids()

            answer = httpx.post(f"{server.url}/diag/tick", timeout=30)
            assert answer.status_code == 200 and answer.json() == {"started": 1}
            wait_until(lambda: world.tick_statuses(persona_id) == ["ok"], what="the tick")
            wait_until(lambda: health(server.url)["inFlight"] == 0, what="an idle pool")
            metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
            assert metric_value(metrics, "persona_ticks_total", status="ok") == 1
            assert persona_id not in metrics
        assert world.lease(persona_id) == (None, None)
