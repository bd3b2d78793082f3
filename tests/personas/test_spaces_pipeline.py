"""The shared-spaces pipeline in-process, against the real auth service (both backends): the
owner creates and invites, each member logs in and accepts, and a rerun changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from pathlib import Path

from tests.fixtures.database import Db
from tests.fixtures.servers import TEST_SEED_SECRET, AuthService
from tests.personas.seed_support import make_admin, unique_catalog

from mana.clients.admin import AdminClient
from mana.clients.seed import seed_personas
from mana.clients.spaces import SpacesReport, setup_shared_spaces
from mana.personas.catalog import Catalog
from mana.personas.password import derive_persona_password

# The shared test server's own secret: personas left in the shared database stay usable by any
# other test (a runner, say) that logs personas in with the test settings.
SECRET = TEST_SEED_SECRET


def _seed(auth: AuthService, db: Db, catalog: Catalog) -> None:
    token = make_admin(auth, db)

    async def run() -> None:
        async with AdminClient(auth.url, token) as client:
            report = await seed_personas(client, catalog, secret=SECRET)
        assert report.ok, report.failed

    asyncio.run(run())


def _spaces(
    auth: AuthService, catalog: Catalog, *, unavailable: Collection[str] = ()
) -> SpacesReport:
    async def run() -> SpacesReport:
        # No admin token: the spaces step is the personas acting as themselves.
        async with AdminClient(auth.url) as client:
            return await setup_shared_spaces(
                client, catalog, secret=SECRET, unavailable=unavailable
            )

    return asyncio.run(run())


def _members(db: Db, owner: str) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """Shared spaces of `owner` -> {(member email, role)}."""
    rows = db.fetch(
        "SELECT s.id, s.name, s.type, u.email, m.role FROM auth.spaces s"
        " JOIN auth.space_members m ON m.space_id = s.id JOIN auth.users u ON u.id = m.user_id"
        " WHERE s.type <> 'personal' AND s.id IN (SELECT m2.space_id FROM auth.space_members m2"
        " JOIN auth.users u2 ON u2.id = m2.user_id WHERE u2.email = :owner)",
        owner=owner,
    )
    spaces: dict[tuple[str, str], set[tuple[str, str]]] = {}
    ids: dict[tuple[str, str], set[object]] = {}
    for space_id, name, type_, email, role in rows:
        spaces.setdefault((name, type_), set()).add((email, role))
        ids.setdefault((name, type_), set()).add(space_id)
    assert all(len(v) == 1 for v in ids.values()), f"duplicate spaces: {ids}"
    return spaces


def _token(auth: AuthService, email: str) -> str:
    return str(auth.login(email, derive_persona_password(email, SECRET))["token"])


def test_spaces_are_created_joined_and_a_rerun_changes_nothing(
    auth: AuthService, db: Db, tmp_path: Path
) -> None:
    _, catalog = unique_catalog(tmp_path, personas=4, spaces=2)
    _seed(auth, db, catalog)

    first = _spaces(auth, catalog)
    invitations = db.scalar("SELECT count(*) FROM auth.space_invitations")
    second = _spaces(auth, catalog)

    assert first.ok, first.failed
    assert [(r.name, r.created, r.joined) for r in first.results] == [
        (s.name, True, (s.members[1],)) for s in catalog.spaces
    ]
    assert first.summary() == "2 shared spaces: 2 created, 2 members joined, 0 unchanged, 0 failed"
    for space in catalog.spaces:
        assert _members(db, space.owner) == {
            (space.name, space.type): {(space.members[0], "owner"), (space.members[1], "member")}
        }
    assert second.ok and not any(r.changed for r in second.results)
    assert [r.already_members for r in second.results] == [(s.members[1],) for s in catalog.spaces]
    assert [r.space_id for r in second.results] == [r.space_id for r in first.results]
    assert db.scalar("SELECT count(*) FROM auth.space_invitations") == invitations


def test_an_existing_space_is_reused_and_a_pending_invitation_accepted(
    auth: AuthService, db: Db, tmp_path: Path
) -> None:
    _, catalog = unique_catalog(tmp_path, personas=2, spaces=1)
    _seed(auth, db, catalog)
    space = catalog.spaces[0]
    # The owner got halfway by hand earlier: the space exists, the invitation is still pending.
    with auth.client(_token(auth, space.owner)) as owner:
        made = owner.post("/api/v1/spaces", json={"name": space.name, "type": space.type})
        assert made.status_code == 201, made.text
        invited = owner.post(
            f"/api/v1/spaces/{made.json()['id']}/invitations", json={"email": space.members[1]}
        )
        assert invited.status_code == 201, invited.text

    report = _spaces(auth, catalog)

    [result] = report.results
    assert result.ok, result.error
    assert (str(result.space_id), result.created, result.joined) == (
        made.json()["id"],
        False,
        (space.members[1],),
    )
    assert _members(db, space.owner) == {
        (space.name, space.type): {(space.members[0], "owner"), (space.members[1], "member")}
    }


def test_a_space_whose_member_cannot_log_in_fails_alone(
    auth: AuthService, db: Db, tmp_path: Path
) -> None:
    _, catalog = unique_catalog(tmp_path, personas=4, spaces=2)
    broken = catalog.spaces[0].members[1]
    _seed(
        auth,
        db,
        catalog.model_copy(update={"personas": [p for p in catalog.personas if p.email != broken]}),
    )

    report = _spaces(auth, catalog)

    failed, ok = report.results
    assert ok.ok and ok.created
    assert not failed.ok
    assert failed.error == (
        f"{broken} cannot log in with its derived password (HTTP 401): seed it first, with the "
        "same PERSONA_SEED_SECRET"
    )


def test_members_known_to_be_missing_skip_their_space_without_a_request(
    auth: AuthService, db: Db, tmp_path: Path
) -> None:
    _, catalog = unique_catalog(tmp_path, personas=2, spaces=1)
    space = catalog.spaces[0]

    report = _spaces(auth, catalog, unavailable=[space.members[1].upper()])

    [result] = report.results
    assert result.error == f"skipped: {space.members[1]} could not be seeded"
    # Nothing was seeded and nothing was tried: no user, let alone a space, exists.
    assert db.scalar("SELECT count(*) FROM auth.users WHERE email = :e", e=space.owner) == 0
