"""Ed25519 signing keys: generation, rotation, and the public JWKS.

Keys live in `auth.signing_keys`. The newest key that is not retired signs new tokens; a rotated
key is retired but keeps verifying — and stays in the JWKS — until its grace period ends, so
tokens issued just before a rotation stay valid.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mana.auth.models import SigningKey
from mana.config import ProductionConfigError
from mana.kit.clock import Clock

ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    private_key: Ed25519PrivateKey
    public_key: Ed25519PublicKey
    public_jwk: dict[str, Any]
    signing: bool


def generate_key_row(*, now: datetime, development: bool) -> SigningKey:
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    jwk = json.loads(OKPAlgorithm.to_jwk(private_key.public_key()))
    # The kid is the RFC 7638 thumbprint prefix: stable, derived from the key, no registry.
    kid = f"{now:%Y%m%d}-{jwk['x'][:12]}"
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return SigningKey(
        kid=kid, private_key_pem=pem, public_jwk=jwk, development=development, created_at=now
    )


async def rotate_signing_key(
    session: AsyncSession, *, now: datetime, grace: timedelta, development: bool = False
) -> SigningKey:
    """Retire the current signing key(s) and add a new one. Old keys verify until now+grace."""
    await session.execute(
        sa.update(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .values(retired_at=now, expires_at=now + grace)
    )
    row = generate_key_row(now=now, development=development)
    session.add(row)
    await session.flush()
    return row


async def valid_keys(session: AsyncSession, *, now: datetime) -> list[SigningKey]:
    rows = await session.scalars(
        sa.select(SigningKey)
        .where(sa.or_(SigningKey.expires_at.is_(None), SigningKey.expires_at > now))
        .order_by(SigningKey.created_at.desc())
    )
    return list(rows)


def _load(row: SigningKey) -> LoadedKey:
    private_key = serialization.load_pem_private_key(row.private_key_pem.encode(), password=None)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise ValueError(f"signing key {row.kid} is not an Ed25519 key")
    return LoadedKey(
        kid=row.kid,
        private_key=private_key,
        public_key=private_key.public_key(),
        public_jwk={k: v for k, v in row.public_jwk.items() if k != "d"},
        signing=row.retired_at is None,
    )


class KeyRing:
    """In-memory view of the valid keys, reloaded from the database every few seconds so a
    rotation done by `mana auth keys rotate` reaches running servers without a restart."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        refresh_seconds: float = 10.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._keys: list[LoadedKey] = []
        self._loaded_at = 0.0

    async def ensure_signing_key(self, *, production: bool) -> None:
        """At start-up: a development server makes itself a key; production must have one."""
        async with self._sessionmaker() as session, session.begin():
            rows = await valid_keys(session, now=self._clock.now())
            signing = [r for r in rows if r.retired_at is None]
            if production:
                if not signing:
                    raise ProductionConfigError(
                        "signing key: none in the database; run `mana auth keys rotate` "
                        "with MANA_ENV=production"
                    )
                if signing[0].development:
                    raise ProductionConfigError(
                        f"signing key {signing[0].kid} is a development key; run "
                        "`mana auth keys rotate` with MANA_ENV=production"
                    )
            elif not signing:
                session.add(generate_key_row(now=self._clock.now(), development=True))
        await self.reload()

    async def reload(self) -> None:
        async with self._sessionmaker() as session:
            rows = await valid_keys(session, now=self._clock.now())
        self._keys = [_load(r) for r in rows]
        self._loaded_at = time.monotonic()

    async def _fresh(self) -> list[LoadedKey]:
        if time.monotonic() - self._loaded_at > self._refresh_seconds:
            await self.reload()
        return self._keys

    async def signing_key(self) -> LoadedKey:
        for key in await self._fresh():
            if key.signing:
                return key
        raise RuntimeError("no signing key loaded; call ensure_signing_key() at start-up")

    async def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {k.kid: k.public_key for k in await self._fresh()}

    async def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in await self._fresh()]}
