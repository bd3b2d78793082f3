"""Brute-force protection: sign-in attempts are throttled per client and email, never locked."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mana.auth import passwords
from tests.fixtures.servers import DEFAULT_PASSWORD, own_counters, running_auth_service


def login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_repeated_failed_sign_ins_for_one_email_get_429_with_retry_after(
    database_url: str,
) -> None:
    with running_auth_service(database_url, login_rate_limit=3) as auth, auth.client() as client:
        email = auth.register()["email"]
        failures = [login(client, email, "wrong-password-123").status_code for _ in range(3)]
        assert failures == [401, 401, 401]

        throttled = login(client, email, "wrong-password-123")
        assert throttled.status_code == 429
        assert throttled.json()["error"] == "rate_limited"
        assert 1 <= int(throttled.headers["Retry-After"]) <= 60
        # Throttled means throttled: the right password waits too...
        assert login(client, email, DEFAULT_PASSWORD).status_code == 429
        # ...but only for that email: other accounts from the same client are unaffected,
        # with the email spelt in any case counting as the same account.
        assert login(client, email.upper(), DEFAULT_PASSWORD).status_code == 429
        other = auth.register()["email"]
        assert login(client, other, DEFAULT_PASSWORD).status_code == 200


def test_successful_sign_ins_do_not_count_against_the_account(database_url: str) -> None:
    with running_auth_service(database_url, login_rate_limit=2) as auth, auth.client() as client:
        email = auth.register()["email"]
        assert [login(client, email, DEFAULT_PASSWORD).status_code for _ in range(4)] == [200] * 4


def test_all_sign_ins_from_one_client_are_limited_too(database_url: str) -> None:
    with (
        running_auth_service(database_url, login_rate_limit_per_client=3) as auth,
        auth.client() as client,
    ):
        emails = [auth.register()["email"] for _ in range(4)]
        assert [login(client, e, DEFAULT_PASSWORD).status_code for e in emails] == [
            200,
            200,
            200,
            429,
        ]


def wait_until_not_throttled(client: httpx.Client, email: str, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = login(client, email, DEFAULT_PASSWORD)
        if response.status_code != 429 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)  # polling for the window to pass, not waiting a fixed time


def test_throttling_is_not_a_lock_out_the_account_signs_in_after_the_window(
    database_url: str,
) -> None:
    with (
        running_auth_service(database_url, login_rate_limit=2, login_rate_window_seconds=3) as auth,
        auth.client() as client,
    ):
        email = auth.register()["email"]
        assert [login(client, email, "wrong-password-123").status_code for _ in range(2)] == [
            401,
            401,
        ]
        assert login(client, email, DEFAULT_PASSWORD).status_code == 429
        response = wait_until_not_throttled(client, email, timeout=10)
        assert response.status_code == 200, response.text


def test_attempts_refused_for_the_account_are_not_charged_to_the_client(
    database_url: str,
) -> None:
    """The client counter is counted and checked in one step, after the account check: an
    attempt the account limit refuses never reaches it (issue 14 kept this behaviour)."""
    with (
        running_auth_service(
            database_url, login_rate_limit=2, login_rate_limit_per_client=4
        ) as auth,
        auth.client() as client,
    ):
        throttled, other = auth.register()["email"], auth.register()["email"]
        assert [login(client, throttled, "wrong-password-123").status_code for _ in range(2)] == [
            401,
            401,
        ]
        assert [login(client, throttled, DEFAULT_PASSWORD).status_code for _ in range(3)] == [
            429
        ] * 3
        # Two attempts charged so far: two more are allowed, the fifth is not.
        assert [login(client, other, DEFAULT_PASSWORD).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]


def test_concurrent_sign_ins_never_get_past_the_client_limit(database_url: str) -> None:
    """The client's counter is hit while the password hashes (issue 14); its answer still
    decides, so requests that all passed the read before hashing cannot exceed the limit."""
    with running_auth_service(
        database_url, login_rate_limit_per_client=3, rate_limit_key_prefix=own_counters()
    ) as auth:
        emails = [auth.register()["email"] for _ in range(8)]

        def attempt(email: str) -> int:
            with auth.client() as client:
                return login(client, email, DEFAULT_PASSWORD).status_code

        with ThreadPoolExecutor(len(emails)) as pool:
            statuses = sorted(pool.map(attempt, emails))
        assert statuses == [200] * 3 + [429] * 5


def test_a_client_over_its_limit_is_refused_without_hashing(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Throttling also protects the CPU: once the counter is over, no password is hashed."""
    with (
        running_auth_service(
            database_url, login_rate_limit_per_client=2, rate_limit_key_prefix=own_counters()
        ) as auth,
        auth.client() as client,
    ):
        email = auth.register()["email"]
        assert [login(client, email, DEFAULT_PASSWORD).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        verified: list[str] = []
        verify = passwords.verify_password_sync

        def counting_verify(password_hash: str | None, password: str) -> bool:
            verified.append(password)
            return verify(password_hash, password)

        monkeypatch.setattr(passwords, "verify_password_sync", counting_verify)
        refused = [login(client, email, "wrong-password-123") for _ in range(3)]
        assert [r.status_code for r in refused] == [429] * 3
        assert verified == []
