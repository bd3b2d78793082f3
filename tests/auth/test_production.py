"""MANA_ENV=production refuses development keys and secrets, naming what to fix."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from mana.auth.app import create_auth_app
from mana.config import DEV_SERVICE_KEY, ProductionConfigError, Settings
from tests.auth.token_tools import rotate_key
from tests.fixtures.database import Db
from tests.fixtures.servers import (
    TEST_SERVICE_KEY,
    make_settings,
    running_auth_service,
    start_and_stop,
)


def test_production_refuses_the_development_service_key() -> None:
    settings = Settings(_env_file=None, env="production")
    assert settings.service_key.get_secret_value() == DEV_SERVICE_KEY
    with pytest.raises(ProductionConfigError) as refused:
        create_auth_app(settings)
    message = str(refused.value)
    assert "MANA_SERVICE_KEY" in message
    assert "\n" not in message


def test_production_reads_mana_env_and_the_service_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MANA_ENV", "production")
    monkeypatch.setenv("MANA_SERVICE_KEY", DEV_SERVICE_KEY)
    with pytest.raises(ProductionConfigError, match="MANA_SERVICE_KEY"):
        Settings(_env_file=None).require_production_secrets()
    monkeypatch.setenv("MANA_SERVICE_KEY", "a-real-secret-from-the-vault")
    Settings(_env_file=None).require_production_secrets()


def test_production_refuses_to_start_when_the_only_signing_key_is_a_development_key(
    fresh_database_url: str,
) -> None:
    # A development server makes itself a key on first start...
    start_and_stop(create_auth_app(make_settings(fresh_database_url)))
    dev_kid = Db(fresh_database_url).scalar("SELECT kid FROM auth.signing_keys")
    assert dev_kid is not None
    # ...which production must not sign with.
    production = make_settings(fresh_database_url, env="production", service_key=TEST_SERVICE_KEY)
    with pytest.raises(ProductionConfigError) as refused:
        start_and_stop(create_auth_app(production))
    message = str(refused.value)
    assert f"signing key {dev_kid} is a development key" in message
    assert "MANA_ENV=production" in message
    assert "\n" not in message


def test_production_refuses_to_start_without_any_signing_key(fresh_database_url: str) -> None:
    production = make_settings(fresh_database_url, env="production", service_key=TEST_SERVICE_KEY)
    with pytest.raises(ProductionConfigError, match="none in the database"):
        start_and_stop(create_auth_app(production))
    # And it did not make itself a key, as a development server would.
    assert Db(fresh_database_url).scalar("SELECT count(*) FROM auth.signing_keys") == 0


def test_production_starts_and_signs_with_a_production_key(fresh_database_url: str) -> None:
    start_and_stop(
        create_auth_app(make_settings(fresh_database_url))
    )  # leaves a development key behind
    kid = rotate_key(fresh_database_url, grace=timedelta(hours=1), development=False)
    with running_auth_service(
        fresh_database_url, env="production", service_key=TEST_SERVICE_KEY
    ) as auth:
        _user, token = auth.user_token()
    assert jwt.get_unverified_header(token)["kid"] == kid
