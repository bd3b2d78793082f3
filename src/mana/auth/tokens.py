"""Access tokens: EdDSA JWTs with a `kid` header, and the one verifier everybody uses.

The verifier pins the algorithm to EdDSA and looks the key up by `kid` only, so `alg: none`,
HS256-signed-with-the-public-key and key-confusion tricks all fail the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mana.auth.keys import ALGORITHM, LoadedKey
from mana.auth.models import User

LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or meant for someone else."""


@dataclass(frozen=True)
class AccessClaims:
    sub: uuid.UUID
    email: str
    name: str | None
    kind: str
    tier: str
    role: str
    exp: int
    jti: str
    raw: Mapping[str, Any]


def issue_access_token(
    user: User, *, key: LoadedKey, issuer: str, audience: str, now: datetime, ttl: timedelta
) -> str:
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": str(user.id),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
        "email": user.email,
        "name": user.name,
        "kind": user.kind,
        "tier": user.access_tier,
        "role": user.role,
    }
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


KeyLookup = Callable[[str], Awaitable[Ed25519PublicKey | None]]


async def verify_access_token(
    token: str, *, key_for_kid: KeyLookup, issuer: str, audience: str
) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("malformed token") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("unexpected token algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("token has no key id")
    public_key = await key_for_kid(kid)
    if public_key is None:
        raise InvalidToken("token signed by an unknown key")
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
        )
        return AccessClaims(
            sub=uuid.UUID(claims["sub"]),
            email=str(claims.get("email", "")),
            name=claims.get("name"),
            kind=str(claims.get("kind", "human")),
            tier=str(claims.get("tier", "public")),
            role=str(claims.get("role", "user")),
            exp=int(claims["exp"]),
            jti=str(claims["jti"]),
            raw=claims,
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidToken("token not yet valid") from exc
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise InvalidToken("invalid token") from exc
