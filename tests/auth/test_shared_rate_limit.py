"""The sign-in limit holds across auth processes (counted in the database, or in Redis when
MANA_REDIS_URL is set), and X-Forwarded-For counts only when a trusted proxy sends it."""

from __future__ import annotations

import socket

import httpx
import pytest

from mana.kit.server import free_port
from tests.fixtures.servers import DEFAULT_PASSWORD, own_counters, running_auth_service

LOGIN = "/api/v1/auth/login"
REDIS_URL = "redis://127.0.0.1:6379/0"
WRONG = "wrong-password-123"


def login(client: httpx.Client, email: str, password: str, **headers: str) -> int:
    response = client.post(LOGIN, json={"email": email, "password": password}, headers=headers)
    return response.status_code


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("store", ["database", "redis"])
def test_two_auth_processes_on_one_store_share_the_failed_sign_in_limit(
    database_url: str, store: str
) -> None:
    if store == "redis" and not redis_reachable():
        pytest.skip("no Redis on 127.0.0.1:6379")
    if store == "redis" and not database_url.startswith("sqlite"):
        pytest.skip("Redis holds the counters: once is enough, on either database")
    shared = {
        "login_rate_limit": 3,
        "rate_limit_key_prefix": own_counters(),
        "redis_url": REDIS_URL if store == "redis" else None,
    }
    with (
        running_auth_service(database_url, **shared) as first,
        running_auth_service(database_url, **shared) as second,
        first.client() as a,
        second.client() as b,
    ):
        email = first.register()["email"]
        assert [login(a, email, WRONG), login(b, email, WRONG), login(a, email, WRONG)] == [401] * 3
        # Three failures spread over two processes: both now refuse, as one process would.
        assert login(b, email, DEFAULT_PASSWORD) == 429
        assert login(a, email, DEFAULT_PASSWORD) == 429


def test_a_forged_x_forwarded_for_from_an_untrusted_peer_is_ignored(database_url: str) -> None:
    with (
        running_auth_service(
            database_url, login_rate_limit_per_client=3, rate_limit_key_prefix=own_counters()
        ) as auth,
        auth.client() as client,
    ):
        email = auth.register()["email"]
        # A new "client" per attempt would escape a limit keyed by the header; the peer counts.
        statuses = [
            login(client, email, DEFAULT_PASSWORD, **{"X-Forwarded-For": f"198.51.100.{i}"})
            for i in range(4)
        ]
        assert statuses == [200, 200, 200, 429]


def test_behind_a_trusted_proxy_the_forwarded_client_is_the_one_counted(
    database_url: str,
) -> None:
    with (
        running_auth_service(
            database_url,
            login_rate_limit_per_client=3,
            rate_limit_key_prefix=own_counters(),
            trusted_proxies=["127.0.0.0/8"],
        ) as auth,
        auth.client() as client,
    ):
        email = auth.register()["email"]
        client_a = {"X-Forwarded-For": "203.0.113.7"}
        assert [login(client, email, DEFAULT_PASSWORD, **client_a) for _ in range(3)] == [200] * 3
        assert login(client, email, DEFAULT_PASSWORD, **client_a) == 429
        # Whatever the client itself put in front of the chain is not believed either.
        forged_chain = {"X-Forwarded-For": "192.0.2.99, 203.0.113.7"}
        assert login(client, email, DEFAULT_PASSWORD, **forged_chain) == 429
        # Another client behind the same proxy has a limit of its own.
        assert login(client, email, DEFAULT_PASSWORD, **{"X-Forwarded-For": "203.0.113.8"}) == 200


def test_an_unreachable_redis_refuses_sign_in_with_a_json_503_not_an_open_door(
    database_url: str,
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the database plays no part: once is enough")
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    with (
        running_auth_service(database_url, redis_url=nobody_listens) as auth,
        auth.client() as client,
    ):
        email = auth.register()["email"]
        response = client.post(LOGIN, json={"email": email, "password": DEFAULT_PASSWORD})
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "rate_limit_store_unavailable"
        assert "Retry-After" in response.headers
