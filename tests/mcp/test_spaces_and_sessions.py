"""Where a call acts (X-Mana-Space) and whose session it is: isolation between users."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from mcp import MCPError

from tests.fixtures.database import Db
from tests.fixtures.mcp import (
    McpService,
    db_uuid,
    initialize_body,
    mcp_session,
    personal_space_id,
    raw_post,
    raw_session,
    running_mcp_service,
    text_of,
)
from tests.fixtures.servers import AuthService

pytestmark = pytest.mark.anyio

LIST_TOOLS = {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}
# Long enough that two back-to-back requests on a busy machine don't count as idle.
IDLE_TIMEOUT = 1.5


def shared_space(
    auth: AuthService, owner_token: str, member: dict[str, Any], member_token: str
) -> str:
    """A family space made, shared and joined through the spaces API, as people do it."""
    with auth.client(owner_token) as owner:
        space = owner.post("/api/v1/spaces", json={"name": "Family", "type": "family"})
        assert space.status_code == 201, space.text
        space_id = space.json()["id"]
        invited = owner.post(
            f"/api/v1/spaces/{space_id}/invitations", json={"email": member["email"]}
        )
        assert invited.status_code == 201, invited.text
    with auth.client(member_token) as client:
        accepted = client.post(f"/api/v1/invitations/{invited.json()['id']}/accept")
        assert accepted.status_code == 200, accepted.text
    return str(space_id)


async def test_a_space_of_another_user_is_403_and_a_malformed_id_is_400(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, alice = auth.user_token()
    _, bob = auth.user_token()
    alices_space = personal_space_id(auth, alice)
    for space in (alices_space, uuid.uuid4()):  # someone else's, and one that doesn't exist
        response = raw_post(mcp_service.endpoint, LIST_TOOLS, token=bob, x_mana_space=str(space))
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["data"]["error"] == "forbidden"
        assert f"not a member of space {space}" in error["message"]
    response = raw_post(mcp_service.endpoint, LIST_TOOLS, token=bob, x_mana_space="family")
    assert response.status_code == 400
    assert "X-Mana-Space is not a space id" in response.json()["error"]["message"]

    # With the official client, the reason reaches the caller as an MCP error.
    async with mcp_session(mcp_service.endpoint, bob) as mcp:
        mcp.http.headers["X-Mana-Space"] = str(alices_space)
        with pytest.raises(MCPError, match="not a member of space"):
            await mcp.client.call_tool("todo.list", {})
        del mcp.http.headers["X-Mana-Space"]
        assert not (await mcp.client.call_tool("todo.list", {})).is_error


async def test_members_share_a_space_and_nothing_leaks_into_personal_spaces(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, alice = auth.user_token()
    bob_user, bob = auth.user_token()
    family = shared_space(auth, alice, bob_user, bob)
    async with mcp_session(mcp_service.endpoint, alice, space=family) as mcp:
        created = await mcp.client.call_tool("todo.create", {"title": "Buy a present"})
        assert not created.is_error
    async with mcp_session(mcp_service.endpoint, bob, space=family) as mcp:
        shared = (await mcp.client.call_tool("todo.list", {})).structured_content
        spaces = (await mcp.client.call_tool("spaces.list", {})).structured_content
    async with mcp_session(mcp_service.endpoint, bob) as mcp:
        personal = (await mcp.client.call_tool("todo.list", {})).structured_content
    assert shared is not None and personal is not None and spaces is not None
    assert [t["title"] for t in shared["items"]] == ["Buy a present"]
    assert personal["items"] == []
    assert spaces["activeSpaceId"] == family


async def test_user_b_cannot_read_user_as_notes_by_id_or_by_search(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, alice = auth.user_token()
    _, bob = auth.user_token()
    secret = "marzipan-" + uuid.uuid4().hex[:8]
    async with mcp_session(mcp_service.endpoint, alice) as mcp:
        note = await mcp.client.call_tool(
            "notes.create", {"title": f"Diary {secret}", "body": f"the {secret} recipe"}
        )
        assert not note.is_error, note.content
        note_id = note.structured_content["id"]
        found = await mcp.client.call_tool("notes.search", {"query": secret})
        assert [n["id"] for n in found.structured_content["items"]] == [note_id]

    async with mcp_session(mcp_service.endpoint, bob) as mcp:
        by_id = await mcp.client.call_tool("notes.get", {"id": note_id})
        assert by_id.is_error
        assert secret not in text_of(by_id)
        by_search = await mcp.client.call_tool("notes.search", {"query": secret})
        assert not by_search.is_error
        assert by_search.structured_content["items"] == []
        listed = await mcp.client.call_tool("notes.list", {})
        assert listed.structured_content["items"] == []
        update = await mcp.client.call_tool("notes.update", {"id": note_id, "title": "mine now"})
        assert update.is_error
    async with mcp_session(mcp_service.endpoint, alice) as mcp:
        again = await mcp.client.call_tool("notes.get", {"id": note_id})
        assert again.structured_content["title"] == f"Diary {secret}"


async def test_another_users_token_cannot_use_a_session_and_the_owner_carries_on(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, alice = auth.user_token()
    _, bob = auth.user_token()
    async with mcp_session(mcp_service.endpoint, alice) as mcp:
        await mcp.client.call_tool("todo.create", {"title": "alice's"})
        sid = mcp.session_id

        hijack = raw_post(mcp_service.endpoint, LIST_TOOLS, token=bob, session_id=sid)
        assert hijack.status_code == 404
        call = {
            "jsonrpc": "2.0",
            "id": 8,
            "method": "tools/call",
            "params": {"name": "todo.list", "arguments": {}},
        }
        hijack = raw_post(mcp_service.endpoint, call, token=bob, session_id=sid)
        assert hijack.status_code == 404
        assert "alice's" not in hijack.text
        ended = raw_post(mcp_service.endpoint, LIST_TOOLS, token=bob, session_id=sid)
        assert ended.status_code == 404

        # Alice's session is untouched, also through a raw request with her (refreshed) token.
        listed = await mcp.client.call_tool("todo.list", {})
        assert [t["title"] for t in listed.structured_content["items"]] == ["alice's"]
        raw = raw_post(mcp_service.endpoint, LIST_TOOLS, token=alice, session_id=sid)
        assert raw.status_code == 200 and "todo.create" in raw.text


def test_a_session_cannot_be_ended_by_someone_else_but_by_its_owner(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, alice = auth.user_token()
    _, bob = auth.user_token()
    sid = raw_session(mcp_service.endpoint, alice)
    headers = {"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
    foreign = httpx.delete(
        mcp_service.endpoint, headers={**headers, "authorization": f"Bearer {bob}"}
    )
    assert foreign.status_code == 404
    assert (
        raw_post(mcp_service.endpoint, LIST_TOOLS, token=alice, session_id=sid).status_code == 200
    )
    own = httpx.delete(
        mcp_service.endpoint, headers={**headers, "authorization": f"Bearer {alice}"}
    )
    assert own.status_code == 200
    assert (
        raw_post(mcp_service.endpoint, LIST_TOOLS, token=alice, session_id=sid).status_code == 404
    )


def test_an_idle_session_expires_after_the_configured_timeout(auth: AuthService) -> None:
    _, token = auth.user_token()
    with running_mcp_service(auth, mcp_session_idle_timeout_seconds=IDLE_TIMEOUT) as service:
        sid = raw_session(service.endpoint, token)
        assert (
            raw_post(service.endpoint, LIST_TOOLS, token=token, session_id=sid).status_code == 200
        )
        deadline = time.monotonic() + 10
        status = 200
        while status == 200 and time.monotonic() < deadline:
            # Idle means no requests: there is nothing to wait on but time itself. Each look is
            # activity too, so look less often than the timeout.
            time.sleep(IDLE_TIMEOUT * 1.5)
            status = raw_post(service.endpoint, LIST_TOOLS, token=token, session_id=sid).status_code
        assert status == 404


def test_leaving_a_space_takes_effect_within_the_membership_cache_time(
    auth: AuthService, db: Db
) -> None:
    _, alice = auth.user_token()
    bob_user, bob = auth.user_token()
    family = shared_space(auth, alice, bob_user, bob)

    def gate_status() -> int:
        response = raw_post(service.endpoint, initialize_body(), token=bob, x_mana_space=family)
        return response.status_code

    with running_mcp_service(auth, mcp_membership_cache_seconds=0.3) as service:
        assert gate_status() == 200
        db.execute(
            "DELETE FROM auth.space_members WHERE space_id = :space AND user_id = :user",
            space=db_uuid(db, family),
            user=db_uuid(db, bob_user["id"]),
        )
        deadline = time.monotonic() + 10
        while (status := gate_status()) == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 403
