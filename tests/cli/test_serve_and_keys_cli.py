"""`mana serve auth` in production and `mana auth keys`: refusals name what to fix."""

from __future__ import annotations

from pathlib import Path

from mana.auth.app import create_auth_app
from mana.kit.server import free_port
from tests.cli.conftest import one_line_error, run_mana
from tests.fixtures.database import Db
from tests.fixtures.servers import TEST_SERVICE_KEY, make_settings, start_and_stop


def test_serve_auth_in_production_refuses_the_development_service_key(tmp_path: Path) -> None:
    result = run_mana(
        "serve",
        "auth",
        "--port",
        str(free_port()),
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        cwd=tmp_path,
        env={"MANA_ENV": "production"},
    )
    line = one_line_error(result)
    assert "MANA_SERVICE_KEY" in line
    assert "MANA_ENV=production" in line


def test_serve_auth_in_production_refuses_a_development_signing_key(
    fresh_database_url: str, tmp_path: Path
) -> None:
    start_and_stop(create_auth_app(make_settings(fresh_database_url)))  # a dev server's key
    kid = Db(fresh_database_url).scalar("SELECT kid FROM auth.signing_keys")
    result = run_mana(
        "serve",
        "auth",
        "--port",
        str(free_port()),
        database_url=fresh_database_url,
        cwd=tmp_path,
        env={"MANA_ENV": "production", "MANA_SERVICE_KEY": TEST_SERVICE_KEY},
    )
    line = one_line_error(result)
    assert f"signing key {kid} is a development key" in line
    assert "MANA_ENV=production" in line


def test_keys_rotate_adds_a_signing_key_and_keeps_the_old_one_verifying(
    fresh_database_url: str, tmp_path: Path
) -> None:
    start_and_stop(create_auth_app(make_settings(fresh_database_url)))
    old_kid = Db(fresh_database_url).scalar("SELECT kid FROM auth.signing_keys")

    rotated = run_mana(
        "auth",
        "keys",
        "rotate",
        database_url=fresh_database_url,
        cwd=tmp_path,
        env={"MANA_KEY_ROTATION_GRACE_SECONDS": "3600"},
    )
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.split("new signing key ", 1)[1].split()[0]
    assert new_kid != old_kid

    listed = run_mana("auth", "keys", "list", database_url=fresh_database_url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{new_kid}  signing")
    assert lines[1].startswith(f"{old_kid}  verifying until ")
