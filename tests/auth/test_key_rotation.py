"""Signing-key rotation: the new key signs at once, the old one verifies until its grace ends."""

from __future__ import annotations

from datetime import timedelta

import jwt

from tests.auth.token_tools import rotate_key
from tests.fixtures.servers import AuthService, running_auth_service

GRACE = timedelta(hours=1)


def jwks_kids(auth: AuthService) -> list[str]:
    with auth.client() as client:
        return [key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]]


def status_of_me(auth: AuthService, token: str) -> int:
    with auth.client(token) as client:
        return client.get("/api/v1/auth/me").status_code


def verify_with_jwks(auth: AuthService, token: str) -> dict[str, object]:
    key = jwt.PyJWKClient(f"{auth.url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    return dict(
        jwt.decode(token, key.key, algorithms=["EdDSA"], audience="mana", issuer="mana-auth")
    )


def test_old_key_keeps_verifying_during_its_grace_and_stops_after_it(
    fresh_database_url: str,
) -> None:
    # key_refresh_seconds=0: the server re-reads the keys on every use, so the rotation is seen
    # by the very next request (in production it is seen within MANA_KEY_REFRESH_SECONDS).
    with running_auth_service(fresh_database_url, key_refresh_seconds=0) as auth:
        user, old_token = auth.user_token()
        old_kid = jwt.get_unverified_header(old_token)["kid"]
        assert jwks_kids(auth) == [old_kid]

        new_kid = rotate_key(fresh_database_url, grace=GRACE)

        assert sorted(jwks_kids(auth)) == sorted([old_kid, new_kid])
        new_token = auth.login(user["email"])["token"]
        assert jwt.get_unverified_header(new_token)["kid"] == new_kid
        assert status_of_me(auth, old_token) == 200
        assert status_of_me(auth, new_token) == 200
        assert verify_with_jwks(auth, old_token)["sub"] == user["id"]
        assert verify_with_jwks(auth, new_token)["sub"] == user["id"]

        auth.clock.advance(GRACE - timedelta(minutes=1))
        assert status_of_me(auth, old_token) == 200

        auth.clock.advance(timedelta(minutes=2))
        assert jwks_kids(auth) == [new_kid]
        assert status_of_me(auth, old_token) == 401
        assert status_of_me(auth, new_token) == 200


def test_rotation_without_grace_retires_the_old_key_at_once(fresh_database_url: str) -> None:
    with running_auth_service(fresh_database_url, key_refresh_seconds=0) as auth:
        user, old_token = auth.user_token()
        new_kid = rotate_key(fresh_database_url, grace=timedelta(0))
        assert jwks_kids(auth) == [new_kid]
        assert status_of_me(auth, old_token) == 401
        assert status_of_me(auth, auth.login(user["email"])["token"]) == 200


def test_login_and_refresh_succeed_when_the_key_cache_is_due_for_a_reload(
    fresh_database_url: str,
) -> None:
    # A reload opens a second connection. Done in the middle of the login's transaction, on
    # SQLite it waited for that transaction's own write lock: a 30 s hang, then a 500.
    with running_auth_service(fresh_database_url, key_refresh_seconds=0) as auth:
        user = auth.register()
        session = auth.login(user["email"])
        with auth.client() as client:
            renewed = client.post(
                "/api/v1/auth/refresh", json={"refreshToken": session["refreshToken"]}, timeout=10
            )
        assert renewed.status_code == 200, renewed.text
        assert status_of_me(auth, renewed.json()["token"]) == 200
