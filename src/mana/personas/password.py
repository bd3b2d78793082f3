"""Deterministic persona passwords: HMAC-SHA256(PERSONA_SEED_SECRET, email).

Nothing per persona is stored: the seed command registers each persona with the derived password
and the runner re-derives it on every login, so the secret is the only credential to manage.
Rotating the secret means re-seeding (which resets the passwords through the admin API).

The recipe is the original TypeScript one (`createHmac('sha256', secret).update(email)
.digest('base64')`, keep alphanumerics, take 32) plus trimming and lower-casing the email, so for
the lower-case emails of the catalog both implementations derive the same password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# Known to everyone who reads this file: fine on a laptop, refused in production.
DEV_SEED_SECRET = "mana-dev-persona-seed-secret"
PASSWORD_LENGTH = 32

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


class SeedSecretError(Exception):
    """The configured seed secret must not be used in this environment."""


def derive_persona_password(email: str, secret: str) -> str:
    """The persona's password: 32 characters of [A-Za-z0-9], stable for (email, secret).

    The email is trimmed and lower-cased first, because sign-up treats emails case-insensitively
    and a catalog edit that only changes case must not lock the runner out.
    """
    normalized = email.strip().lower()
    if not normalized:
        raise ValueError("email must not be empty")
    if not secret:
        # An empty HMAC key is legal but would make every password public knowledge.
        raise ValueError("secret must not be empty")
    return _alphanumeric_hmac(secret.encode("utf-8"), normalized, PASSWORD_LENGTH)


def _alphanumeric_hmac(key: bytes, message: str, length: int) -> str:
    """First `length` alphanumeric base64 characters of HMAC(key, message), extended if needed.

    A 32-byte digest is 43 base64 characters plus one '='; dropping '+' and '/' leaves fewer than
    32 only with a probability of about 1e-8 per email. Rather than return a short password in
    that case, the stream continues with HMAC(key, message + ":1"), ":2", ... — still a pure
    function of (email, secret), and identical to the plain derivation whenever that one suffices.
    """
    chars = ""
    counter = 0
    while len(chars) < length:
        msg = message if counter == 0 else f"{message}:{counter}"
        digest = hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()
        chars += _NOT_ALNUM.sub("", base64.b64encode(digest).decode("ascii"))
        counter += 1
    return chars[:length]


def resolve_seed_secret(secret: str | None, *, production: bool) -> str:
    """The secret to derive passwords with; the one place that applies the production rule.

    In development an unset secret falls back to DEV_SEED_SECRET so everything runs with no
    setup. In production the fallback (or nothing) would mean guessable persona passwords on a
    real deployment, so it is refused.
    """
    configured = secret if secret and secret.strip() else None
    if production:
        if configured is None or configured == DEV_SEED_SECRET:
            raise SeedSecretError(
                "PERSONA_SEED_SECRET must be set to a non-development value when "
                "MANA_ENV=production"
            )
        return configured
    return configured if configured is not None else DEV_SEED_SECRET
