"""Base pydantic models for the HTTP API: camelCase on the wire, unknown fields refused."""

from __future__ import annotations

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it as bad input (422) instead of failing as a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    # JSON may carry lone surrogates ("\ud800"), which no UTF-8 encoder (argon2, the database
    # drivers) accepts: refuse them here too, or they surface as a 500 deep in a service.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""A string without NUL bytes or lone surrogates. Use it (with a max length) for every request
string."""


def _email(value: str) -> str:
    # test_environment=True: personas live on the reserved `.test` TLD (RFC 2606), which
    # pydantic's EmailStr refuses. Deliverability is not checked (no DNS here, and no need).
    try:
        result = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from exc
    return result.normalized


Email = Annotated[
    str, Field(min_length=3, max_length=320), AfterValidator(_no_nul), AfterValidator(_email)
]
"""An email address (reserved test domains allowed). Lower-casing for lookups is the service's job."""


class RequestModel(BaseModel):
    """Request bodies: forbid unknown fields, so `{"role": "admin"}` in a sign-up is refused."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, str_strip_whitespace=False
    )


class ResponseModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)
