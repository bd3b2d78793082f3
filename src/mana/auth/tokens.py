"""Access tokens: EdDSA JWTs with a `kid` header, and the one verifier everybody uses.

The verifier pins the algorithm to EdDSA and looks the key up by `kid` only, so `alg: none`,
HS256-signed-with-the-public-key and key-confusion tricks all fail the same way.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
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


class VerifiedTokens:
    """`verify_access_token` once per token, not once per request.

    A client sends the same access token with every request until it refreshes it (an MCP
    session: every tool call), and the signature check plus PyJWT's parsing was the largest
    part of the MCP gate's cost (issue 14). So a token that verified is remembered — by its
    SHA-256, never the token itself — with its claims and the public key that verified it. The
    same token again is accepted without a signature check only while

    - it has not expired: the verifier's own rule, `exp` plus `LEEWAY_SECONDS`, on every use;
    - `key_for_kid` still answers its kid with *that* key object. Both key caches (the auth
      service's `KeyRing`, the MCP server's `JwksKeyCache`) build new key objects whenever they
      reload, and drop keys that left the key set: a rotated-out or dropped key sends the token
      back through the full verifier, which refuses it if its key is gone. So a revoked key
      stops verifying exactly as soon as it would without this cache.

    Refusals are never remembered. At most `max_entries` tokens are kept (the oldest dropped
    first; a dropped token that comes back is simply verified again).
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        max_entries: int = 10_000,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._max = max_entries
        self._entries: OrderedDict[bytes, tuple[AccessClaims, str, Ed25519PublicKey]]
        self._entries = OrderedDict()
        self.verifications = 0  # full verifications done (tests and benches read it)

    def __len__(self) -> int:
        return len(self._entries)

    async def verify(self, token: str, *, key_for_kid: KeyLookup) -> AccessClaims:
        digest = hashlib.sha256(token.encode()).digest()
        entry = self._entries.get(digest)
        if entry is not None:
            claims, kid, key = entry
            if time.time() < claims.exp + LEEWAY_SECONDS and await key_for_kid(kid) is key:
                return claims
            self._entries.pop(digest, None)
        used: list[tuple[str, Ed25519PublicKey]] = []

        async def remembering_lookup(kid: str) -> Ed25519PublicKey | None:
            key = await key_for_kid(kid)
            if key is not None:
                used.append((kid, key))
            return key

        self.verifications += 1
        claims = await verify_access_token(
            token, key_for_kid=remembering_lookup, issuer=self._issuer, audience=self._audience
        )
        if self._max > 0:
            kid, key = used[-1]
            self._entries[digest] = (claims, kid, key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return claims
