from __future__ import annotations

from tests.fixtures.servers import DEFAULT_PASSWORD, AuthService, unique_email


def test_register_then_login_then_me_returns_the_same_user(auth: AuthService) -> None:
    email = unique_email()
    user = auth.register(email, name="Ada")
    assert user["email"] == email
    assert user["kind"] == "human" and user["tier"] == "public" and user["role"] == "user"

    session = auth.login(email)
    assert session["expiresIn"] == 900
    with auth.client(session["token"]) as client:
        me = client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json() == user


def test_registration_creates_a_personal_space(auth: AuthService) -> None:
    _, token = auth.user_token()
    with auth.client(token) as client:
        spaces = client.get("/api/v1/spaces").json()
    assert [(s["type"], s["role"]) for s in spaces] == [("personal", "owner")]


def test_duplicate_email_in_another_case_is_409(auth: AuthService) -> None:
    email = unique_email()
    auth.register(email)
    with auth.client() as client:
        response = client.post(
            "/api/v1/auth/register", json={"email": email.upper(), "password": DEFAULT_PASSWORD}
        )
    assert response.status_code == 409
    assert response.json()["error"] == "email_taken"
