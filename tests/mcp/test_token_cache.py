"""The gate checks a token's signature once, and a rotated-out key still stops it in time."""

from __future__ import annotations

import time
from datetime import timedelta

from mana.auth.tokens import VerifiedTokens
from tests.auth.token_tools import rotate_key
from tests.fixtures.mcp import initialize_body, raw_post, running_mcp_service
from tests.fixtures.servers import running_auth_service

JWKS_MAX_AGE = 0.5


def test_a_session_token_is_verified_once_and_refused_once_its_key_leaves_the_jwks(
    fresh_database_url: str,
) -> None:
    # key_refresh_seconds=0: the auth service publishes a rotation at once; the MCP server sees
    # it when its JWKS copy is older than JWKS_MAX_AGE (in production: 300 s).
    with (
        running_auth_service(fresh_database_url, key_refresh_seconds=0) as auth,
        running_mcp_service(
            auth, mcp_jwks_max_age_seconds=JWKS_MAX_AGE, mcp_jwks_min_refetch_seconds=0
        ) as service,
    ):
        user, token = auth.user_token()
        tokens: VerifiedTokens = service.app.state.verified_tokens
        for _ in range(3):
            assert raw_post(service.endpoint, initialize_body(), token=token).status_code == 200
        assert tokens.verifications == 1

        rotate_key(fresh_database_url, grace=timedelta(0))  # the old key is gone at once
        deadline = time.monotonic() + JWKS_MAX_AGE + 10
        while (
            status := raw_post(service.endpoint, initialize_body(), token=token).status_code
        ) == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 401
        # A token signed by the new key gets in, verified once like any other.
        fresh = auth.login(user["email"])["token"]
        assert raw_post(service.endpoint, initialize_body(), token=fresh).status_code == 200
