"""VerifiedTokens: a token's signature is checked once; expiry and its key on every use."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mana.auth.tokens import LEEWAY_SECONDS, InvalidToken, VerifiedTokens

pytestmark = pytest.mark.anyio

ISSUER, AUDIENCE, KID = "mana-auth", "mana", "k1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class KeySet:
    """What a key cache answers: the test replaces or drops keys as a rotation would."""

    def __init__(self) -> None:
        self.private = {KID: Ed25519PrivateKey.generate()}
        self.public: dict[str, Ed25519PublicKey] = {KID: self.private[KID].public_key()}

    async def key_for_kid(self, kid: str) -> Ed25519PublicKey | None:
        return self.public.get(kid)

    def token(self, *, kid: str = KID, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(uuid.uuid4()),
            "iat": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            "kind": "persona",
            **overrides,
        }
        return jwt.encode(claims, self.private[kid], algorithm="EdDSA", headers={"kid": kid})


def verified_tokens(**kwargs: Any) -> VerifiedTokens:
    return VerifiedTokens(issuer=ISSUER, audience=AUDIENCE, **kwargs)


async def test_a_token_is_verified_once_and_then_recognised() -> None:
    keys, tokens = KeySet(), verified_tokens()
    token = keys.token()
    first = await tokens.verify(token, key_for_kid=keys.key_for_kid)
    for _ in range(5):
        assert await tokens.verify(token, key_for_kid=keys.key_for_kid) == first
    assert tokens.verifications == 1
    assert first.kind == "persona"


async def test_a_remembered_token_is_refused_once_it_expires() -> None:
    keys, tokens = KeySet(), verified_tokens()
    # Expired a moment short of the leeway: valid now, refused within about a second.
    token = keys.token(exp=int(time.time()) - LEEWAY_SECONDS + 1)
    await tokens.verify(token, key_for_kid=keys.key_for_kid)
    deadline = time.monotonic() + 5
    with pytest.raises(InvalidToken, match="token expired"):
        while time.monotonic() < deadline:
            await tokens.verify(token, key_for_kid=keys.key_for_kid)
    assert len(tokens) == 0


async def test_a_token_whose_key_was_rotated_out_is_refused_at_once() -> None:
    keys, tokens = KeySet(), verified_tokens()
    token = keys.token()
    await tokens.verify(token, key_for_kid=keys.key_for_kid)
    del keys.public[KID]  # the key left the key set
    with pytest.raises(InvalidToken, match="unknown key"):
        await tokens.verify(token, key_for_kid=keys.key_for_kid)


async def test_a_token_is_checked_again_when_its_kid_now_names_another_key() -> None:
    keys, tokens = KeySet(), verified_tokens()
    token = keys.token()
    await tokens.verify(token, key_for_kid=keys.key_for_kid)
    # Same kid, different key (a reload that got other key material): never trusted blindly.
    keys.public[KID] = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(InvalidToken, match="invalid token"):
        await tokens.verify(token, key_for_kid=keys.key_for_kid)
    # A reload of the same key material (a new object, as every cache reload makes) verifies
    # the token again, once, and accepts it.
    keys.public[KID] = Ed25519PublicKey.from_public_bytes(
        keys.private[KID].public_key().public_bytes_raw()
    )
    await tokens.verify(token, key_for_kid=keys.key_for_kid)
    await tokens.verify(token, key_for_kid=keys.key_for_kid)
    assert tokens.verifications == 3


async def test_refusals_are_never_remembered_and_the_size_is_bounded() -> None:
    keys, tokens = KeySet(), verified_tokens(max_entries=3)
    forged = jwt.encode(
        {"sub": str(uuid.uuid4())},
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": KID},
    )
    for _ in range(3):
        with pytest.raises(InvalidToken):
            await tokens.verify(forged, key_for_kid=keys.key_for_kid)
    assert tokens.verifications == 3 and len(tokens) == 0

    many = [keys.token() for _ in range(5)]
    for token in many:
        await tokens.verify(token, key_for_kid=keys.key_for_kid)
    assert len(tokens) == 3
    await tokens.verify(many[0], key_for_kid=keys.key_for_kid)  # dropped: verified again
    assert tokens.verifications == 3 + 5 + 1
