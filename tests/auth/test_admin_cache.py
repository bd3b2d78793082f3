"""The admin check trusts a confirmed admin for MANA_ADMIN_CACHE_SECONDS and no longer: a
demoted or deleted admin loses access within that bound, a deletion through the admin API at
once, a promotion at once (only confirmed admins are remembered)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from mana.auth.admin_cache import Admin, AdminCache
from tests.fixtures.database import Db
from tests.fixtures.personas import PERSONA_PASSWORD, PersonaApi, make_admin, persona_body
from tests.fixtures.servers import AuthService, running_auth_service

ADMIN_PAGE = "/api/v1/admin/personas"


def admin_page(auth: AuthService, token: str) -> httpx.Response:
    with auth.client(token) as client:
        return client.get(ADMIN_PAGE, params={"limit": 1})


def signed_in_admin(auth: AuthService, db: Db) -> tuple[str, str]:
    email = make_admin(auth, db)
    return email, str(auth.login(email)["token"])


def test_a_demoted_admin_loses_access_within_the_bound(auth: AuthService, db: Db) -> None:
    email, token = signed_in_admin(auth, db)
    assert admin_page(auth, token).status_code == 200
    db.execute("UPDATE auth.users SET role = 'user' WHERE email = :e", e=email)

    # Inside the bound the confirmation still holds; at the bound it is read again.
    assert admin_page(auth, token).status_code == 200
    auth.clock.advance(timedelta(seconds=auth.settings.admin_cache_seconds))
    assert admin_page(auth, token).status_code == 403


def test_a_deleted_admin_loses_access_within_the_bound(auth: AuthService, db: Db) -> None:
    email, token = signed_in_admin(auth, db)
    assert admin_page(auth, token).status_code == 200
    db.execute("UPDATE auth.users SET deleted_at = CURRENT_TIMESTAMP WHERE email = :e", e=email)

    auth.clock.advance(timedelta(seconds=auth.settings.admin_cache_seconds))
    assert admin_page(auth, token).status_code == 401


def test_a_promotion_takes_effect_on_the_next_request(auth: AuthService, db: Db) -> None:
    user, token = auth.user_token()
    assert admin_page(auth, token).status_code == 403
    db.execute("UPDATE auth.users SET role = 'admin' WHERE email = :e", e=user["email"])
    assert admin_page(auth, token).status_code == 200


def test_deleting_an_admin_through_the_admin_api_takes_effect_at_once(
    personas: PersonaApi, db: Db
) -> None:
    """A persona account given the admin role, confirmed (so remembered), then deleted through
    the admin API: its token is refused on the very next request, no waiting for the bound."""
    body = persona_body()
    persona_id = personas.create(**body)
    db.execute("UPDATE auth.users SET role = 'admin' WHERE email = :e", e=body["email"])
    token = str(personas.auth.login(body["email"], PERSONA_PASSWORD)["token"])
    assert admin_page(personas.auth, token).status_code == 200

    with personas.admin() as client:
        assert client.delete(f"{ADMIN_PAGE}/{persona_id}").status_code == 200

    assert admin_page(personas.auth, token).status_code == 401


def test_zero_turns_the_cache_off(database_url: str, db: Db) -> None:
    with running_auth_service(database_url, admin_cache_seconds=0) as auth:
        email, token = signed_in_admin(auth, db)
        assert admin_page(auth, token).status_code == 200
        db.execute("UPDATE auth.users SET role = 'user' WHERE email = :e", e=email)
        assert admin_page(auth, token).status_code == 403


# --- the cache's own bounds ---------------------------------------------------------------


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admin() -> Admin:
    return Admin(id=uuid.uuid4(), email=f"{uuid.uuid4().hex[:8]}@example.com")


def test_an_entry_lasts_exactly_the_ttl() -> None:
    clock = Ticks()
    cache = AdminCache(ttl=2.0, now=clock)
    known = admin()
    cache.put(known)
    clock.now += 1.999
    assert cache.get(known.id) == known
    clock.now += 0.001
    assert cache.get(known.id) is None
    assert len(cache) == 0


def test_a_clock_that_goes_back_ends_an_entry_instead_of_stretching_it() -> None:
    clock = Ticks()
    cache = AdminCache(ttl=2.0, now=clock)
    known = admin()
    cache.put(known)
    clock.now -= 60
    assert cache.get(known.id) is None


def test_forget_and_the_size_bound() -> None:
    clock = Ticks()
    cache = AdminCache(ttl=2.0, now=clock, max_entries=2)
    first, second, third = admin(), admin(), admin()
    for each in (first, second, third):
        cache.put(each)
    assert len(cache) == 2
    assert cache.get(first.id) is None  # the oldest confirmation went first
    cache.forget(second.id)
    assert cache.get(second.id) is None
    assert cache.get(third.id) == third


def test_a_zero_ttl_remembers_nothing() -> None:
    cache = AdminCache(ttl=0.0, now=Ticks())
    cache.put(admin())
    assert len(cache) == 0
