"""The persona catalog: loader rules, error lines, the shipped catalog and its JSON Schema."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mana.personas import catalog as catalog_module
from mana.personas.catalog import (
    CATALOG_PATH,
    SCHEMA_PATH,
    Catalog,
    CatalogError,
    catalog_json_schema,
    load_catalog,
    render_catalog_json_schema,
)

SLUG_RULE = "must be a slug of a-z, 0-9, '-' and '_' that starts with a letter or digit"
PRODUCT_MODULES = {"todo", "journal", "notes", "habits", "mood", "calendar", "contacts"}
ARCHETYPES = {
    "adhd-student",
    "ceo-busy",
    "creative-parent",
    "solo-dev",
    "researcher",
    "freelancer",
    "overwhelmed-newbie",
}


def _persona(first_name: str, **overrides: Any) -> dict[str, Any]:
    persona: dict[str, Any] = {
        "email": f"persona.{first_name}@mana.test",
        "name": first_name.title(),
        "archetype": "solo-dev",
        "age": 30,
        "tickCadence": "daily",
        "locale": "en",
        "systemPrompt": f"You are {first_name.title()}, a developer who ships small tools.",
        "voice": {
            "style": "terse",
            "sampleTodos": ["fix bug"],
            "sampleNotes": ["a note"],
            "sampleJournal": ["a day"],
            "habits": ["walk"],
            "contacts": [{"name": "Sam", "note": "friend"}],
            "events": ["standup"],
        },
        "moduleMix": {"todo": 3, "notes": 1},
    }
    persona.update(overrides)
    return persona


def _valid_catalog() -> dict[str, Any]:
    return {
        "$schema": "./catalog.schema.json",
        "version": 1,
        "personas": [_persona("a"), _persona("b"), _persona("c", archetype="researcher")],
        "spaces": [
            {
                "name": "Family Kim",
                "type": "family",
                "members": ["persona.a@mana.test", "persona.b@mana.test"],
            }
        ],
    }


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _errors(tmp_path: Path, data: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(CatalogError) as excinfo:
        load_catalog(_write(tmp_path, data), **kwargs)
    assert str(excinfo.value) == "\n".join(excinfo.value.errors)
    return excinfo.value.errors


# --- the rules, one at a time ---------------------------------------------------------------


def test_minimal_valid_catalog_loads(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, _valid_catalog()))

    assert [p.email for p in catalog.personas] == [
        "persona.a@mana.test",
        "persona.b@mana.test",
        "persona.c@mana.test",
    ]
    assert catalog.personas[0].system_prompt.startswith("You are A")
    assert catalog.personas[0].module_mix == {"todo": 3, "notes": 1}
    assert catalog.personas[0].tick_cadence == "daily"
    assert catalog.spaces[0].owner == "persona.a@mana.test"
    assert catalog.schema_ref == "./catalog.schema.json"


def test_catalog_rejects_email_outside_mana_test(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][2]["email"] = "persona.c@example.com"

    assert _errors(tmp_path, data) == [
        "personas[2] (persona.c@example.com).email: must end with @mana.test"
    ]


def test_catalog_checks_emails_against_the_requested_domain(tmp_path: Path) -> None:
    data = _valid_catalog()

    errors = _errors(tmp_path, data, email_domain="example.org")

    assert "personas[0] (persona.a@mana.test).email: must end with @example.org" in errors
    for persona in data["personas"]:
        persona["email"] = persona["email"].replace("mana.test", "example.org")
    for space in data["spaces"]:
        space["members"] = [m.replace("mana.test", "example.org") for m in space["members"]]
    assert len(load_catalog(_write(tmp_path, data), email_domain="example.org").personas) == 3


def test_catalog_rejects_malformed_email(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][2]["email"] = "persona c@mana.test"

    (error,) = _errors(tmp_path, data)

    assert error.startswith("personas[2] (persona c@mana.test).email: is not a valid email address")


def test_catalog_rejects_duplicate_email_ignoring_case(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][2]["email"] = "Persona.A@mana.test"

    assert _errors(tmp_path, data) == [
        "personas[2] (Persona.A@mana.test).email: duplicate of personas[0]"
    ]


def test_catalog_rejects_system_prompt_shorter_than_20_characters(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][1]["systemPrompt"] = "You are B."

    assert _errors(tmp_path, data) == [
        "personas[1] (persona.b@mana.test).systemPrompt: must be at least 20 characters"
    ]


def test_catalog_rejects_empty_module_mix(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][1]["moduleMix"] = {}

    assert _errors(tmp_path, data) == [
        "personas[1] (persona.b@mana.test).moduleMix: must not be empty"
    ]


def test_catalog_rejects_negative_module_weight(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][1]["moduleMix"] = {"todo": -1, "notes": 2}

    assert _errors(tmp_path, data) == [
        "personas[1] (persona.b@mana.test).moduleMix.todo: must be ≥ 0"
    ]


def test_catalog_rejects_module_weights_that_add_up_to_zero(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][1]["moduleMix"] = {"todo": 0, "notes": 0.0}

    assert _errors(tmp_path, data) == [
        "personas[1] (persona.b@mana.test).moduleMix: weights must add up to more than 0"
    ]


def test_catalog_rejects_non_finite_module_weight(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    text = json.dumps(_valid_catalog()).replace('"todo": 3', '"todo": NaN', 1)
    path.write_text(text, encoding="utf-8")

    with pytest.raises(CatalogError) as excinfo:
        load_catalog(path)

    assert excinfo.value.errors == [
        "personas[0] (persona.a@mana.test).moduleMix.todo: input should be a finite number"
    ]


def test_catalog_rejects_module_name_that_is_not_a_module_name(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][0]["moduleMix"] = {"To Do": 1}

    assert _errors(tmp_path, data) == [
        "personas[0] (persona.a@mana.test).moduleMix.To Do (key): must be a module name of "
        "letters, digits, '-' and '_' that starts with a letter or digit (got 'To Do')"
    ]


def test_catalog_rejects_unknown_tick_cadence(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][0]["tickCadence"] = "monthly"

    assert _errors(tmp_path, data) == [
        "personas[0] (persona.a@mana.test).tickCadence: "
        "must be 'daily', 'weekdays' or 'hourly' (got 'monthly')"
    ]


@pytest.mark.parametrize(
    ("archetype", "message"),
    [
        ("Solo Dev", f"{SLUG_RULE} (got 'Solo Dev')"),
        ("-solo", f"{SLUG_RULE} (got '-solo')"),
        ("", "must not be empty"),
    ],
)
def test_catalog_rejects_archetype_that_is_not_a_slug(
    tmp_path: Path, archetype: str, message: str
) -> None:
    data = _valid_catalog()
    data["personas"][0]["archetype"] = archetype

    assert _errors(tmp_path, data) == [f"personas[0] (persona.a@mana.test).archetype: {message}"]


@pytest.mark.parametrize("archetype", ["night-shift-nurse", "night_owl"])
def test_catalog_accepts_archetypes_beyond_the_shipped_seven(
    tmp_path: Path, archetype: str
) -> None:
    data = _valid_catalog()
    data["personas"][0]["archetype"] = archetype

    assert archetype in load_catalog(_write(tmp_path, data)).archetypes


def test_catalog_rejects_space_member_not_in_catalog(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["spaces"][0]["members"][1] = "persona.zed@mana.test"

    assert _errors(tmp_path, data) == [
        "spaces[0] (Family Kim).members[1]: persona.zed@mana.test is not in the catalog"
    ]


def test_catalog_matches_space_members_to_personas_ignoring_case(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["spaces"][0]["members"][1] = "Persona.B@Mana.Test"

    assert load_catalog(_write(tmp_path, data)).spaces[0].members[1] == "Persona.B@Mana.Test"


def test_catalog_rejects_space_with_fewer_than_two_members(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["spaces"][0]["members"] = ["persona.a@mana.test"]

    assert _errors(tmp_path, data) == [
        "spaces[0] (Family Kim).members: must have at least 2 entries (has 1)"
    ]


def test_catalog_rejects_the_same_member_twice_in_a_space(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["spaces"][0]["members"] = ["persona.a@mana.test", "PERSONA.A@mana.test"]

    assert _errors(tmp_path, data) == ["spaces[0] (Family Kim).members[1]: duplicate of members[0]"]


def test_catalog_rejects_two_spaces_with_the_same_name(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["spaces"].append(copy.deepcopy(data["spaces"][0]))

    assert _errors(tmp_path, data) == ["spaces[1] (Family Kim).name: duplicate of spaces[0]"]


def test_catalog_rejects_unknown_space_type(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["spaces"][0]["type"] = "club"

    assert _errors(tmp_path, data) == [
        "spaces[0] (Family Kim).type: must be 'family', 'team', 'practice' or 'brand' (got 'club')"
    ]


def test_catalog_rejects_unknown_field(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][0]["kind"] = "persona"
    data["personas"][0]["voice"]["mood"] = "grumpy"

    assert sorted(_errors(tmp_path, data)) == [
        "personas[0] (persona.a@mana.test).kind: is not a known field",
        "personas[0] (persona.a@mana.test).voice.mood: is not a known field",
    ]


def test_catalog_rejects_missing_field_and_wrong_type(tmp_path: Path) -> None:
    data = _valid_catalog()
    del data["personas"][1]["systemPrompt"]
    data["personas"][2]["age"] = "40"

    assert _errors(tmp_path, data) == [
        "personas[1] (persona.b@mana.test).systemPrompt: is required",
        "personas[2] (persona.c@mana.test).age: must be an integer",
    ]


def test_catalog_rejects_nul_bytes_in_text(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][0]["voice"]["sampleTodos"] = ["ok", "bad\x00todo"]

    assert _errors(tmp_path, data) == [
        "personas[0] (persona.a@mana.test).voice.sampleTodos[1]: must not contain NUL characters"
    ]


def test_catalog_rejects_unsupported_version(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["version"] = 2

    assert _errors(tmp_path, data) == ["version: must be 1 (got 2)"]


def test_catalog_without_labels_still_names_the_position(tmp_path: Path) -> None:
    data = _valid_catalog()
    del data["personas"][2]["email"]

    assert _errors(tmp_path, data) == ["personas[2].email: is required"]


def test_catalog_whose_root_is_not_an_object_is_one_error(tmp_path: Path) -> None:
    assert _errors(tmp_path, [1, 2]) == ["catalog.json: must be a JSON object"]


def test_catalog_reports_every_error_at_once(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][0]["moduleMix"] = {"todo": -2}
    data["personas"][1]["systemPrompt"] = "short"
    data["personas"][2]["email"] = "persona.a@mana.test"
    data["personas"][2]["tickCadence"] = "yearly"
    data["spaces"][0]["members"].append("persona.zed@mana.test")
    data["spaces"][0]["type"] = "club"

    errors = _errors(tmp_path, data)

    assert set(errors) == {
        "personas[0] (persona.a@mana.test).moduleMix.todo: must be ≥ 0",
        "personas[1] (persona.b@mana.test).systemPrompt: must be at least 20 characters",
        "personas[2] (persona.a@mana.test).tickCadence: "
        "must be 'daily', 'weekdays' or 'hourly' (got 'yearly')",
        "personas[2] (persona.a@mana.test).email: duplicate of personas[0]",
        "spaces[0] (Family Kim).type: must be 'family', 'team', 'practice' or 'brand' (got 'club')",
        "spaces[0] (Family Kim).members[2]: persona.zed@mana.test is not in the catalog",
    }
    assert len(errors) == 6


def test_catalog_with_invalid_json_is_one_error_with_position(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text('{\n  "version": 1,\n}\n', encoding="utf-8")

    with pytest.raises(CatalogError) as excinfo:
        load_catalog(path)

    assert excinfo.value.errors == [
        "catalog.json: invalid JSON at line 3 column 1: "
        "Expecting property name enclosed in double quotes"
    ]


def test_missing_catalog_file_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"

    with pytest.raises(CatalogError) as excinfo:
        load_catalog(path)

    assert excinfo.value.errors == [f"{path}: file not found"]


def test_catalog_built_directly_still_checks_cross_references() -> None:
    data = _valid_catalog()
    data["spaces"][0]["members"][1] = "persona.zed@mana.test"

    with pytest.raises(
        ValidationError, match=re.escape("persona.zed@mana.test is not in the catalog")
    ):
        Catalog.model_validate(data)


# --- helpers on a loaded catalog -------------------------------------------------------------


def test_catalog_finds_personas_by_email_ignoring_case_and_spaces(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, _valid_catalog()))

    found = catalog.by_email("  PERSONA.B@mana.test ")

    assert found is not None
    assert found.email == "persona.b@mana.test"
    assert catalog.by_email("persona.zed@mana.test") is None


def test_catalog_lists_its_archetypes_and_modules(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"][2]["moduleMix"] = {"mood": 1}

    catalog = load_catalog(_write(tmp_path, data))

    assert catalog.archetypes == {"solo-dev", "researcher"}
    assert catalog.modules == {"todo", "notes", "mood"}


def test_catalog_summary_counts_in_singular_and_plural(tmp_path: Path) -> None:
    data = _valid_catalog()
    data["personas"] = data["personas"][:1]
    data["spaces"] = []

    assert load_catalog(_write(tmp_path, data)).summary() == (
        "ok: 1 persona, 1 archetype, 0 shared spaces"
    )


def test_catalog_command_prints_summary_or_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert catalog_module.main([]) == 0
    assert capsys.readouterr().out == "ok: 10 personas, 7 archetypes, 5 shared spaces\n"

    data = _valid_catalog()
    data["version"] = 3
    assert catalog_module.main([str(_write(tmp_path, data))]) == 1
    assert capsys.readouterr().err == "version: must be 1 (got 3)\n"


def test_catalog_command_writes_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "catalog.schema.json"
    monkeypatch.setattr(catalog_module, "SCHEMA_PATH", target)

    assert catalog_module.main(["--write-schema"]) == 0

    assert target.read_text(encoding="utf-8") == render_catalog_json_schema()
    assert capsys.readouterr().out == f"wrote {target}\n"


# --- the shipped catalog ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog()


def test_shipped_catalog_has_ten_personas_seven_archetypes_and_five_spaces(
    shipped: Catalog,
) -> None:
    assert len(shipped.personas) == 10
    assert shipped.archetypes == ARCHETYPES
    assert len(shipped.spaces) == 5
    assert shipped.summary() == "ok: 10 personas, 7 archetypes, 5 shared spaces"


def test_shipped_catalog_is_the_default_path(shipped: Catalog) -> None:
    assert load_catalog(CATALOG_PATH) == shipped


def test_shipped_catalog_uses_only_modules_the_tool_server_offers(shipped: Catalog) -> None:
    assert shipped.modules <= PRODUCT_MODULES
    for persona in shipped.personas:
        assert 2 <= len(persona.module_mix) <= 5, persona.email


def test_shipped_catalog_spaces_are_pairs_of_distinct_personas(shipped: Catalog) -> None:
    assert {space.type for space in shipped.spaces} <= {"family", "team", "practice", "brand"}
    for space in shipped.spaces:
        assert len(space.members) == 2, space.name
    pairs = {frozenset(space.members) for space in shipped.spaces}
    assert len(pairs) == 5
    memberships = Counter(member for space in shipped.spaces for member in space.members)
    assert max(memberships.values()) <= 2


def test_shipped_catalog_personas_are_distinct_people(shipped: Catalog) -> None:
    for persona in shipped.personas:
        first_name = persona.name.removeprefix("Dr. ").split()[0].lower()
        assert persona.email == f"persona.{first_name}@mana.test"
        assert persona.voice.style
        words = len(persona.system_prompt.split())
        assert 80 <= words <= 200, (persona.email, words)
        assert persona.system_prompt.startswith("You are "), persona.email
    assert len({p.system_prompt for p in shipped.personas}) == 10
    assert len({p.voice.style for p in shipped.personas}) >= 6


def test_shipped_catalog_mixes_cadences_and_languages(shipped: Catalog) -> None:
    cadences = Counter(p.tick_cadence for p in shipped.personas)
    assert 1 <= cadences["hourly"] <= 2
    assert cadences["daily"] + cadences["weekdays"] >= 8
    locales = Counter(p.locale for p in shipped.personas)
    assert 2 <= locales["de"] <= 3
    assert locales["de"] + locales["en"] == 10


def test_shipped_catalog_gives_the_scripted_brain_enough_material(shipped: Catalog) -> None:
    for persona in shipped.personas:
        voice = persona.voice
        assert 5 <= len(voice.sample_todos) <= 8, persona.email
        assert 3 <= len(voice.sample_notes) <= 5, persona.email
        assert 3 <= len(voice.sample_journal) <= 5, persona.email
        assert 2 <= len(voice.habits) <= 3, persona.email
        assert 2 <= len(voice.contacts) <= 3, persona.email
        assert 2 <= len(voice.events) <= 4, persona.email


def test_shipped_catalog_points_editors_at_the_schema() -> None:
    raw = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))

    assert next(iter(raw)) == "$schema"
    assert raw["$schema"] == "./catalog.schema.json"
    assert (CATALOG_PATH.parent / raw["$schema"]).resolve() == SCHEMA_PATH.resolve()


def test_checked_in_schema_matches_the_models() -> None:
    # If this fails: python -m mana.personas.catalog --write-schema
    assert SCHEMA_PATH.read_text(encoding="utf-8") == (
        json.dumps(catalog_json_schema(), indent=2) + "\n"
    )


def test_shipped_catalog_validates_against_the_checked_in_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    raw = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))

    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(raw)


def test_shipped_catalog_emails_are_lowercase_so_passwords_match_the_original() -> None:
    raw = CATALOG_PATH.read_text(encoding="utf-8")
    emails = re.findall(r'"email": "([^"]+)"', raw)

    assert len(emails) == 10
    assert all(email == email.lower() for email in emails)
