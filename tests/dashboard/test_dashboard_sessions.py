"""The dashboard's session and forms over plain HTTP: who gets in, what a cookie holds, CSRF,
token refresh, and what happens when the admin role or the session goes away."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from mana.config import ProductionConfigError
from mana.dashboard.app import create_dashboard_app
from mana.kit.server import BackgroundServer
from tests.dashboard.conftest import FAULTY_MODULE, Site, csrf_of
from tests.fixtures.personas import make_admin
from tests.fixtures.servers import make_settings

PAGES = ("/", "/alerts", f"/modules/{FAULTY_MODULE}", "/personas")


def _open_alert_id(client: httpx.Client) -> str:
    page = client.get("/alerts?status=open")
    assert page.status_code == 200, page.text
    marker = 'data-alert-id="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


def test_signed_out_visitors_are_sent_to_sign_in_from_every_page(dashboard: Site) -> None:
    with dashboard.http() as client:
        for path in (*PAGES, "/ticks/00000000-0000-0000-0000-000000000000"):
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/signin?next=")
        assert client.get("/static/vendor/chart.umd.js").status_code == 200
        missing = client.get("/static/vendor/no-such-file.js")
        assert missing.status_code == 404
        assert "There is no such page" in missing.text


def test_the_session_cookie_is_httponly_lax_and_carries_no_readable_token(
    dashboard: Site,
) -> None:
    with dashboard.http() as client:
        response = dashboard.sign_in(client)

        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie  # development; production sets it (test below)
        # An access token is a JWT ("eyJ…"); the cookie is encrypted, so none shows.
        assert "eyJ" not in cookie
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        assert client.get("/").status_code == 200


def test_a_tampered_cookie_makes_a_signed_out_visitor(dashboard: Site) -> None:
    with dashboard.http() as client:
        dashboard.sign_in(client)
        value = client.cookies["mana_dashboard"]
        flipped = value[:-5] + ("A" if value[-5] != "A" else "B") + value[-4:]
        client.cookies.set("mana_dashboard", flipped)

        response = client.get("/")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")


def test_forms_without_the_sessions_csrf_token_are_refused(dashboard: Site) -> None:
    with dashboard.http() as client:
        dashboard.sign_in(client)
        alert_id = _open_alert_id(client)

        forged = client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf": "guess"})
        missing = client.post("/signout", data={})
        evaluate = client.post("/alerts/evaluate", data={"csrf": "guess"})

        assert (forged.status_code, missing.status_code, evaluate.status_code) == (403, 403, 403)
        assert client.get("/").status_code == 200  # still signed in
        row = client.get("/alerts?status=open").text
        assert f'data-alert-id="{alert_id}"' in row
    with dashboard.http() as stranger:
        stranger.get("/signin")
        refused = stranger.post(
            "/signin",
            data={"csrf": "x", "email": dashboard.admin_email, "password": dashboard.password},
        )
        assert refused.status_code == 403
        assert stranger.get("/").status_code == 303


def test_after_sign_in_the_dashboard_only_redirects_to_its_own_pages(dashboard: Site) -> None:
    for target, expected in (
        ("/alerts?status=all", "/alerts?status=all"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
    ):
        with dashboard.http() as client:
            csrf = csrf_of(client.get("/signin").text)
            response = client.post(
                "/signin",
                data={
                    "csrf": csrf,
                    "email": dashboard.admin_email,
                    "password": dashboard.password,
                    "next": target,
                },
            )
            assert response.headers["location"] == expected


def test_an_expiring_access_token_is_refreshed_once_for_every_request_that_carries_it(
    dashboard: Site,
) -> None:
    with dashboard.http() as client:
        dashboard.sign_in(client)
        old_cookie = client.cookies["mana_dashboard"]
        dashboard.clock.advance(timedelta(minutes=16))

        refreshed = client.get("/alerts")
        assert refreshed.status_code == 200
        assert client.cookies["mana_dashboard"] != old_cookie
        # A second tab still holding the old cookie: it gets the same new tokens instead of
        # replaying the rotated refresh token (which would revoke the whole session).
        with dashboard.http() as other_tab:
            other_tab.cookies.set("mana_dashboard", old_cookie)
            assert other_tab.get("/alerts").status_code == 200
        assert client.get("/").status_code == 200


def test_a_session_ends_after_its_lifetime_however_active(dashboard: Site) -> None:
    with dashboard.http() as client:
        dashboard.sign_in(client)
        dashboard.clock.advance(timedelta(hours=12, minutes=1))

        response = client.get("/")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")


def test_an_admin_who_loses_the_role_is_signed_out_within_the_admin_cache_bound(
    dashboard: Site,
) -> None:
    email = make_admin(dashboard.auth, dashboard.db)
    with dashboard.http() as client:
        dashboard.sign_in(client, email)
        assert client.get("/").status_code == 200
        dashboard.db.execute("UPDATE auth.users SET role='user' WHERE email=:e", e=email)
        # The auth service trusts a confirmed admin for MANA_ADMIN_CACHE_SECONDS.
        bound = dashboard.auth.settings.admin_cache_seconds
        dashboard.auth.clock.advance(timedelta(seconds=bound))

        response = client.get("/")

        assert response.status_code == 303
        assert "reason=forbidden" in response.headers["location"]
        assert client.get("/").status_code == 303


def test_production_needs_a_dashboard_secret_and_sets_secure_cookies(site: Site) -> None:
    base = {"env": "production", "service_key": "a-production-service-key-0123"}
    with pytest.raises(ProductionConfigError, match="MANA_DASHBOARD_SECRET"):
        create_dashboard_app(make_settings(site.db.url, **base))

    settings = make_settings(site.db.url, dashboard_secret="a-long-random-dashboard-secret", **base)
    with (
        BackgroundServer(create_dashboard_app(settings)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        response = client.get("/signin")
    assert response.status_code == 200
    assert "Secure" in response.headers["set-cookie"]
