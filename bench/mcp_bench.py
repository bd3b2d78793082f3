"""MCP tool calls through the gateway, beside a bare SDK server measured in the same run.

    python -m bench.mcp_bench                  # ~3 min: SQLite, and PostgreSQL if reachable
    python -m bench.mcp_bench --seconds 6 --rounds 6 --postgres-only
    python -m bench.mcp_bench --sqlite-only --tools create --sessions 1   # one row and its baseline

Each server runs in a process of its own (uvicorn, as `mana serve mcp` runs it), so its CPU time
can be read from /proc and the client (the official `mcp` client, `mode="legacy"`, one stateful
session per simulated user) does not share its interpreter. Measured per target and concurrency
(1 and 8 sessions, each calling in a closed loop; 8 as in issue 14):

  - calls/s, p50 and p95 round trip of `tools/call`;
  - server CPU per call (user + system time of the server process / calls);

for the baseline — the SDK's low-level `Server` + `StreamableHTTPSessionManager`
(json_response=True) with one trivial echo tool, no auth, no database — and for Mana's gateway
(bearer JWT via JWKS, space check, one transaction per call, log line, metrics) with the same
echo tool (the gateway's own cost: no database work), a read tool (`todo.list`, 5 todos in the
space, limit 5) and a write tool (`todo.create`). Each row is measured in `--rounds` short
turns alternating with the bare echo at the same concurrency, and its ratio columns compare it
with that paired baseline: on a shared machine the load drifts within seconds, and a baseline
measured once at the start made the ratios swing by 3x between runs. A Python client cannot
saturate a server (DESIGN §6), so at 8 sessions calls/s is partly the client's limit; server
CPU per call is the figure that does not depend on that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp_types as types
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench.databases import postgres_database, sqlite_database
from mana.auth.app import create_auth_app
from mana.config import Settings
from mana.kit.server import BackgroundServer, free_port, uvicorn_config
from mana.mcp.app import create_mcp_app
from mana.tools.base import ToolInput, ToolOutput
from mana.tools.registry import ToolContext, ToolSpec, exposed_tools

PASSWORD = "bench-password-0123456789"
SERVICE_KEY = "bench-service-key-0123456789"
CONCURRENCY = (1, 8)
LIST_SIZE = 5
ECHO_SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
}


# ---------------------------------------------------------------- servers (child processes)


def bare_app() -> Starlette:
    """The baseline: what the SDK costs by itself for one trivial tool."""

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name="echo.say",
                    description="Echo the text back.",
                    input_schema={
                        "type": "object",
                        "properties": {"text": {"type": "string"}},
                        "required": ["text"],
                    },
                    output_schema=ECHO_SCHEMA,
                )
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        text = str((params.arguments or {}).get("text", ""))
        return types.CallToolResult(
            content=[types.TextContent(text=text)], structured_content={"text": text}
        )

    manager = StreamableHTTPSessionManager(
        app=Server("bare", on_list_tools=list_tools, on_call_tool=call_tool),
        json_response=True,
        stateless=False,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    async def health(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/mcp", StreamableHTTPASGIApp(manager)), Route("/health", health)],
        lifespan=lifespan,
    )


class EchoIn(ToolInput):
    text: str


class EchoOut(ToolOutput):
    text: str


async def echo(data: EchoIn, ctx: ToolContext) -> EchoOut:
    return EchoOut(text=data.text)


# The baseline's tool, served through the gateway: everything but the tool's own database work
# (its transaction is never opened: the session connects lazily and nothing uses it).
GATEWAY_ECHO = ToolSpec(
    name="bench.echo",
    description="Echo the text back (benchmark only).",
    module="bench",
    scope="user-space",
    policy="read",
    input_model=EchoIn,
    output_model=EchoOut,
    handler=echo,
)


def serve(kind: str, port: int, database_url: str, auth_url: str) -> None:
    """Child process entry: one server, as `mana serve mcp` runs it."""
    if kind == "bare":
        app: Any = bare_app()
    else:
        app = create_mcp_app(
            bench_settings(database_url, auth_url=auth_url),
            tools={**exposed_tools(), GATEWAY_ECHO.name: GATEWAY_ECHO},
        )
    uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port)).run()


def bench_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "service_key": SERVICE_KEY}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class ServerProcess:
    kind: str
    process: multiprocessing.process.BaseProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(kind: str, database_url: str = "", auth_url: str = "") -> ServerProcess:
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=serve, args=(kind, port, database_url, auth_url), daemon=True
    )
    process.start()
    return ServerProcess(kind=kind, process=process, port=port)


def wait_ready(server: ServerProcess, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not server.process.is_alive():
            raise RuntimeError(f"{server.kind} server exited during start-up")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server.kind} server did not start within {timeout}s")
        time.sleep(0.1)


def stop_server(server: ServerProcess) -> None:
    server.process.terminate()
    server.process.join(15)
    if server.process.is_alive():
        server.process.kill()


# ---------------------------------------------------------------- databases


def tokens(auth_url: str, count: int) -> list[str]:
    """`count` fresh users, signed up and logged in like anyone else."""
    out = []
    with httpx.Client(base_url=auth_url, timeout=30) as client:
        for _ in range(count):
            email = f"bench.{uuid.uuid4().hex[:12]}@example.com"
            client.post(
                "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
            ).raise_for_status()
            login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            login.raise_for_status()
            out.append(str(login.json()["token"]))
    return out


# ---------------------------------------------------------------- measuring


@dataclass
class Row:
    target: str
    concurrency: int
    calls: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float
    errors: int

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def cpu_ms_per_call(self) -> float:
        return self.cpu_seconds / max(self.calls, 1) * 1000


@contextlib.asynccontextmanager
async def session(url: str, token: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0))
    async with (
        http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as client,
    ):
        yield client


async def measure(
    server: ServerProcess,
    target: str,
    tool: str,
    arguments: dict[str, Any],
    session_tokens: list[str | None],
    seconds: float,
    warmup: float,
) -> Row:
    latencies: list[float] = []
    errors = 0
    measuring = False
    stop_at = 0.0

    async def worker(client: Client) -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            result = await client.call_tool(tool, arguments)
            elapsed = time.perf_counter() - start
            if measuring:
                latencies.append(elapsed)
                errors += int(result.is_error)

    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(session(server.url, t)) for t in session_tokens]
        for client in clients:
            await client.list_tools()  # the client validates outputs against these schemas
        stop_at = time.perf_counter() + warmup
        await asyncio.gather(*(worker(c) for c in clients))
        measuring = True
        cpu_before = server.cpu_seconds()
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(worker(c) for c in clients))
        elapsed = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu_before
    return Row(target, len(clients), len(latencies), elapsed, latencies, cpu, errors)


async def seed_todos(server: ServerProcess, session_tokens: list[str | None]) -> None:
    for token in session_tokens:
        async with session(server.url, token) as client:
            for n in range(LIST_SIZE):
                await client.call_tool("todo.create", {"title": f"seeded todo {n}"})


def merged(parts: list[Row]) -> Row:
    return Row(
        parts[0].target,
        parts[0].concurrency,
        sum(p.calls for p in parts),
        sum(p.seconds for p in parts),
        [latency for p in parts for latency in p.latencies],
        sum(p.cpu_seconds for p in parts),
        sum(p.errors for p in parts),
    )


@dataclass
class Pair:
    """A target and the bare echo measured in the same rounds, alternating: load that drifts
    during the run (these machines are shared) then weighs on both sides of the ratio."""

    target: Row
    baseline: Row


async def measure_pair(
    bare: ServerProcess,
    server: ServerProcess,
    target: str,
    tool: str,
    arguments: dict[str, Any],
    session_tokens: list[str | None],
    args: argparse.Namespace,
) -> Pair:
    n = len(session_tokens)
    base_parts, target_parts = [], []
    for _ in range(args.rounds):
        seconds = args.seconds / args.rounds
        base_parts.append(
            await measure(
                bare, "bare echo", "echo.say", {"text": "hi"}, [None] * n, seconds, args.warmup
            )
        )
        target_parts.append(
            await measure(server, target, tool, arguments, session_tokens, seconds, args.warmup)
        )
    return Pair(merged(target_parts), merged(base_parts))


def print_table(pairs: list[Pair]) -> None:
    header = (
        f"{'target':<28}{'sessions':>9}{'calls/s':>9}{'p50 ms':>8}{'p95 ms':>8}{'CPU ms':>8}"
        f"   {'bare: calls/s':>13}{'p50':>7}{'CPU':>6}   {'ratio: p50':>10}{'calls/s':>8}{'CPU':>7}"
    )
    print()
    print(header)
    print("-" * len(header))
    for pair in pairs:
        row, base = pair.target, pair.baseline
        errors = f"  ({row.errors} errors)" if row.errors else ""
        print(
            f"{row.target:<28}{row.concurrency:>9}{row.rate:>9.0f}{row.percentile(0.5):>8.2f}"
            f"{row.percentile(0.95):>8.2f}{row.cpu_ms_per_call:>8.2f}"
            f"   {base.rate:>13.0f}{base.percentile(0.5):>7.2f}{base.cpu_ms_per_call:>6.2f}"
            f"   {row.percentile(0.5) / base.percentile(0.5):>9.2f}x"
            f"{row.rate / base.rate:>7.2f}x{row.cpu_ms_per_call / base.cpu_ms_per_call:>6.2f}x"
            f"{errors}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per row")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/target alternations")
    parser.add_argument("--warmup", type=float, default=0.3, help="unmeasured time per round")
    parser.add_argument("--postgres-only", action="store_true", help="skip the SQLite rows")
    parser.add_argument("--sqlite-only", action="store_true", help="skip the PostgreSQL rows")
    parser.add_argument(
        "--tools",
        default="echo,list,create",
        help="comma-separated subset of echo,list,create (the rows to measure)",
    )
    parser.add_argument(
        "--sessions",
        default=",".join(str(n) for n in CONCURRENCY),
        help="comma-separated concurrencies to measure (each beside the bare echo at the same)",
    )
    args = parser.parse_args()
    wanted = set(args.tools.split(","))
    concurrencies = [int(n) for n in args.sessions.split(",")]
    began = time.perf_counter()
    pairs: list[Pair] = []
    with contextlib.ExitStack() as stack:
        bare = start_server("bare")
        stack.callback(stop_server, bare)
        backends: list[tuple[str, ServerProcess, list[str | None]]] = []
        databases = []
        if not args.postgres_only:
            databases.append(("sqlite", stack.enter_context(sqlite_database("mana-mcp-bench"))))
        if not args.sqlite_only:
            pg_url = stack.enter_context(postgres_database("mana-mcp-bench"))
            if pg_url is not None:
                databases.append(("postgres", pg_url))
        for backend, url in databases:
            auth = stack.enter_context(BackgroundServer(create_auth_app(bench_settings(url))))
            server = start_server("mana", url, auth.url)
            stack.callback(stop_server, server)
            backends.append((backend, server, list(tokens(auth.url, max(CONCURRENCY)))))
        for server in [bare, *(s for _, s, _ in backends)]:
            wait_ready(server)
        print(f"servers up after {time.perf_counter() - began:.1f}s; measuring", flush=True)

        async def run_all() -> None:
            for _, server, session_tokens in backends:
                await seed_todos(server, session_tokens)
            for n in concurrencies:
                for index, (backend, server, session_tokens) in enumerate(backends):
                    targets: list[tuple[str, str, str, dict[str, Any]]] = []
                    if index == 0:
                        targets.append(
                            (
                                "echo",
                                "mana echo (gateway, no DB)",
                                GATEWAY_ECHO.name,
                                {"text": "hi"},
                            )
                        )
                    targets += [
                        ("list", f"mana todo.list ({backend})", "todo.list", {"limit": LIST_SIZE}),
                        (
                            "create",
                            f"mana todo.create ({backend})",
                            "todo.create",
                            {"title": "bench todo", "priority": "high"},
                        ),
                    ]
                    for key, target, tool, arguments in targets:
                        if key not in wanted:
                            continue
                        pairs.append(
                            await measure_pair(
                                bare, server, target, tool, arguments, session_tokens[:n], args
                            )
                        )

        asyncio.run(run_all())
    print_table(pairs)
    print(
        f"\ntotal {time.perf_counter() - began:.0f}s; python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
