"""The MCP endpoint's limits answer as JSON-RPC errors with a clear message (issue 13): an
oversized body is refused with 413 before it is read, a batch with one error, not a dump."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx

from tests.fixtures.mcp import RAW_HEADERS, McpService, raw_post, raw_session
from tests.fixtures.servers import AuthService

LIMIT = 1024 * 1024  # the default MANA_MCP_MAX_BODY_BYTES


def call_body(request_id: int, padding: str = "") -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "todo.create", "arguments": {"title": "Buy milk", "notes": padding}},
    }


def assert_json_rpc_error(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == -32600
    assert body["error"]["data"]["error"] == error
    message: str = body["error"]["message"]
    return message


def test_an_oversized_body_is_refused_with_413_as_a_json_rpc_error(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, token = auth.user_token()
    session = raw_session(mcp_service.endpoint, token)
    response = raw_post(
        mcp_service.endpoint, call_body(2, "x" * (LIMIT + 1)), token=token, session_id=session
    )
    message = assert_json_rpc_error(response, 413, "payload_too_large")
    assert f"the limit is {LIMIT} bytes" in message and "MANA_MCP_MAX_BODY_BYTES" in message
    assert response.json()["error"]["data"]["limitBytes"] == LIMIT
    # The session is untouched: a normal call still works.
    fine = raw_post(mcp_service.endpoint, call_body(3), token=token, session_id=session)
    assert fine.status_code == 200, fine.text
    assert fine.json()["result"]["structuredContent"]["title"] == "Buy milk"


def test_a_declared_oversized_body_is_refused_before_any_of_it_is_sent(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, token = auth.user_token()
    url = urlsplit(mcp_service.endpoint)
    head = (
        f"POST {url.path} HTTP/1.1\r\nhost: {url.netloc}\r\nauthorization: Bearer {token}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in RAW_HEADERS.items())
        + "content-length: 104857600\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(head.encode())  # and not one byte of the 100 MB
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, token = auth.user_token()

    def chunks() -> Iterator[bytes]:  # 4 MiB in 64 KiB pieces, no Content-Length
        yield b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "'
        for _ in range(64):
            yield b"x" * (64 * 1024)
        yield b'"}}'

    headers = {**RAW_HEADERS, "authorization": f"Bearer {token}"}
    response = httpx.post(mcp_service.endpoint, content=chunks(), headers=headers, timeout=30)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_json_rpc_error(response, 413, "payload_too_large")


def test_a_batch_is_answered_with_one_clear_json_rpc_error(
    auth: AuthService, mcp_service: McpService
) -> None:
    _, token = auth.user_token()
    session = raw_session(mcp_service.endpoint, token)
    batch = [call_body(i) for i in range(1000)]
    started = time.perf_counter()
    response = httpx.post(
        mcp_service.endpoint,
        content=json.dumps(batch),
        headers={
            **RAW_HEADERS,
            "authorization": f"Bearer {token}",
            "mcp-session-id": session,
            "mcp-protocol-version": "2025-11-25",
        },
        timeout=30,
    )
    elapsed = time.perf_counter() - started
    message = assert_json_rpc_error(response, 400, "batch_not_supported")
    assert message == (
        "JSON-RPC batches are not supported: send one JSON-RPC message per POST request"
    )
    assert len(response.content) < 500  # one error, not a validation dump per element
    assert elapsed < 5
    # Nothing of the batch ran.
    listed = raw_post(
        mcp_service.endpoint,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "todo.list"}},
        token=token,
        session_id=session,
    )
    assert listed.json()["result"]["structuredContent"]["items"] == []
