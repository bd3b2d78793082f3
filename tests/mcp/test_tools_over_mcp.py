"""The product's tools through the real MCP server, with the official client, on both backends."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from mana.tools.registry import all_tools, exposed_tools
from tests.fixtures.mcp import McpService, mcp_session, personal_space_id, text_of
from tests.fixtures.servers import AuthService
from tests.mcp.samples import SAMPLES, Made

pytestmark = pytest.mark.anyio


async def test_tools_list_offers_every_exposed_tool_with_its_schemas_and_nothing_else(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, token = auth.user_token()
    async with mcp_session(mcp_service.endpoint, token) as mcp:
        listed = {t.name: t for t in (await mcp.client.list_tools()).tools}

    exposed = exposed_tools()
    assert sorted(listed) == sorted(exposed)
    hidden = {n for n, s in all_tools().items() if s.scope == "admin" or s.policy == "destructive"}
    assert hidden, "the registry should have admin/destructive tools to hide (todo.delete, admin.*)"
    assert not hidden & set(listed)
    for name, tool in listed.items():
        spec = exposed[name]
        assert tool.description == spec.description
        assert tool.input_schema == spec.input_schema
        assert tool.output_schema == spec.output_schema
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is (spec.policy == "read")


async def test_every_exposed_tool_succeeds_over_mcp_and_matches_its_output_schema(
    auth: AuthService, mcp_service: McpService
) -> None:
    exposed = exposed_tools()
    missing = sorted(set(exposed) - set(SAMPLES))
    assert not missing, f"add sample arguments to tests/mcp/samples.py for: {missing}"
    stale = sorted(set(SAMPLES) - set(exposed))
    assert not stale, f"samples for tools that are not exposed (renamed?): {stale}"

    _, token = auth.user_token()
    made: Made = {}
    async with mcp_session(mcp_service.endpoint, token) as mcp:
        for name, sample in SAMPLES.items():
            arguments = sample(made)
            # The official client also checks structured_content against output_schema (it
            # raises if they disagree); we check once more with formats (uuid, date-time) on.
            result = await mcp.client.call_tool(name, arguments)
            text = text_of(result)
            assert not result.is_error, f"{name}({arguments}) failed: {text}"
            structured = result.structured_content
            assert isinstance(structured, dict)
            Draft202012Validator(
                exposed[name].output_schema, format_checker=FormatChecker()
            ).validate(structured)
            made[name] = structured
    assert made["todo.complete"]["done"] is True
    assert made["notes.search"]["items"][0]["id"] == made["notes.create"]["id"]


async def test_the_text_content_carries_the_same_json_as_the_structured_content(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, token = auth.user_token()
    async with mcp_session(mcp_service.endpoint, token) as mcp:
        result = await mcp.client.call_tool("todo.create", {"title": "Grüße an Jörg"})
    assert json.loads(text_of(result)) == result.structured_content
    assert "Grüße" in text_of(result)


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        (
            "todo.create",
            {"title": "", "due": "next tuesday"},
            ["invalid arguments: ", "title: String should have at least 1 character", "due: "],
        ),
        ("todo.create", {}, ["title: Field required"]),
        (
            "todo.create",
            {"title": "x", "owner": "admin"},
            ["owner: Extra inputs are not permitted"],
        ),
        ("todo.create", {"title": "a\x00b"}, ["title: ", "NUL"]),
        ("todo.create", {"title": "x", "priority": "urgent"}, ["priority: Input should be"]),
        ("todo.list", {"limit": 1000}, ["limit: Input should be less than or equal to 100"]),
        ("todo.list", {"limit": "many"}, ["limit: Input should be a valid integer"]),
        ("todo.complete", {"id": "not-a-uuid"}, ["id: Input should be a valid UUID"]),
        ("notes.create", {"title": "t", "tags": ["ok", "no spaces"]}, ["tags[1]: "]),
    ],
)
async def test_invalid_arguments_return_is_error_naming_each_field(
    auth: AuthService,
    mcp_service: McpService,
    tool: str,
    arguments: dict[str, Any],
    expected: list[str],
) -> None:
    _, token = auth.user_token()
    async with mcp_session(mcp_service.endpoint, token) as mcp:
        result = await mcp.client.call_tool(tool, arguments)
        text = text_of(result)
        assert result.is_error, text
        assert text.startswith("invalid arguments: ")
        for part in expected:
            assert part in text, text
        # The session is fine afterwards.
        assert not (await mcp.client.call_tool("todo.list", {})).is_error


async def test_a_broken_rule_is_a_tool_error_with_the_tools_message(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, token = auth.user_token()
    async with mcp_session(mcp_service.endpoint, token) as mcp:
        missing = uuid.uuid4()
        result = await mcp.client.call_tool("todo.complete", {"id": str(missing)})
        assert result.is_error
        assert f"todo {missing} not found in this space" in text_of(result)
        result = await mcp.client.call_tool("nosuch.tool", {"x": 1})
        assert result.is_error
        assert "unknown tool 'nosuch.tool'" in text_of(result)
        destructive = await mcp.client.call_tool("todo.delete", {"id": str(missing)})
        assert destructive.is_error
        assert "unknown tool 'todo.delete'" in text_of(destructive)


async def test_without_a_space_header_tools_act_in_the_personal_space(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, token = auth.user_token()
    personal = personal_space_id(auth, token)
    async with mcp_session(mcp_service.endpoint, token) as mcp:
        spaces = (await mcp.client.call_tool("spaces.list", {})).structured_content
        await mcp.client.call_tool("todo.create", {"title": "in my own space"})
    assert spaces is not None and spaces["activeSpaceId"] == str(personal)
    async with mcp_session(mcp_service.endpoint, token, space=personal) as mcp:
        listed = (await mcp.client.call_tool("todo.list", {})).structured_content
    assert listed is not None
    assert [t["title"] for t in listed["items"]] == ["in my own space"]
