"""One wire contract: the catalog loader and the admin API agree on what a valid persona is,
a catalog in the original system's format works end to end, and the answers keep the
original's shapes (`personas` in the list, `deleted` on delete, short input hashes)."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.fixtures.database import Db
from tests.fixtures.personas import PERSONA_PASSWORD, PersonaApi, action, sql_id
from tests.fixtures.servers import TEST_SEED_SECRET, AuthService
from tests.personas.seed_support import cli_env, make_admin, run_cli

from mana.clients.admin import AdminClient
from mana.clients.seed import seed_personas
from mana.kit.clock import Clock
from mana.personas.catalog import CatalogError, load_catalog
from mana.runner.brains.base import DayContext
from mana.runner.brains.scripted import ScriptedBrain
from mana.runner.recording import RecordingToolBox, summarize_experience
from mana.runner.types import PersonaProfile, PersonaSpace, ToolInfo
from mana.tools.registry import exposed_tools, modules_with_tools

ADMIN_PERSONAS = "/api/v1/admin/personas"
ORIGINAL_FORMAT = Path(__file__).with_name("data") / "original_format_catalog.json"
PROMPT = "You are a persona made up by a property test, using the app every day."

# --- the loader and the API agree -----------------------------------------------------------

# Near the edges of each rule: case, '_' and '-', a leading '-', spaces, empty, long.
slugs = st.one_of(
    st.sampled_from(["solo-dev", "night_owl", "-solo", "Solo", "a", "", "x" * 64, "x" * 65]),
    st.text(alphabet="abzAZ09-_ .", min_size=0, max_size=12),
)
module_names = st.one_of(
    st.sampled_from(["todo", "newsResearch", "news_research", "-todo", "To Do", ""]),
    st.text(alphabet="abzAZ09-_ ", min_size=0, max_size=10),
)
weights = st.one_of(
    st.integers(min_value=-2, max_value=5),
    st.floats(min_value=-1, max_value=10, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, True, "1"]),
)
local_parts = st.sampled_from(["persona.a", "p", "a..b", "", "a b", "x" * 65])
domains = st.sampled_from(["mana.test", "MANA.test", "example.org", "mana.test.evil", ""])


@st.composite
def personas_in_both_shapes(draw: st.DrawFn) -> dict[str, Any]:
    unique = uuid.uuid4().hex[:8]
    local = draw(local_parts)
    return {
        "email": f"{local}{unique if local else ''}@{draw(domains)}",
        "name": "Prop Test",
        "archetype": draw(slugs),
        "systemPrompt": PROMPT,
        "moduleMix": draw(st.dictionaries(module_names, weights, min_size=0, max_size=3)),
        "tickCadence": draw(st.sampled_from(["daily", "weekdays", "hourly", "monthly"])),
    }


def _persona(**overrides: Any) -> dict[str, Any]:
    persona = {
        "email": f"persona.{uuid.uuid4().hex[:8]}@mana.test",
        "name": "Prop Test",
        "archetype": "solo-dev",
        "systemPrompt": PROMPT,
        "moduleMix": {"todo": 1},
        "tickCadence": "daily",
    }
    return {**persona, **overrides}


def _loader_accepts(persona: dict[str, Any], tmp_path: Path) -> bool:
    path = tmp_path / f"{uuid.uuid4().hex}.json"
    path.write_text(json.dumps({"personas": [persona]}), encoding="utf-8")
    try:
        load_catalog(path)
    except CatalogError:
        return False
    return True


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(persona=personas_in_both_shapes())
@example(persona=_persona(archetype="night_owl", moduleMix={"newsResearch": 1, "todo": 0.5}))
@example(persona=_persona(archetype="-solo"))
@example(persona=_persona(moduleMix={"todo": True}))
@example(persona=_persona(email=f"persona.{uuid.uuid4().hex[:8]}@example.org"))
def test_a_persona_the_catalog_loader_accepts_is_accepted_by_the_admin_api_and_vice_versa(
    personas: PersonaApi, tmp_path: Path, persona: dict[str, Any]
) -> None:
    with personas.admin() as client:
        response = client.post(ADMIN_PERSONAS, json={**persona, "password": PERSONA_PASSWORD})

    assert response.status_code in (200, 422), response.text
    assert _loader_accepts(persona, tmp_path) == (response.status_code == 200), response.text


# --- the original catalog format ------------------------------------------------------------


def test_a_catalog_in_the_original_format_validates_and_shows_its_description(
    tmp_path: Path,
) -> None:
    catalog = load_catalog(ORIGINAL_FORMAT)

    assert catalog.description is not None
    assert catalog.version is None
    assert [p.voice for p in catalog.personas] == [None, None, None]
    result = run_cli(
        ["personas", "validate", "--catalog", str(ORIGINAL_FORMAT)], env=cli_env(), cwd=tmp_path
    )
    assert result.returncode == 0, result
    assert result.stdout.splitlines() == [
        "ok: 3 personas, 3 archetypes, 0 shared spaces",
        catalog.description,
    ]
    # Modules the product does not have yet are accepted, with one warning per persona.
    warnings = result.stderr.splitlines()
    assert len(warnings) == 3
    assert "not offered by the product (yet): invoices, newsResearch, library" in warnings[1]


def test_a_catalog_in_the_original_format_seeds(auth: AuthService, db: Db) -> None:
    catalog = load_catalog(ORIGINAL_FORMAT)
    token = make_admin(auth, db)

    async def seed() -> Any:
        async with AdminClient(auth.url, token) as client:
            return await seed_personas(client, catalog, secret=TEST_SEED_SECRET)

    report = asyncio.run(seed())

    assert report.ok, [r.error for r in report.failed]
    stored = db.fetch(
        "SELECT u.email, p.module_mix FROM auth.users u JOIN auth.personas p ON p.user_id = u.id "
        "WHERE u.email LIKE '%-original@mana.test' ORDER BY u.email"
    )
    mixes = {email: m if isinstance(m, dict) else json.loads(m) for email, m in stored}
    assert mixes["persona.priya-original@mana.test"]["newsResearch"] == 2


@pytest.mark.anyio
async def test_the_scripted_brain_plays_a_persona_without_a_voice_on_the_modules_that_exist() -> (
    None
):
    catalog = load_catalog(ORIGINAL_FORMAT)
    entry = catalog.personas[2]  # articles and goals do not exist; notes and habits do
    space = PersonaSpace(id=uuid.uuid4(), name="Tomás", type="personal", role="owner")
    persona = PersonaProfile(
        user_id=uuid.uuid4(),
        email=entry.email,
        name=entry.name,
        archetype=entry.archetype,
        system_prompt=entry.system_prompt,
        module_mix=dict(entry.module_mix),
        spaces=[space],
    )
    day = DayContext(
        persona=persona, space=space, today=date(2026, 3, 2), seed=5, rng=random.Random(5)
    )
    tools = [
        ToolInfo(name=s.name, description=s.description, input_schema=s.input_schema)
        for s in exposed_tools().values()
    ]

    async def product(name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
        return False, {"items": [], "nextCursor": None, "id": "1"}

    box = RecordingToolBox(tools, product, Clock())
    brain = ScriptedBrain(catalog)
    await brain.run_day(day, box)
    rating = await brain.rate(day, summarize_experience(box.records))

    modules = {r.module for r in box.records}
    assert modules, "the whole weight went to the modules that exist"
    assert modules <= {"notes", "habits"} <= modules_with_tools()
    assert {r.module for r in rating.ratings} == modules
    assert all(r.notes for r in rating.ratings)


# --- the original's response shapes ---------------------------------------------------------


def test_the_persona_list_carries_personas_and_next_cursor(personas: PersonaApi) -> None:
    archetype = f"shape-{uuid.uuid4().hex[:8]}"
    ids = {personas.create(archetype=archetype) for _ in range(3)}

    with personas.admin() as client:
        first = client.get(ADMIN_PERSONAS, params={"archetype": archetype, "limit": 2}).json()
        second = client.get(
            ADMIN_PERSONAS,
            params={"archetype": archetype, "limit": 2, "cursor": first["nextCursor"]},
        ).json()

    assert first["personas"] == first["items"]
    assert len(first["personas"]) == 2 and first["nextCursor"]
    assert len(second["personas"]) == 1 and second["nextCursor"] is None
    assert {p["userId"] for p in first["personas"] + second["personas"]} == ids


def test_delete_answers_ok_and_the_deleted_user_id(personas: PersonaApi) -> None:
    persona_id = personas.create()

    with personas.admin() as client:
        response = client.delete(f"{ADMIN_PERSONAS}/{persona_id}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True
    assert body["deleted"] == persona_id == body["userId"]


@pytest.mark.parametrize("digits", [16, 40, 64])
def test_an_input_hash_of_16_to_64_hex_digits_is_stored_as_sent(
    personas: PersonaApi, db: Db, digits: int
) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)
    digest = uuid.uuid4().hex * 2
    row = action(tick, 0, inputHash=digest[:digits].upper())

    assert personas.post_actions(persona_id, [row]).status_code == 200

    stored = db.scalar(
        "SELECT input_hash FROM auth.persona_actions WHERE persona_id=:p", p=sql_id(db, persona_id)
    )
    assert stored == digest[:digits]


@pytest.mark.parametrize("bad", ["ab" * 7 + "f", "a" * 65, "g" * 16])
def test_an_input_hash_shorter_than_16_longer_than_64_or_not_hex_is_422(
    personas: PersonaApi, bad: str
) -> None:
    persona_id = personas.create()
    tick = personas.start_tick(persona_id)

    response = personas.post_actions(persona_id, [action(tick, 0, inputHash=bad)])

    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == "actions[0].inputHash"
