"""The JWKS key cache against a real (tiny) JWKS server on 127.0.0.1 whose keys we control.

Time is a hand-moved monotonic clock, so intervals and ages are checked without sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mana.kit.server import BackgroundServer
from mana.mcp.jwks import JWKS_PATH, JwksKeyCache, JwksUnavailable, parse_jwks

pytestmark = pytest.mark.anyio

INTERVAL = 5.0
MAX_AGE = 300.0


def public_jwk(kid: str, key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    key = key or Ed25519PrivateKey.generate()
    jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}


@dataclass
class JwksDouble:
    """What the auth service publishes, changeable by the test; counts the requests."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    failing: bool = False
    hits: int = 0

    async def endpoint(self, request: Request) -> Response:
        self.hits += 1
        if self.failing:
            return JSONResponse({"error": "down"}, status_code=503)
        return JSONResponse({"keys": self.keys})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[tuple[JwksDouble, str]]:
    double = JwksDouble()
    app = Starlette(routes=[Route(JWKS_PATH, double.endpoint)])
    with BackgroundServer(app) as server:
        yield double, server.url


@pytest.fixture
async def cache_and_double(
    jwks_server: tuple[JwksDouble, str],
) -> AsyncIterator[tuple[JwksKeyCache, JwksDouble, Clock]]:
    double, url = jwks_server
    double.keys, double.failing, double.hits = [public_jwk("k1")], False, 0
    clock = Clock()
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        cache = JwksKeyCache(
            client, min_refetch_interval=INTERVAL, max_age=MAX_AGE, monotonic=clock
        )
        yield cache, double, clock


async def test_a_known_kid_is_answered_from_memory(
    cache_and_double: tuple[JwksKeyCache, JwksDouble, Clock],
) -> None:
    cache, double, clock = cache_and_double
    for _ in range(50):
        assert await cache.key_for_kid("k1") is not None
        clock.now += 1
    assert double.hits == 1


async def test_unknown_kids_refetch_at_most_once_per_interval(
    cache_and_double: tuple[JwksKeyCache, JwksDouble, Clock],
) -> None:
    cache, double, clock = cache_and_double
    assert await cache.key_for_kid("k1") is not None
    clock.now += INTERVAL
    for n in range(100):
        assert await cache.key_for_kid(f"made-up-{n}") is None
    assert double.hits == 2  # the first fetch, and one refetch for all the made-up kids
    clock.now += INTERVAL
    assert await cache.key_for_kid("made-up-again") is None
    assert double.hits == 3


async def test_a_key_rotated_in_is_found_by_one_refetch(
    cache_and_double: tuple[JwksKeyCache, JwksDouble, Clock],
) -> None:
    cache, double, clock = cache_and_double
    assert await cache.key_for_kid("k1") is not None
    double.keys.append(public_jwk("k2"))
    clock.now += INTERVAL
    assert await cache.key_for_kid("k2") is not None
    assert await cache.key_for_kid("k1") is not None
    assert double.hits == 2


async def test_a_key_dropped_by_the_auth_service_stops_verifying_after_max_age(
    cache_and_double: tuple[JwksKeyCache, JwksDouble, Clock],
) -> None:
    cache, double, clock = cache_and_double
    assert await cache.key_for_kid("k1") is not None
    double.keys = [public_jwk("k2")]
    clock.now += MAX_AGE - 1
    assert await cache.key_for_kid("k1") is not None  # still within its age
    clock.now += 1
    assert await cache.key_for_kid("k1") is None
    assert await cache.key_for_kid("k2") is not None


async def test_when_the_auth_service_is_down_known_keys_still_verify_and_unknown_kids_are_503(
    cache_and_double: tuple[JwksKeyCache, JwksDouble, Clock],
) -> None:
    cache, double, clock = cache_and_double
    assert await cache.key_for_kid("k1") is not None
    double.failing = True
    clock.now += MAX_AGE
    assert await cache.key_for_kid("k1") is not None  # stale, refetch failed: kept
    with pytest.raises(JwksUnavailable):
        await cache.key_for_kid("k-new")  # within the interval: no new fetch, still down
    hits = double.hits
    for _ in range(20):
        with pytest.raises(JwksUnavailable):
            await cache.key_for_kid("k-new")
    assert double.hits == hits  # no hammering while it is down
    double.failing = False
    double.keys.append(public_jwk("k-new"))
    clock.now += INTERVAL
    assert await cache.key_for_kid("k-new") is not None


async def test_concurrent_lookups_share_one_fetch(
    cache_and_double: tuple[JwksKeyCache, JwksDouble, Clock],
) -> None:
    cache, double, _ = cache_and_double
    results = await asyncio.gather(*(cache.key_for_kid("k1") for _ in range(30)))
    assert all(r is not None for r in results)
    assert double.hits == 1


def test_only_ed25519_signing_keys_are_taken_from_a_jwks() -> None:
    private = Ed25519PrivateKey.generate()
    with_private_part = {**json.loads(OKPAlgorithm.to_jwk(private)), "kid": "leaked"}
    rsa_key = json.loads(
        RSAAlgorithm.to_jwk(
            rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        )
    )
    document = {
        "keys": [
            public_jwk("good"),
            {**public_jwk("hs"), "alg": "HS256"},
            {**public_jwk("enc"), "use": "enc"},
            {**public_jwk("bad-x"), "x": "!!!"},
            {**public_jwk("int-x"), "x": 42},
            {k: v for k, v in public_jwk("no-kid").items() if k != "kid"},
            {**rsa_key, "kid": "rsa"},
            with_private_part,
            "not a key",
        ]
    }
    assert list(parse_jwks(document)) == ["good"]
    not_jwks: list[Any] = [{"keys": "nope"}, [], {"other": []}]
    for not_a_jwks in not_jwks:
        with pytest.raises(ValueError):
            parse_jwks(not_a_jwks)
