"""Registry invariants: what the MCP gateway may rely on for every tool, present and future."""

from __future__ import annotations

import pytest

from mana.db import Base
from mana.personas.catalog import load_catalog
from mana.tools.registry import TOOL_NAME, all_tools, exposed_tools, get_tool, modules_with_tools


def test_every_tool_name_is_module_dot_verb_and_matches_its_module() -> None:
    tools = all_tools()
    assert tools
    for name, spec in tools.items():
        assert TOOL_NAME.fullmatch(name), name
        assert spec.name == name
        assert spec.module == name.split(".")[0]


def test_every_exposed_tool_has_a_description_and_json_schemas() -> None:
    for name, spec in exposed_tools().items():
        assert len(spec.description) >= 40, f"{name}: describe it for a model"
        assert spec.input_schema["type"] == "object", name
        assert spec.input_schema.get("additionalProperties") is False, name
        assert spec.output_schema["type"] == "object", name
        assert spec.output_schema["properties"], name


def test_schemas_use_camel_case_property_names() -> None:
    for name, spec in all_tools().items():
        for schema in (spec.input_schema, spec.output_schema):
            for prop in schema.get("properties", {}):
                assert "_" not in prop, f"{name}: {prop} is not camelCase"


def test_admin_and_destructive_tools_are_never_exposed() -> None:
    tools = all_tools()
    assert tools["admin.stats"].scope == "admin"
    assert tools["todo.delete"].policy == "destructive"
    exposed = exposed_tools()
    assert "admin.stats" not in exposed and "todo.delete" not in exposed
    assert get_tool("todo.delete") is None and get_tool("admin.stats") is None
    for spec in exposed.values():
        assert spec.scope == "user-space" and spec.policy in ("read", "write")


def test_every_catalog_module_has_exposed_tools() -> None:
    """A persona whose module mix names a module without tools could never use it."""
    missing = load_catalog().modules - modules_with_tools()
    assert not missing, f"catalog modules without exposed tools: {sorted(missing)}"


@pytest.mark.parametrize(
    "module", ["todo", "journal", "notes", "habits", "mood", "calendar", "contacts"]
)
def test_every_product_module_can_read_and_write(module: str) -> None:
    policies = {spec.policy for spec in exposed_tools().values() if spec.module == module}
    assert policies == {"read", "write"}, module


def test_every_product_table_lives_in_the_app_schema() -> None:
    app_tables = {t.name for t in Base.metadata.tables.values() if t.schema == "app"}
    assert {
        "todos",
        "journal_entries",
        "notes",
        "habits",
        "habit_logs",
        "mood_entries",
        "events",
        "contacts",
    } <= app_tables
    for table in Base.metadata.tables.values():
        if table.schema == "app":
            fks = {fk.target_fullname: fk.ondelete for fk in table.foreign_keys}
            assert fks["auth.spaces.id"] == "CASCADE", table.name
            assert fks["auth.users.id"] == "SET NULL", table.name
