"""Errors of the persona domain (rendered as JSON `{error, message, details}`)."""

from __future__ import annotations

import uuid

from mana.kit.errors import Conflict, NotFound


class NotAPersona(Conflict):
    error = "not_a_persona"


class PersonaNotFound(NotFound):
    def __init__(self, persona_id: uuid.UUID) -> None:
        super().__init__(f"persona {persona_id} not found")
