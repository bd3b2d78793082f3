"""The auth service's public signing keys, fetched from its JWKS and cached.

`JwksKeyCache.key_for_kid` is the `key_for_kid` lookup that `mana.auth.tokens.verify_access_token`
takes, so the MCP server verifies tokens with the very same code as the auth service; only where
the public keys come from differs (HTTP instead of the database).

Caching rules:
- A known `kid` is answered from memory. The whole set is refetched when it is older than
  `max_age` (so a key the auth service dropped stops verifying within that time).
- An unknown `kid` triggers one refetch (a rotation happened), but fetches are at least
  `min_refetch_interval` apart: a stream of tokens with made-up kids costs the auth service
  at most one request per interval, whatever their number.
- Concurrent lookups share one fetch (a lock, and a second look after waiting for it).
- If a fetch fails, the keys already known keep verifying (the auth service being down for a
  moment must not log everybody out); an unknown kid then raises `JwksUnavailable`, which the
  gateway answers with 503, not 401: the token may well be fine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm
from jwt.exceptions import InvalidKeyError

from mana.auth.keys import ALGORITHM

logger = logging.getLogger(__name__)

JWKS_PATH = "/.well-known/jwks.json"
DEFAULT_MIN_REFETCH_INTERVAL = 5.0
DEFAULT_MAX_AGE = 300.0
# A JWKS is a handful of keys; anything much larger is not one we should parse.
MAX_KEYS = 50


class JwksUnavailable(Exception):
    """The key set could not be fetched and the token's kid is not among the keys we know."""


def parse_jwks(document: Any) -> dict[str, Ed25519PublicKey]:
    """Ed25519 signing keys of a JWKS document by kid. Anything else in it is skipped: tokens
    are pinned to EdDSA, so no other key type may ever be used to verify one."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in document["keys"][:MAX_KEYS]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        if jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
            continue
        if "d" in jwk:
            # A private key published by mistake: never use it, and say so loudly.
            logger.error("JWKS key %s contains private key material; ignoring it", kid)
            continue
        if not isinstance(jwk.get("x"), str):
            continue
        try:
            key = OKPAlgorithm.from_jwk(jwk)
        except (InvalidKeyError, ValueError) as exc:
            logger.warning("JWKS key %s is malformed (%s); ignoring it", kid, type(exc).__name__)
            continue
        if isinstance(key, Ed25519PublicKey):
            keys[kid] = key
    return keys


class JwksKeyCache:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        url: str = JWKS_PATH,
        min_refetch_interval: float = DEFAULT_MIN_REFETCH_INTERVAL,
        max_age: float = DEFAULT_MAX_AGE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._url = url
        self._min_interval = min_refetch_interval
        self._max_age = max_age
        self._monotonic = monotonic
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._last_fetch_ok = True
        self._lock = asyncio.Lock()
        self.fetches = 0  # attempts made; tests and /health read it

    @property
    def kids(self) -> list[str]:
        return sorted(self._keys)

    def _stale(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self._max_age

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._min_interval

    async def key_for_kid(self, kid: str) -> Ed25519PublicKey | None:
        now = self._monotonic()
        key = self._keys.get(kid)
        if key is not None and not self._stale(now):
            return key
        # While a fetch is in flight, wait for its answer rather than answer "unknown".
        if self._may_fetch(now) or self._lock.locked():
            async with self._lock:
                # Someone else may have fetched while we waited for the lock.
                now = self._monotonic()
                key = self._keys.get(kid)
                if (key is None or self._stale(now)) and self._may_fetch(now):
                    await self._fetch(now)
                key = self._keys.get(kid)
        if key is None and not self._last_fetch_ok:
            raise JwksUnavailable("the auth service's signing keys could not be fetched")
        # A stale known key still verifies (the auth service may be down for a moment); an
        # unknown kid within the refetch interval is simply unknown.
        return key

    async def _fetch(self, now: float) -> None:
        self._attempted_at = now
        self.fetches += 1
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
            keys = parse_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("JWKS fetch from %s failed: %s", self._url, type(exc).__name__)
            self._last_fetch_ok = False
            return
        if not keys:
            logger.warning("JWKS from %s holds no usable Ed25519 signing key", self._url)
        self._keys = keys
        self._fetched_at = now
        self._last_fetch_ok = True
