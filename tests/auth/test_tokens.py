"""Access tokens: what they carry, who can verify them, and every forgery the verifier refuses."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.auth.token_tools import (
    ServerKey,
    claims_for,
    decode_unverified,
    hs256_token,
    server_key,
    unsigned_token,
    with_payload,
)
from tests.fixtures.database import Db
from tests.fixtures.servers import AuthService, unique_email

ACCESS_CLAIMS = {"iss", "aud", "sub", "iat", "exp", "jti", "email", "name", "kind", "tier", "role"}


def me(auth: AuthService, token: str) -> httpx.Response:
    with auth.client(token) as client:
        return client.get("/api/v1/auth/me")


def assert_rejected(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = response.json()
    assert body["error"] == "unauthorized"
    assert body["message"]


@pytest.fixture
def signed_in(auth: AuthService, db: Db) -> tuple[dict[str, Any], str, ServerKey]:
    """A new user, their access token, and the server key that signed it."""
    user, token = auth.user_token()
    return user, token, server_key(db, token)


def test_access_token_is_an_eddsa_jwt_with_kid_and_the_documented_claims(
    auth: AuthService,
) -> None:
    email = unique_email()
    auth.register(email, name="Grace")
    before = int(time.time())
    token = auth.login(email)["token"]

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"]
    claims = decode_unverified(token)
    assert set(claims) >= ACCESS_CLAIMS
    assert claims["iss"] == "mana-auth" and claims["aud"] == "mana"
    assert (claims["email"], claims["name"]) == (email, "Grace")
    assert (claims["kind"], claims["tier"], claims["role"]) == ("human", "public", "user")
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert before - 2 <= claims["iat"] <= int(time.time()) + 2
    assert len(claims["jti"]) >= 16


def test_every_token_gets_its_own_jti(auth: AuthService) -> None:
    user = auth.register()
    first = decode_unverified(auth.login(user["email"])["token"])
    second = decode_unverified(auth.login(user["email"])["token"])
    assert first["jti"] != second["jti"]
    assert first["sub"] == second["sub"] == user["id"]


def test_jwks_publishes_public_keys_only(auth: AuthService) -> None:
    with auth.client() as client:
        response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == (
            "OKP",
            "Ed25519",
            "EdDSA",
            "sig",
        )
        assert "d" not in key


def test_an_issued_token_verifies_with_a_generic_jwt_library_through_the_jwks(
    auth: AuthService,
) -> None:
    user, token = auth.user_token()
    # PyJWKClient fetches the JWKS over HTTP and picks the key by the token's kid, as any
    # third-party verifier would.
    signing_key = jwt.PyJWKClient(f"{auth.url}/.well-known/jwks.json").get_signing_key_from_jwt(
        token
    )
    claims = jwt.decode(
        token, signing_key.key, algorithms=["EdDSA"], audience="mana", issuer="mana-auth"
    )
    assert claims["sub"] == user["id"]
    assert claims["email"] == user["email"]


def test_a_token_signed_by_the_server_key_with_fresh_claims_is_accepted(
    auth: AuthService, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    # The control for the attacks below: the forging helpers themselves produce valid tokens.
    user, _token, key = signed_in
    response = me(auth, key.sign(claims_for(auth, user)))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == user["id"]


def test_missing_bearer_token_is_rejected_with_401(auth: AuthService) -> None:
    with auth.client() as client:
        assert_rejected(client.get("/api/v1/auth/me"))
        assert_rejected(client.get("/api/v1/auth/me", headers={"Authorization": "Basic YTpi"}))
        assert_rejected(client.get("/api/v1/auth/me", headers={"Authorization": "Bearer"}))


def test_garbage_token_is_rejected_with_401(auth: AuthService) -> None:
    for token in ("not-a-jwt", "a.b.c", "eyJhbGciOiJFZERTQSJ9..", "x" * 5000):
        assert_rejected(me(auth, token))


def test_alg_none_token_is_rejected_with_401(
    auth: AuthService, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    user, _token, key = signed_in
    assert_rejected(me(auth, unsigned_token(claims_for(auth, user), key.kid)))


def test_hs256_token_signed_with_the_public_key_is_rejected_with_401(
    auth: AuthService, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    user, _token, key = signed_in
    claims = claims_for(auth, user, role="admin")
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_raw = key.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    with auth.client() as client:
        jwk = next(
            k for k in client.get("/.well-known/jwks.json").json()["keys"] if k["kid"] == key.kid
        )
    # Every form of the public key a confused verifier might use as the HMAC secret.
    for secret in (public_pem, public_raw, jwk["x"].encode()):
        assert_rejected(me(auth, hs256_token(claims, key.kid, secret)))


def test_tampered_payload_is_rejected_with_401(
    auth: AuthService, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    _user, token, _key = signed_in
    claims = decode_unverified(token)
    assert_rejected(me(auth, with_payload(token, {**claims, "role": "admin"})))
    assert_rejected(me(auth, with_payload(token, {**claims, "exp": claims["exp"] + 3600})))
    # Untouched, the same token still works: only the edit made it fail.
    assert me(auth, token).status_code == 200


def test_token_signed_by_another_key_under_the_servers_kid_is_rejected_with_401(
    auth: AuthService, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    user, _token, key = signed_in
    impostor = ServerKey(kid=key.kid, private_key=Ed25519PrivateKey.generate())
    assert_rejected(me(auth, impostor.sign(claims_for(auth, user))))


def test_token_with_unknown_or_missing_kid_is_rejected_with_401(
    auth: AuthService, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    user, _token, key = signed_in
    claims = claims_for(auth, user)
    assert_rejected(
        me(auth, ServerKey(kid="no-such-key", private_key=key.private_key).sign(claims))
    )
    no_kid = jwt.encode(claims, key.private_key, algorithm="EdDSA")
    assert_rejected(me(auth, no_kid))


def test_token_issued_more_than_its_lifetime_ago_is_rejected_with_401(
    auth: AuthService,
) -> None:
    user = auth.register()
    auth.clock.advance(-timedelta(minutes=20))
    stale = auth.login(user["email"])["token"]
    auth.clock.reset()
    response = me(auth, stale)
    assert_rejected(response)
    assert "expired" in response.json()["message"]


def test_expiry_has_a_small_leeway_and_no_more(
    auth: AuthService, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    user, _token, key = signed_in
    now = int(time.time())
    just_expired = key.sign(claims_for(auth, user, iat=now - 900, nbf=now - 900, exp=now - 5))
    assert me(auth, just_expired).status_code == 200
    expired = key.sign(claims_for(auth, user, iat=now - 1000, nbf=now - 1000, exp=now - 120))
    assert_rejected(me(auth, expired))


def test_not_yet_valid_token_is_rejected_with_401(
    auth: AuthService, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    user, _token, key = signed_in
    now = int(time.time())
    assert me(auth, key.sign(claims_for(auth, user, nbf=now + 5))).status_code == 200
    assert_rejected(me(auth, key.sign(claims_for(auth, user, nbf=now + 300))))
    assert_rejected(me(auth, key.sign(claims_for(auth, user, iat=now + 300, nbf=...))))


def test_wrong_issuer_or_audience_is_rejected_with_401(
    auth: AuthService, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    user, _token, key = signed_in
    assert_rejected(me(auth, key.sign(claims_for(auth, user, iss="someone-else"))))
    assert_rejected(me(auth, key.sign(claims_for(auth, user, aud="another-service"))))
    assert_rejected(me(auth, key.sign(claims_for(auth, user, aud=["another-service"]))))


def test_token_missing_a_required_claim_is_rejected_with_401(
    auth: AuthService, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    user, _token, key = signed_in
    for claim in ("exp", "iat", "sub", "iss", "aud", "jti"):
        assert_rejected(me(auth, key.sign(claims_for(auth, user, **{claim: ...}))))
    assert_rejected(me(auth, key.sign(claims_for(auth, user, sub="not-a-uuid"))))


def test_role_change_in_the_database_takes_effect_on_the_next_request(
    auth: AuthService, db: Db, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    user, token, _key = signed_in
    assert me(auth, token).json()["role"] == "user"
    db.execute("UPDATE auth.users SET role = 'admin' WHERE email = :email", email=user["email"])
    # Same token (its claim still says "user"): the server reads the user, not the claim.
    assert me(auth, token).json()["role"] == "admin"
    db.execute("UPDATE auth.users SET role = 'user' WHERE email = :email", email=user["email"])
    assert me(auth, token).json()["role"] == "user"


def test_token_of_a_deleted_user_is_rejected_on_the_next_request(
    auth: AuthService, db: Db, signed_in: tuple[dict[str, Any], str, ServerKey]
) -> None:
    user, token, _key = signed_in
    assert me(auth, token).status_code == 200
    db.execute(
        "UPDATE auth.users SET deleted_at = CURRENT_TIMESTAMP WHERE email = :email",
        email=user["email"],
    )
    assert_rejected(me(auth, token))
