"""`mana personas show` prints a persona's story and what it noticed; `forget` resets it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.database import create_database, drop_database
from tests.fixtures.personas import PersonaApi
from tests.personas.seed_support import System, cli_env, run_cli, running_system

INTERNAL = "/api/v1/internal/personas"


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    url = create_database("sqlite", tmp_path)
    try:
        with running_system(url) as running:
            yield running
    finally:
        drop_database(url)


def test_show_prints_the_story_and_forget_resets_it(system: System, tmp_path: Path) -> None:
    api = PersonaApi(auth=system.auth, db=system.db, admin_token=system.admin_token)
    persona_id = api.create()
    email = api.detail(persona_id)["persona"]["email"]
    tick = api.start_tick(persona_id)
    story = {
        "knownSince": "2026-12-01T08:00:00+00:00",
        "items": [
            {
                "module": "todo",
                "itemId": "3f1c0000-0000-0000-0000-000000000000",
                "label": "Buy milk",
                "tool": "todo.complete",
                "expect": {"done": True},
                "touchedAt": "2026-12-01T09:00:00+00:00",
            }
        ],
        "days": [{"day": "2026-12-01", "text": "todo: 1 change"}],
    }
    observation = {
        "tickId": tick,
        "seq": 0,
        "kind": "not_applied",
        "module": "todo",
        "toolName": "todo.list",
        "actionSeq": 4,
        "evidence": "todo 'Buy milk' was left with done=True but todo.list shows done=False",
    }
    with api.internal() as client:
        client.put(
            f"{INTERNAL}/{persona_id}/memory", json={"tickId": tick, "story": story}
        ).raise_for_status()
        client.post(
            f"{INTERNAL}/{persona_id}/observations", json={"observations": [observation]}
        ).raise_for_status()
    env = cli_env(MANA_AUTH_URL=system.url, MANA_ADMIN_JWT=system.admin_token)

    shown = run_cli(["personas", "show", email], env=env, cwd=tmp_path)
    forgotten = run_cli(["personas", "forget", email], env=env, cwd=tmp_path)
    again = run_cli(["personas", "show", email], env=env, cwd=tmp_path)

    assert shown.returncode == 0, shown
    for expected in ("story so far", "Buy milk", "done=True", "2026-12-01", "not_applied"):
        assert expected in shown.stdout
    assert "todo.list shows done=False" in shown.stdout
    assert forgotten.returncode == 0, forgotten
    assert f"{email}: story forgotten" in forgotten.stdout
    assert "no story yet" in again.stdout
    assert "not_applied" in again.stdout  # observations are the record: they stay
