"""The dashboard's session: an encrypted, signed cookie and the CSRF token inside it.

The cookie carries the admin's access and refresh tokens, so it is encrypted as well as signed
(Fernet: AES-CBC + HMAC-SHA256, from `cryptography`, already a dependency): a leaked cookie
value in a log shows no token, and a tampered one is refused. Keeping the session in the
cookie instead of in server memory means a dashboard restart or a second replica signs nobody
out. Every visitor — signed in or not — has a session, so the sign-in form is CSRF-protected too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

from cryptography.fernet import Fernet, InvalidToken

COOKIE_NAME = "mana_dashboard"
CSRF_FIELD = "csrf"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str
    # When the access token expires (UTC, from the login answer's `expiresIn`).
    access_expires_at: datetime

    def expires_within(self, seconds: float, *, now: datetime) -> bool:
        return (self.access_expires_at - now).total_seconds() <= seconds


@dataclass(frozen=True)
class Session:
    csrf: str = field(default_factory=new_csrf_token)
    tokens: Tokens | None = None
    user_id: str | None = None
    email: str | None = None
    name: str | None = None
    signed_in_at: datetime | None = None

    @property
    def signed_in(self) -> bool:
        return self.tokens is not None

    def with_tokens(self, tokens: Tokens) -> Session:
        return replace(self, tokens=tokens)

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.csrf.encode(), str(submitted).encode())


def signed_in_session(
    *, tokens: Tokens, user_id: str, email: str, name: str | None, now: datetime
) -> Session:
    # A fresh CSRF token at sign-in: a token seen before signing in is worth nothing after.
    return Session(tokens=tokens, user_id=user_id, email=email, name=name, signed_in_at=now)


class SessionCodec:
    """Session ⇄ cookie value. The key is derived from any secret string (SHA-256), so the
    setting can be a passphrase rather than a Fernet key."""

    def __init__(self, secret: str, *, max_age_seconds: int) -> None:
        key = base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())
        self._fernet = Fernet(key)
        self.max_age_seconds = max_age_seconds

    def encode(self, session: Session) -> str:
        data = asdict(session)
        return self._fernet.encrypt(json.dumps(data, default=_iso).encode()).decode()

    def decode(self, value: str | None, *, now: datetime) -> Session | None:
        """The session in a cookie, or None when it is missing, forged, tampered with or older
        than the session lifetime (counted from sign-in, not from the last refresh)."""
        if not value:
            return None
        try:
            raw = self._fernet.decrypt(value.encode(), ttl=self.max_age_seconds)
            data = json.loads(raw)
            session = _session_from(data)
        except (InvalidToken, ValueError, TypeError, KeyError):
            return None
        if session.signed_in_at is not None:
            age = (now - session.signed_in_at).total_seconds()
            if age > self.max_age_seconds:
                return None
        return session


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a session")


def _session_from(data: dict[str, object]) -> Session:
    tokens_data = data.get("tokens")
    tokens = None
    if isinstance(tokens_data, dict):
        tokens = Tokens(
            access=str(tokens_data["access"]),
            refresh=str(tokens_data["refresh"]),
            access_expires_at=datetime.fromisoformat(str(tokens_data["access_expires_at"])),
        )
    signed_in_at = data.get("signed_in_at")
    return Session(
        csrf=str(data["csrf"]),
        tokens=tokens,
        user_id=_opt_str(data.get("user_id")),
        email=_opt_str(data.get("email")),
        name=_opt_str(data.get("name")),
        signed_in_at=datetime.fromisoformat(str(signed_in_at)) if signed_in_at else None,
    )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
