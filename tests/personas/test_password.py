"""Deterministic persona passwords and the seed-secret policy."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from mana.personas import password as password_module
from mana.personas.password import (
    DEV_SEED_SECRET,
    SeedSecretError,
    derive_persona_password,
    resolve_seed_secret,
)

PRODUCTION_MESSAGE = (
    "PERSONA_SEED_SECRET must be set to a non-development value when MANA_ENV=production"
)


def _reference(email: str, secret: str) -> str:
    """The recipe written out independently: HMAC-SHA256 → base64 → alphanumerics → 32."""
    digest = hmac.new(secret.encode(), email.strip().lower().encode(), hashlib.sha256).digest()
    return re.sub(r"[^A-Za-z0-9]", "", base64.b64encode(digest).decode())[:32]


@pytest.mark.parametrize(
    ("email", "secret"),
    [
        ("persona.kai@mana.test", DEV_SEED_SECRET),
        ("persona.mia@mana.test", DEV_SEED_SECRET),
        ("persona.kai@mana.test", "a-real-production-secret-1f9c"),
        ("persona.jürgen@mana.test", "schlüssel-mit-ümlauten"),
    ],
)
def test_password_is_hmac_sha256_of_email_in_alphanumeric_base64(email: str, secret: str) -> None:
    assert derive_persona_password(email, secret) == _reference(email, secret)


def test_password_for_a_known_input_never_changes() -> None:
    # Pinned so a refactor that changes derivation (and locks every persona out) fails loudly.
    expected = _reference("persona.kai@mana.test", DEV_SEED_SECRET)

    assert derive_persona_password("persona.kai@mana.test", DEV_SEED_SECRET) == expected
    assert derive_persona_password("persona.kai@mana.test", DEV_SEED_SECRET) == expected


def test_password_is_32_alphanumeric_characters() -> None:
    for i in range(200):
        password = derive_persona_password(f"persona.p{i}@mana.test", DEV_SEED_SECRET)
        assert len(password) == 32
        assert re.fullmatch(r"[A-Za-z0-9]{32}", password)


def test_password_ignores_email_case_and_surrounding_spaces() -> None:
    expected = derive_persona_password("persona.kai@mana.test", "s3cret")

    assert derive_persona_password("Persona.Kai@MANA.test", "s3cret") == expected
    assert derive_persona_password("  persona.kai@mana.test\n", "s3cret") == expected


def test_password_depends_on_email_and_secret() -> None:
    base = derive_persona_password("persona.kai@mana.test", "s3cret")

    assert derive_persona_password("persona.mia@mana.test", "s3cret") != base
    assert derive_persona_password("persona.kai@mana.test", "other") != base


def test_password_refuses_empty_email_or_secret() -> None:
    with pytest.raises(ValueError, match="email"):
        derive_persona_password("  ", "s3cret")
    with pytest.raises(ValueError, match="secret"):
        derive_persona_password("persona.kai@mana.test", "")


def test_password_stream_continues_with_counter_suffixed_hmacs() -> None:
    # A real email with fewer than 32 alphanumerics is a ~1e-8 event, so the extension is
    # exercised by asking the helper for more characters than one digest holds.
    key, email = b"s3cret", "persona.kai@mana.test"

    def chunk(message: str) -> str:
        digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
        return re.sub(r"[^A-Za-z0-9]", "", base64.b64encode(digest).decode())

    expected = (chunk(email) + chunk(email + ":1") + chunk(email + ":2"))[:100]

    assert password_module._alphanumeric_hmac(key, email, 100) == expected
    assert expected.startswith(derive_persona_password(email, "s3cret"))


def test_development_without_secret_uses_the_dev_fallback() -> None:
    assert resolve_seed_secret(None, production=False) == DEV_SEED_SECRET
    assert resolve_seed_secret("", production=False) == DEV_SEED_SECRET
    assert resolve_seed_secret("   ", production=False) == DEV_SEED_SECRET


def test_configured_secret_is_used_as_given() -> None:
    assert resolve_seed_secret("team-secret", production=False) == "team-secret"
    assert resolve_seed_secret("prod-secret-4b1e", production=True) == "prod-secret-4b1e"


@pytest.mark.parametrize("secret", [None, "", "  ", DEV_SEED_SECRET])
def test_production_refuses_missing_or_development_secret(secret: str | None) -> None:
    with pytest.raises(SeedSecretError) as excinfo:
        resolve_seed_secret(secret, production=True)

    assert str(excinfo.value) == PRODUCTION_MESSAGE
