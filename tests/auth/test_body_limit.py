"""Request bodies over MANA_MAX_BODY_BYTES get a JSON 413 without being read into memory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.fixtures.servers import AuthService, running_auth_service

LOGIN = "/api/v1/auth/login"
MB = 1024 * 1024


def rss_bytes() -> int:
    """This process's resident set (the test's servers run in it, in threads)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def chunks(total: int, size: int = MB) -> Iterator[bytes]:
    block = b" " * size  # one buffer sent again and again: the client holds 1 MB, not 100
    sent = 0
    while sent < total:
        yield block[: min(size, total - sent)]
        sent += size


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["error"] == "payload_too_large"
    assert "limit" in body["message"]


def test_a_100_mb_body_is_refused_at_once_without_growing_the_server(auth: AuthService) -> None:
    before = rss_bytes()
    started = time.monotonic()
    with auth.client() as client:
        response = client.post(
            LOGIN,
            content=chunks(100 * MB),
            headers={"Content-Type": "application/json", "Content-Length": str(100 * MB)},
        )
    elapsed = time.monotonic() - started
    grown = rss_bytes() - before
    assert_too_large(response)
    assert response.json()["details"]["maxBytes"] == MB
    print(f"100 MB body: 413 in {elapsed:.2f}s, RSS grew {grown / MB:.1f} MB")
    assert elapsed < 5
    # Reading the body took the service to 436 MB; refused unread, it stays within noise.
    assert grown < 30 * MB


def test_a_chunked_body_over_the_limit_gets_413_and_one_within_it_is_served(
    database_url: str,
) -> None:
    with (
        running_auth_service(database_url, max_body_bytes=4096) as auth,
        auth.client() as client,
    ):
        # No Content-Length: httpx sends a generator with Transfer-Encoding: chunked.
        over = client.post(
            LOGIN,
            content=chunks(64 * 1024, size=1024),
            headers={"Content-Type": "application/json"},
        )
        assert "content-length" not in over.request.headers
        assert_too_large(over)

        small = b'{"email": "nobody@example.com", "password": "wrong-password-123"}'
        within = client.post(
            LOGIN, content=iter([small]), headers={"Content-Type": "application/json"}
        )
        assert within.status_code == 401, within.text
