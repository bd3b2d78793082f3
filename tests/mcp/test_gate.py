"""Who gets in: tokens (verified against the auth service's JWKS), origins, hosts, protocol era."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mcp import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from mana.kit.server import free_port
from tests.fixtures.database import Db
from tests.fixtures.mcp import (
    McpService,
    db_uuid,
    initialize_body,
    mcp_session,
    raw_post,
    running_mcp_service,
)
from tests.fixtures.servers import AuthService


def claims_of(auth: AuthService, user: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": auth.settings.jwt_issuer,
        "aud": auth.settings.jwt_audience,
        "sub": user["id"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "kind": user["kind"],
    }
    claims.update(overrides)
    return claims


def real_signing_key(db: Db, token: str) -> tuple[str, Ed25519PrivateKey]:
    kid = jwt.get_unverified_header(token)["kid"]
    pem = db.scalar("SELECT private_key_pem FROM auth.signing_keys WHERE kid = :kid", kid=kid)
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return kid, key


def assert_unauthorized(response: Any, *, invalid_token: bool = True) -> str:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    if invalid_token:
        assert 'error="invalid_token"' in challenge
    body = response.json()
    assert body["error"]["data"]["error"] == "unauthorized"
    return str(body["error"]["message"])


def test_no_token_is_401_with_a_bearer_challenge(mcp_service: McpService) -> None:
    response = raw_post(mcp_service.endpoint, initialize_body())
    assert_unauthorized(response, invalid_token=False)
    assert response.headers["www-authenticate"] == "Bearer"
    basic = raw_post(mcp_service.endpoint, initialize_body(), authorization="Basic dXNlcjpwdw==")
    assert_unauthorized(basic, invalid_token=False)


def test_a_garbage_token_is_401(mcp_service: McpService) -> None:
    response = raw_post(mcp_service.endpoint, initialize_body(), token="not.a.jwt")
    assert "malformed" in assert_unauthorized(response)


def test_an_expired_token_is_401(auth: AuthService, mcp_service: McpService) -> None:
    user = auth.register()
    auth.clock.advance(-timedelta(hours=2))  # the auth service issues it two hours ago
    token = auth.login(user["email"])["token"]
    auth.clock.reset()
    response = raw_post(mcp_service.endpoint, initialize_body(), token=token)
    assert assert_unauthorized(response) == "token expired"


def test_a_token_signed_by_another_key_is_401(
    auth: AuthService, mcp_service: McpService, db: Db
) -> None:
    user, real = auth.user_token()
    real_kid, _ = real_signing_key(db, real)
    stranger = Ed25519PrivateKey.generate()
    # An unknown kid, and (worse) our own kid on a signature made with another key.
    for kid in (f"forged-{uuid.uuid4().hex[:8]}", real_kid):
        forged = jwt.encode(
            claims_of(auth, user), stranger, algorithm="EdDSA", headers={"kid": kid}
        )
        response = raw_post(mcp_service.endpoint, initialize_body(), token=forged)
        assert_unauthorized(response)


def test_wrong_audience_issuer_or_algorithm_is_401(
    auth: AuthService, mcp_service: McpService, db: Db
) -> None:
    user, real = auth.user_token()
    kid, key = real_signing_key(db, real)
    for overrides in (
        {"aud": "someone-else"},
        {"iss": "evil-issuer"},
        {"exp": int(time.time()) - 600},
    ):
        token = jwt.encode(
            claims_of(auth, user, **overrides), key, algorithm="EdDSA", headers={"kid": kid}
        )
        assert_unauthorized(raw_post(mcp_service.endpoint, initialize_body(), token=token))
    hs256 = jwt.encode(
        claims_of(auth, user), "a-shared-secret-of-at-least-32-bytes!", headers={"kid": kid}
    )
    assert_unauthorized(raw_post(mcp_service.endpoint, initialize_body(), token=hs256))
    # The same key and claims the auth service would use do get in: the failures above are
    # about the one thing each of them changed.
    good = jwt.encode(claims_of(auth, user), key, algorithm="EdDSA", headers={"kid": kid})
    assert raw_post(mcp_service.endpoint, initialize_body(), token=good).status_code == 200


def test_a_deleted_users_token_is_401(auth: AuthService, mcp_service: McpService, db: Db) -> None:
    user, token = auth.user_token()
    db.execute(
        "UPDATE auth.users SET deleted_at = CURRENT_TIMESTAMP WHERE id = :id",
        id=db_uuid(db, user["id"]),
    )
    response = raw_post(mcp_service.endpoint, initialize_body(), token=token)
    assert assert_unauthorized(response) == "user no longer exists"


@pytest.mark.anyio
async def test_the_official_client_sees_the_reason_for_a_401(mcp_service: McpService) -> None:
    with pytest.raises(BaseException) as caught:  # an ExceptionGroup around MCPError
        async with mcp_session(mcp_service.endpoint, "not.a.jwt"):
            pass
    messages = [str(e) for e in leaves(caught.value) if isinstance(e, MCPError)]
    assert any("malformed token" in m for m in messages), messages


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def test_made_up_key_ids_cost_the_auth_service_at_most_one_jwks_fetch(
    auth: AuthService, mcp_service: McpService
) -> None:
    user, token = auth.user_token()
    assert raw_post(mcp_service.endpoint, initialize_body(), token=token).status_code == 200
    stranger = Ed25519PrivateKey.generate()
    before = mcp_service.keys.fetches
    for _ in range(25):
        forged = jwt.encode(
            claims_of(auth, user),
            stranger,
            algorithm="EdDSA",
            headers={"kid": uuid.uuid4().hex},
        )
        assert_unauthorized(raw_post(mcp_service.endpoint, initialize_body(), token=forged))
    assert mcp_service.keys.fetches - before <= 1


def test_unreachable_signing_keys_are_503_not_401(auth: AuthService) -> None:
    _, token = auth.user_token()
    with running_mcp_service(auth, auth_url=f"http://127.0.0.1:{free_port()}") as service:
        response = raw_post(service.endpoint, initialize_body(), token=token)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"]["data"]["error"] == "auth_unavailable"


def test_an_evil_origin_is_rejected_even_with_a_valid_token(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, token = auth.user_token()
    response = raw_post(
        mcp_service.endpoint, initialize_body(), token=token, origin="http://evil.example"
    )
    assert response.status_code == 403
    assert response.json()["error"]["data"]["error"] == "invalid_origin"
    allowed = raw_post(
        mcp_service.endpoint,
        initialize_body(),
        token=token,
        origin=f"http://127.0.0.1:{mcp_service.server.port}",
    )
    assert allowed.status_code == 200


def test_a_foreign_host_header_is_rejected(auth: AuthService, mcp_service: McpService) -> None:
    _, token = auth.user_token()
    response = raw_post(mcp_service.endpoint, initialize_body(), token=token, host="evil.example")
    assert response.status_code == 421
    assert response.json()["error"]["data"]["error"] == "invalid_host"


def test_a_stateless_2026_request_is_refused_with_the_versions_we_speak(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, token = auth.user_token()
    response = raw_post(
        mcp_service.endpoint,
        {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}},
        token=token,
        mcp_protocol_version="2026-07-28",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32022
    assert error["data"]["supported"] == list(HANDSHAKE_PROTOCOL_VERSIONS)
    assert error["data"]["requested"] == "2026-07-28"


@pytest.mark.anyio
async def test_a_client_in_auto_mode_falls_back_to_a_stateful_session(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, token = auth.user_token()
    async with mcp_session(mcp_service.endpoint, token, mode="auto") as mcp:
        assert mcp.client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS
        result = await mcp.client.call_tool("todo.create", {"title": "auto mode"})
        assert not result.is_error
        assert len(mcp.session_ids) == 1
