"""Refresh tokens: rotated on every use; replaying a rotated one revokes its whole family."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.fixtures.database import Db
from tests.fixtures.servers import AuthService


def refresh(auth: AuthService, token: str) -> httpx.Response:
    with auth.client() as client:
        return client.post("/api/v1/auth/refresh", json={"refreshToken": token})


def test_refresh_rotates_the_refresh_token_and_issues_a_new_access_token(
    auth: AuthService,
) -> None:
    user = auth.register()
    session = auth.login(user["email"])
    response = refresh(auth, session["refreshToken"])
    assert response.status_code == 200, response.text
    renewed = response.json()
    assert set(renewed) == {"token", "refreshToken", "expiresIn", "user"}
    assert renewed["refreshToken"] != session["refreshToken"]
    assert renewed["token"] != session["token"]
    assert renewed["user"] == user
    with auth.client(renewed["token"]) as client:
        assert client.get("/api/v1/auth/me").json()["id"] == user["id"]
    # And the new one rotates again.
    assert refresh(auth, renewed["refreshToken"]).status_code == 200


def test_only_a_hash_of_the_refresh_token_is_stored(auth: AuthService, db: Db) -> None:
    session = auth.login(auth.register()["email"])
    stored = db.fetch("SELECT token_hash FROM auth.refresh_tokens")
    assert stored
    assert all(session["refreshToken"] not in row[0] for row in stored)


def test_reusing_a_rotated_refresh_token_revokes_the_token_family(auth: AuthService) -> None:
    user = auth.register()
    stolen = auth.login(user["email"])["refreshToken"]
    other_device = auth.login(user["email"])["refreshToken"]
    current = refresh(auth, stolen).json()["refreshToken"]

    replay = refresh(auth, stolen)
    assert replay.status_code == 401
    assert replay.headers["WWW-Authenticate"] == "Bearer"
    assert replay.json()["error"] == "invalid_refresh_token"
    # The legitimate holder's newer token went with the family...
    assert refresh(auth, current).status_code == 401
    # ...but another login (another family) is untouched.
    assert refresh(auth, other_device).status_code == 200


def test_unknown_refresh_token_is_401(auth: AuthService) -> None:
    response = refresh(auth, "x" * 64)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_refresh_token"


def test_expired_refresh_token_is_401(auth: AuthService) -> None:
    session = auth.login(auth.register()["email"])
    auth.clock.advance(timedelta(days=30, minutes=1))
    assert refresh(auth, session["refreshToken"]).status_code == 401


def test_refresh_token_of_a_deleted_user_is_401(auth: AuthService, db: Db) -> None:
    user = auth.register()
    session = auth.login(user["email"])
    db.execute(
        "UPDATE auth.users SET deleted_at = CURRENT_TIMESTAMP WHERE email = :e", e=user["email"]
    )
    assert refresh(auth, session["refreshToken"]).status_code == 401


def test_refresh_reads_the_current_role_from_the_database(auth: AuthService, db: Db) -> None:
    user = auth.register()
    session = auth.login(user["email"])
    db.execute("UPDATE auth.users SET role = 'admin' WHERE email = :e", e=user["email"])
    renewed = refresh(auth, session["refreshToken"]).json()
    assert renewed["user"]["role"] == "admin"
