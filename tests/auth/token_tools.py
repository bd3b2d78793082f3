"""Tools for the token tests: the server's own signing key (read from the database) to sign
tokens with chosen claims, and hand-made tokens for the attacks a library would refuse to make."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mana.auth.keys import rotate_signing_key
from mana.db import create_engine, create_sessionmaker, transaction
from mana.kit.clock import Clock
from tests.fixtures.database import Db
from tests.fixtures.servers import AuthService


@dataclass(frozen=True)
class ServerKey:
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(
            claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid, **headers}
        )


def server_key(db: Db, token: str) -> ServerKey:
    """The private key that signed `token` (by its kid), straight from auth.signing_keys."""
    kid = jwt.get_unverified_header(token)["kid"]
    pem = db.scalar("SELECT private_key_pem FROM auth.signing_keys WHERE kid = :kid", kid=kid)
    assert pem is not None, f"no signing key {kid} in the database"
    private_key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(private_key, Ed25519PrivateKey)
    return ServerKey(kid=kid, private_key=private_key)


def claims_for(auth: AuthService, user: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """What the server itself would put in an access token for `user`, issued now. An override
    of `...` leaves that claim out."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": auth.settings.jwt_issuer,
        "aud": auth.settings.jwt_audience,
        "sub": user["id"],
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": f"test-{now}-{user['id'][:8]}",
        "email": user["email"],
        "name": user["name"],
        "kind": user["kind"],
        "tier": user["tier"],
        "role": user["role"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not ...}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unsigned_token(claims: dict[str, Any], kid: str) -> str:
    """`alg: none` with an empty signature."""
    return f"{b64url_json({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64url_json(claims)}."


def hs256_token(claims: dict[str, Any], kid: str, secret: bytes) -> str:
    """HS256 with a chosen secret (the key-confusion attack uses the server's public key)."""
    signing_input = (
        f"{b64url_json({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64url_json(claims)}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def with_payload(token: str, claims: dict[str, Any]) -> str:
    """The same header and signature over a different payload."""
    header, _payload, signature = token.split(".")
    return f"{header}.{b64url_json(claims)}.{signature}"


def decode_unverified(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def rotate_key(database_url: str, *, grace: timedelta, development: bool = False) -> str:
    """What `mana auth keys rotate` does, run directly against the database; the new kid."""

    async def run() -> str:
        engine = create_engine(database_url)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                row = await rotate_signing_key(
                    session, now=Clock().now(), grace=grace, development=development
                )
                return row.kid
        finally:
            await engine.dispose()

    return asyncio.run(run())
