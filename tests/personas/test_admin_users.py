from __future__ import annotations

from typing import Any

import pytest
from tests.fixtures.database import Db
from tests.fixtures.personas import PersonaApi, persona_email
from tests.fixtures.servers import AuthService, unique_email

ADMIN_USERS = "/api/v1/admin/users"


def _all_emails(personas: PersonaApi, **params: Any) -> list[str]:
    emails: list[str] = []
    cursor = None
    with personas.admin() as client:
        while True:
            query = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            response = client.get(ADMIN_USERS, params=query)
            assert response.status_code == 200, response.text
            emails.extend(u["email"] for u in response.json()["items"])
            cursor = response.json()["nextCursor"]
            if cursor is None:
                return emails


def test_admin_user_list_shows_humans_only_unless_asked_for_another_kind(
    personas: PersonaApi, auth: AuthService, db: Db
) -> None:
    human = auth.register(unique_email("human"))["email"]
    persona = personas.upsert(email=persona_email())["email"]
    system = unique_email("system")
    auth.register(system)
    db.execute("UPDATE auth.users SET kind='system' WHERE email=:e", e=system)

    humans = _all_emails(personas)
    assert human in humans and persona not in humans and system not in humans
    assert _all_emails(personas, kind="human") == humans
    only_personas = _all_emails(personas, kind="persona")
    assert persona in only_personas and human not in only_personas
    assert _all_emails(personas, kind="system").count(system) == 1
    everyone = _all_emails(personas, kind="all")
    assert {human, persona, system} <= set(everyone)
    assert everyone == sorted(everyone)


def test_admin_user_list_pages_with_a_cursor(personas: PersonaApi, auth: AuthService) -> None:
    for _ in range(3):
        auth.register()
    first_page: list[str] = []
    cursor = None
    with personas.admin() as client:
        for _ in range(3):
            params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = client.get(ADMIN_USERS, params=params).json()
            assert len(page["items"]) == 1
            assert set(page["items"][0]) >= {"id", "email", "kind", "tier", "role"}
            first_page.append(page["items"][0]["email"])
            cursor = page["nextCursor"]
    assert first_page == sorted(first_page) and len(set(first_page)) == 3
    assert first_page == _all_emails(personas)[:3]


@pytest.mark.parametrize("params", [{"kind": "robot"}, {"cursor": "%%%"}, {"limit": 0}])
def test_admin_user_list_rejects_bad_parameters_with_422(
    personas: PersonaApi, params: dict[str, Any]
) -> None:
    with personas.admin() as client:
        response = client.get(ADMIN_USERS, params=params)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == next(iter(params))
