"""`mana users create-admin` and `mana auth token`: the operator's way to an admin token."""

from __future__ import annotations

import jwt

from tests.cli.conftest import RunMana, one_line_error
from tests.fixtures.database import Db
from tests.fixtures.servers import DEFAULT_PASSWORD, AuthService, unique_email

ADMIN_PASSWORD = "operator-chosen-passphrase-7"


def user_row(db: Db, email: str) -> tuple[str, bool] | None:
    rows = db.fetch("SELECT role, email_verified FROM auth.users WHERE email = :e", e=email)
    return (rows[0][0], bool(rows[0][1])) if rows else None


def test_create_admin_then_auth_token_prints_a_verifiable_admin_token(
    mana: RunMana, auth: AuthService, db: Db
) -> None:
    email = unique_email("admin")
    created = mana("users", "create-admin", "--email", email, "--password", ADMIN_PASSWORD)
    assert created.returncode == 0, created.stderr
    assert f"created admin {email}" in created.stdout
    assert user_row(db, email) == ("admin", True)
    # Through the same sign-up path as everyone: the admin has a personal space.
    assert (
        db.scalar(
            "SELECT count(*) FROM auth.spaces s JOIN auth.users u ON u.id = s.personal_owner_id "
            "WHERE u.email = :e",
            e=email,
        )
        == 1
    )

    issued = mana(
        "auth", "token", "--email", email, "--password", ADMIN_PASSWORD, "--auth", auth.url
    )
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert "\n" not in token
    key = jwt.PyJWKClient(f"{auth.url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="mana", issuer="mana-auth")
    assert (claims["email"], claims["role"]) == (email, "admin")
    with auth.client(token) as client:
        assert client.get("/api/v1/auth/me").json()["role"] == "admin"


def test_create_admin_takes_the_password_from_mana_admin_password_and_promotes_an_existing_user(
    mana: RunMana, auth: AuthService, db: Db
) -> None:
    email = auth.register()["email"]
    result = mana(
        "users", "create-admin", "--email", email, env={"MANA_ADMIN_PASSWORD": ADMIN_PASSWORD}
    )
    assert result.returncode == 0, result.stderr
    assert f"updated admin {email}" in result.stdout
    assert user_row(db, email) == ("admin", True)
    assert auth.login(email, ADMIN_PASSWORD)["user"]["role"] == "admin"
    with auth.client() as client:
        old = client.post("/api/v1/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})
    assert old.status_code == 401


def test_create_admin_prompts_for_the_password_when_none_is_given(
    mana: RunMana, auth: AuthService, db: Db
) -> None:
    email = unique_email("admin")
    result = mana("users", "create-admin", "--email", email, input=f"{ADMIN_PASSWORD}\n" * 2)
    assert result.returncode == 0, result.stderr
    assert "Password" in result.stdout + result.stderr
    assert user_row(db, email) == ("admin", True)
    assert auth.login(email, ADMIN_PASSWORD)["user"]["role"] == "admin"


def test_create_admin_refuses_a_weak_password_in_one_line_and_writes_nothing(
    mana: RunMana, db: Db
) -> None:
    email = unique_email("admin")
    result = mana("users", "create-admin", "--email", email, "--password", "short")
    assert "password must be at least 8 characters" in one_line_error(result)
    assert user_row(db, email) is None


def test_auth_token_with_a_wrong_password_fails_in_one_line(
    mana: RunMana, auth: AuthService
) -> None:
    email = auth.register()["email"]
    result = mana(
        "auth", "token", "--email", email, "--password", "not-the-password", "--auth", auth.url
    )
    line = one_line_error(result)
    assert "401" in line and "invalid email or password" in line
    assert result.stdout == ""
