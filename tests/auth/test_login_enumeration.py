"""Login failures must not tell an attacker whether an account exists."""

from __future__ import annotations

import statistics
import time

import httpx

from tests.fixtures.database import Db
from tests.fixtures.servers import DEFAULT_PASSWORD, AuthService, unique_email


def attempt(client: httpx.Client, email: str, password: str) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return response, time.perf_counter() - start


def deleted_user(auth: AuthService, db: Db) -> str:
    email = auth.register()["email"]
    db.execute("UPDATE auth.users SET deleted_at = CURRENT_TIMESTAMP WHERE email = :e", e=email)
    return email


def test_unknown_email_wrong_password_and_deleted_user_get_identical_responses(
    auth: AuthService, db: Db
) -> None:
    known = auth.register()["email"]
    gone = deleted_user(auth, db)
    with auth.client() as client:
        responses = [
            attempt(client, unique_email("nobody"), DEFAULT_PASSWORD)[0],
            attempt(client, known, "a-wrong-password-123")[0],
            attempt(client, gone, "a-wrong-password-123")[0],
            # The deleted user's *right* password must not reveal anything either.
            attempt(client, gone, DEFAULT_PASSWORD)[0],
        ]
    assert [r.status_code for r in responses] == [401] * 4
    assert {r.content for r in responses} == {
        b'{"error":"invalid_credentials","message":"invalid email or password"}'
    }
    assert {r.headers["WWW-Authenticate"] for r in responses} == {"Bearer"}
    headers_seen = {tuple(sorted(k for k in r.headers if k not in ("date",))) for r in responses}
    assert len(headers_seen) == 1


def test_unknown_email_and_deleted_user_take_as_long_as_a_wrong_password(
    auth: AuthService, db: Db
) -> None:
    # Skipping the password hash for a missing account would answer ~10x faster; the bounds
    # are loose because the machine is shared, the gap they catch is not subtle.
    known = auth.register()["email"]
    gone = deleted_user(auth, db)
    nobody = unique_email("nobody")
    timings: dict[str, list[float]] = {"wrong": [], "unknown": [], "deleted": []}
    with auth.client() as client:
        attempt(client, nobody, "warm-up-password-1")  # connection set-up off the clock
        for _ in range(5):  # interleaved, so load changes hit all three alike
            timings["wrong"].append(attempt(client, known, "a-wrong-password-123")[1])
            timings["unknown"].append(attempt(client, nobody, "a-wrong-password-123")[1])
            timings["deleted"].append(attempt(client, gone, "a-wrong-password-123")[1])
    median = {k: statistics.median(v) for k, v in timings.items()}
    for case in ("unknown", "deleted"):
        ratio = median[case] / median["wrong"]
        assert 0.4 < ratio < 2.5, f"{case}: {median[case] * 1000:.1f} ms vs {median}"
