"""`mana personas list|show|cleanup` as subprocesses against a real auth server. Cleanup deletes
every live persona, so each test has a database and server of its own.

These tests are about the command (output, prompts, exit codes), so they run on SQLite only;
what cleanup does to the data is checked on both backends in tests/personas/test_cleanup.py.
"""

from __future__ import annotations

import asyncio
import os
import pty
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mana.clients.admin import AdminClient
from mana.clients.seed import seed_personas
from mana.personas.catalog import Catalog
from tests.fixtures.database import create_database, drop_database
from tests.fixtures.personas import PersonaApi, action
from tests.personas.seed_support import (
    System,
    cli_env,
    finish,
    persona_body,
    run_cli,
    run_cli_concurrently,
    running_system,
    start_cli,
    unique_catalog,
)

SECRET = "cleanup-cli-secret"
DRIFT = "persona.drift@mana.test"


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    url = create_database("sqlite", tmp_path)
    try:
        with running_system(url) as running:
            yield running
    finally:
        drop_database(url)


def _env(system: System) -> dict[str, str]:
    return cli_env(
        MANA_AUTH_URL=system.url,
        MANA_ADMIN_JWT=system.admin_token,
        PERSONA_SEED_SECRET=SECRET,
        MANA_DATABASE_URL=system.db.url,
    )


def _cells(row: str) -> list[str]:
    """The cells of one row of a Rich table."""
    return [cell.strip() for cell in row.split("│")[1:-1]]


def _seed(system: System, catalog: Catalog) -> dict[str, str]:
    async def run() -> dict[str, str]:
        async with AdminClient(system.url, system.admin_token) as client:
            report = await seed_personas(client, catalog, secret=SECRET)
        assert report.ok
        return {r.email: str(r.user_id) for r in report.results}

    return asyncio.run(run())


def test_spaces_list_show_and_cleanup_through_the_cli(system: System, tmp_path: Path) -> None:
    path, catalog = unique_catalog(tmp_path, personas=2, spaces=1)
    ids = _seed(system, catalog)
    drift_id = system.admin_upsert(persona_body(DRIFT))["userId"]
    human = system.auth.register("human.bystander@example.com")
    # Some activity, so that list and show have numbers to print.
    star = catalog.personas[0].email
    api = PersonaApi(auth=system.auth, db=system.db, admin_token=system.admin_token)
    tick = api.start_tick(ids[star])
    posted = api.post_actions(
        ids[star],
        [
            action(tick, 0, toolName="todo.create"),
            action(tick, 1, toolName="notes.search", result="error", errorMessage="boom"),
        ],
    )
    assert posted.status_code == 200, posted.text
    api.rate(ids[star], tick, {"todo": 4, "notes": 2})
    assert api.finish_tick(ids[star], tick, toolCalls=2, errors=1).status_code == 200

    space = catalog.spaces[0]

    # None of these changes what the others read, so they run side by side.
    spaces, listed, shown, refused = run_cli_concurrently(
        [
            (["personas", "spaces", "--catalog", str(path)], _env(system)),
            (["personas", "list"], _env(system)),
            (["personas", "show", ids[star]], _env(system)),
            (["personas", "list", "--jwt", "not-a-token"], _env(system)),
        ],
        cwd=tmp_path,
    )

    # `spaces` needs no admin token: the personas log in, invite and accept themselves.
    assert spaces.returncode == 0, spaces
    assert (
        f"✓ space {space.name} ({space.type}) owner={space.owner}; created; "
        f"joined: {space.members[1]}" in spaces.stdout
    )
    assert "1 shared space: 1 created, 1 member joined, 0 unchanged, 0 failed" in spaces.stdout
    members = system.db.fetch(
        "SELECT u.email, m.role FROM auth.space_members m JOIN auth.users u ON u.id = m.user_id"
        " JOIN auth.spaces s ON s.id = m.space_id WHERE s.name = :n",
        n=space.name,
    )
    assert sorted(members) == sorted([(space.members[0], "owner"), (space.members[1], "member")])

    assert listed.returncode == 0, listed
    assert "3 personas" in listed.stdout
    for email in [*ids, DRIFT]:
        assert email in listed.stdout
    [star_row] = [_cells(line) for line in listed.stdout.splitlines() if star in line]
    assert star_row[4:6] == ["2", "3.0"]  # 2 actions in 7 days, average rating of 4 and 2
    assert shown.returncode == 0, shown
    for expected in (f"persona {star}", ids[star], "todo.create", "notes.search", "boom"):
        assert expected in shown.stdout
    [todo_row] = [_cells(line) for line in shown.stdout.splitlines() if "│ todo " in line]
    assert todo_row[:4] == ["todo", "4.0", "1", "4"]  # module, average, ratings, last rating
    assert refused.returncode == 1, refused
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: the auth service refused the admin token:")
    assert "HTTP 401" in line and "mana auth token" in line

    cleaned = run_cli(
        ["personas", "cleanup", "--yes", "--catalog", str(path)], env=_env(system), cwd=tmp_path
    )

    assert cleaned.returncode == 0, cleaned
    out = cleaned.stdout
    assert f"{DRIFT} (solo-dev) user={drift_id}  ⚠ not in catalog" in out
    for email, user_id in ids.items():
        line = next(line for line in out.splitlines() if line.startswith(f"{email} ("))
        assert user_id in line and "⚠" not in line
        assert f"✓ deleted {email} (" in out
    assert "3 live personas, 1 not in the catalog" in out
    assert "3 personas deleted, 0 failed" in out
    db = system.db
    assert db.scalar("SELECT count(*) FROM auth.users WHERE kind = 'persona'") == 0
    assert db.scalar("SELECT count(*) FROM auth.personas") == 0
    assert db.scalar("SELECT count(*) FROM auth.persona_actions") == 0
    assert db.scalar("SELECT count(*) FROM auth.spaces WHERE type <> 'personal'") == 0
    assert db.fetch("SELECT email, kind FROM auth.users WHERE email = :e", e=human["email"]) == [
        (human["email"], "human")
    ]
    assert db.scalar("SELECT count(*) FROM auth.users WHERE role = 'admin'") == 1

    again = run_cli(["personas", "cleanup", "--yes"], env=_env(system), cwd=tmp_path)

    assert again.returncode == 0, again
    assert again.stdout.strip() == "no live personas: nothing to delete"


@contextmanager
def _terminal(answer: str) -> Iterator[int]:
    """A pseudo-terminal to use as stdin, with `answer` already typed into it."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, f"{answer}\n".encode())
        yield terminal
    finally:
        os.close(terminal)
        os.close(controller)


def test_cleanup_asks_on_a_terminal_and_refuses_without_one(system: System, tmp_path: Path) -> None:
    system.admin_upsert(persona_body(DRIFT))
    args = ["personas", "cleanup"]
    with _terminal("n") as terminal:
        # Neither run deletes anything, so they can run side by side.
        no_terminal = start_cli(args, env=_env(system), cwd=tmp_path)
        on_terminal = start_cli(args, env=_env(system), cwd=tmp_path, stdin=terminal)
        refused, declined = finish(no_terminal, args), finish(on_terminal, args)
    left = system.live_persona_emails()

    assert refused.returncode == 1, refused
    assert refused.stderr.strip() == (
        "error: refusing to delete 1 persona without confirmation: stdin is not a terminal; "
        "pass --yes"
    )
    assert declined.returncode == 1, declined
    assert f"{DRIFT} (solo-dev)" in declined.stdout
    assert "Delete 1 live persona? [y/N]" in declined.stdout
    assert declined.stderr.strip() == "error: nothing deleted"
    assert left == {DRIFT}
