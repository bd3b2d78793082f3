"""Malformed input gets a 422 naming the field (never a 500); errors are JSON everywhere."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.fixtures.database import Db
from tests.fixtures.servers import DEFAULT_PASSWORD, AuthService, unique_email

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"


def post_raw(auth: AuthService, path: str, content: str | bytes, **headers: str) -> httpx.Response:
    with auth.client() as client:
        return client.post(
            path, content=content, headers={"Content-Type": "application/json", **headers}
        )


def assert_invalid(response: httpx.Response, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert field in [d["field"] for d in body["details"]], body
    assert field in body["message"]
    return dict(body)


def sign_up(**fields: Any) -> str:
    return json.dumps({"email": refused_email(), "password": DEFAULT_PASSWORD, **fields})


_refused = iter(range(1_000))


def refused_email() -> str:
    """An address for a sign-up that must be refused: distinct per case, but the same on every
    collection, so parallel test workers (pytest-xdist) agree on the test ids."""
    return f"refused.{next(_refused)}@example.com"


@pytest.mark.parametrize("field", ["role", "kind", "tier", "emailVerified", "id"])
def test_sign_up_with_a_privileged_or_unknown_field_is_refused_with_422(
    auth: AuthService, db: Db, field: str
) -> None:
    email = unique_email()
    body = {"email": email, "password": DEFAULT_PASSWORD, field: "admin"}
    with auth.client() as client:
        assert_invalid(client.post(REGISTER, json=body), field)
    assert db.scalar("SELECT count(*) FROM auth.users WHERE email = :e", e=email) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (sign_up(name="Ada\u0000Lovelace"), "name"),
        (
            json.dumps({"email": refused_email(), "password": "nul-inside\u0000-password"}),
            "password",
        ),
        (json.dumps({"email": "nul\u0000@example.com", "password": DEFAULT_PASSWORD}), "email"),
        # A lone surrogate is valid JSON but no UTF-8 encoder (argon2, the drivers) accepts it.
        ('{"email": "s@example.com", "password": "surrogate-\\ud800-pw"}', "password"),
        ('{"email": "n@example.com", "password": "long-enough-pw", "name": "\\ud83d"}', "name"),
        (sign_up(name="N" * 201), "name"),
        (json.dumps({"email": "x" * 400 + "@example.com", "password": DEFAULT_PASSWORD}), "email"),
        (json.dumps({"email": refused_email(), "password": "p" * 100_000}), "password"),
        (json.dumps({"email": "not-an-email", "password": DEFAULT_PASSWORD}), "email"),
        (json.dumps({"email": 42, "password": DEFAULT_PASSWORD}), "email"),
        (json.dumps({"email": refused_email(), "password": ["a", "list"]}), "password"),
        (json.dumps({"email": refused_email(), "password": DEFAULT_PASSWORD, "name": {}}), "name"),
        (json.dumps({"password": DEFAULT_PASSWORD}), "email"),
        (json.dumps({"email": refused_email()}), "password"),
        ("[]", "body"),
        ('"just a string"', "body"),
        ("null", "body"),
        ("", "body"),
        ("{not json", "body"),
        ("email=a@example.com&password=x", "body"),
    ],
)
def test_malformed_sign_up_is_a_422_naming_the_field(
    auth: AuthService, body: str, field: str
) -> None:
    assert_invalid(post_raw(auth, REGISTER, body), field)


def test_sign_up_sent_as_form_data_is_a_422(auth: AuthService) -> None:
    with auth.client() as client:
        response = client.post(
            REGISTER, data={"email": unique_email(), "password": DEFAULT_PASSWORD}
        )
    assert_invalid(response, "body")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"email": "a\\u0000@example.com", "password": "whatever-123"}', "email"),
        ('{"email": "\\udc00@example.com", "password": "whatever-123"}', "email"),
        ('{"email": "a@example.com", "password": "x\\ud800y-whatever"}', "password"),
        (json.dumps({"email": "a@example.com", "password": "p" * 2000}), "password"),
        (
            json.dumps({"email": "a@example.com", "password": "whatever-123", "role": "admin"}),
            "role",
        ),
        (json.dumps({"email": "a@example.com"}), "password"),
        ("[1, 2]", "body"),
    ],
)
def test_malformed_login_is_a_422_naming_the_field(
    auth: AuthService, body: str, field: str
) -> None:
    assert_invalid(post_raw(auth, LOGIN, body), field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"refreshToken": "abc\\u0000"}', "refreshToken"),
        ('{"refreshToken": "\\ud800"}', "refreshToken"),
        (json.dumps({"refreshToken": "r" * 201}), "refreshToken"),
        (json.dumps({"refreshToken": 12345}), "refreshToken"),
        ("{}", "refreshToken"),
    ],
)
def test_malformed_refresh_is_a_422_naming_the_field(
    auth: AuthService, body: str, field: str
) -> None:
    assert_invalid(post_raw(auth, REFRESH, body), field)


def test_deeply_nested_json_is_refused_as_bad_input_not_a_server_error(auth: AuthService) -> None:
    response = post_raw(auth, REGISTER, "[" * 100_000 + "]" * 100_000)
    assert 400 <= response.status_code < 500
    assert set(response.json()) >= {"error", "message"}


def test_unknown_route_and_wrong_method_answer_json_errors(auth: AuthService) -> None:
    with auth.client() as client:
        missing = client.get("/api/v1/nothing-here")
        wrong_method = client.delete("/api/v1/auth/me")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"


def test_health_checks_the_database(auth: AuthService) -> None:
    with auth.client() as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["service"] == "auth"


def test_metrics_are_prometheus_text_labelled_by_route_template(auth: AuthService) -> None:
    _user, token = auth.user_token()
    with auth.client(token) as client:
        space_id = client.get("/api/v1/spaces").json()[0]["id"]
        assert client.get(f"/api/v1/spaces/{space_id}").status_code == 200
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE http_requests_total counter" in text
    assert (
        'http_requests_total{method="GET",route="/api/v1/spaces/{space_id}",service="auth",status="200"}'
        in text
    )
    assert 'route="/api/v1/auth/login"' in text
    # No ids (or other raw paths) in labels: they would leak and explode cardinality.
    assert space_id not in text
