from __future__ import annotations

import pytest

from tests.fixtures.database import Db
from tests.fixtures.servers import DEFAULT_PASSWORD, AuthService, unique_email

USER_FIELDS = {"id", "email", "name", "kind", "tier", "role", "emailVerified", "createdAt"}


def test_register_then_login_then_me_returns_the_same_user(auth: AuthService) -> None:
    email = unique_email()
    user = auth.register(email, name="Ada")
    assert set(user) == USER_FIELDS
    assert user["email"] == email
    assert user["name"] == "Ada"
    assert user["kind"] == "human" and user["tier"] == "public" and user["role"] == "user"
    assert user["emailVerified"] is False

    session = auth.login(email)
    assert set(session) == {"token", "refreshToken", "expiresIn", "user"}
    assert session["expiresIn"] == 900
    assert session["user"] == user
    with auth.client(session["token"]) as client:
        me = client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json() == user


def test_registration_without_a_name_is_accepted(auth: AuthService) -> None:
    user = auth.register()
    assert user["name"] is None


def test_registration_creates_a_personal_space(auth: AuthService) -> None:
    _, token = auth.user_token()
    with auth.client(token) as client:
        spaces = client.get("/api/v1/spaces").json()
    assert [(s["type"], s["role"]) for s in spaces] == [("personal", "owner")]


def test_registration_stores_the_email_lower_case_and_login_ignores_case(
    auth: AuthService,
) -> None:
    email = unique_email("Mixed.Case")
    user = auth.register(email)
    assert user["email"] == email.lower()
    assert auth.login(email.upper())["user"]["id"] == user["id"]


def test_duplicate_email_in_another_case_is_409(auth: AuthService, db: Db) -> None:
    email = unique_email()
    auth.register(email)
    with auth.client() as client:
        response = client.post(
            "/api/v1/auth/register", json={"email": email.upper(), "password": DEFAULT_PASSWORD}
        )
    assert response.status_code == 409
    assert response.json()["error"] == "email_taken"
    assert db.scalar("SELECT count(*) FROM auth.users WHERE email = :e", e=email) == 1


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-7", "at least 8"),
        ("x" * 129, "at most 128"),
        ("password", "too common"),
        ("12345678", "too common"),
        ("QWERTY123", "too common"),
    ],
)
def test_weak_passwords_are_refused_with_422_naming_the_password(
    auth: AuthService, db: Db, password: str, reason: str
) -> None:
    email = unique_email()
    with auth.client() as client:
        response = client.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert reason in body["message"]
    assert [d["field"] for d in body["details"]] == ["password"]
    assert db.scalar("SELECT count(*) FROM auth.users WHERE email = :e", e=email) == 0


@pytest.mark.parametrize("length", [8, 128])
def test_passwords_at_the_policy_bounds_are_accepted(auth: AuthService, length: int) -> None:
    password = ("correct-horse-battery-staple-" * 5)[:length]
    user = auth.register(password=password)
    assert auth.login(user["email"], password)["user"]["id"] == user["id"]


def test_long_names_and_emails_still_get_a_personal_space(auth: AuthService, db: Db) -> None:
    # The personal space is named after the user; its name column is shorter than either.
    long_name = "N" * 200
    named = auth.register(name=long_name)
    long_email = f"{'a' * 64}@{'b' * 60}.{'c' * 60}.example.com"
    unnamed = auth.register(long_email)
    for user in (named, unnamed):
        assert auth.login(user["email"])["user"]["id"] == user["id"]
    names = {
        row[0]
        for row in db.fetch(
            "SELECT s.name FROM auth.spaces s JOIN auth.users u ON u.id = s.personal_owner_id "
            "WHERE u.email IN (:a, :b)",
            a=named["email"],
            b=unnamed["email"],
        )
    }
    assert names == {long_name[:120], long_email[:120]}
