"""Helpers for the seed / spaces / cleanup tests: catalogs of their own, the `mana` command as a
subprocess, and two tiny HTTP servers (one that counts requests, one that forwards to the real
auth service but fails for one email)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.fixtures.database import Db
from tests.fixtures.servers import AuthService, running_auth_service, unique_email

from mana.kit.server import BackgroundServer
from mana.personas.catalog import CATALOG_PATH, Catalog, load_catalog
from mana.personas.password import derive_persona_password

CLI_TIMEOUT_SECONDS = 180


# --- catalogs --------------------------------------------------------------------------------


def shipped_catalog_data() -> dict[str, Any]:
    return dict(json.loads(CATALOG_PATH.read_text(encoding="utf-8")))


def write_catalog(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def unique_catalog(
    tmp_path: Path, *, personas: int = 4, spaces: int = 2, name: str = "catalog.json"
) -> tuple[Path, Catalog]:
    """The shipped catalog cut down to its first `spaces` shared spaces, their members and more
    personas up to `personas`, with emails of this test's own (tests on one backend share a
    database, and the catalog's emails are fixed)."""
    data = shipped_catalog_data()
    tag = uuid.uuid4().hex[:8]
    kept_spaces = data["spaces"][:spaces]
    wanted = {m for space in kept_spaces for m in space["members"]}
    kept = [p for p in data["personas"] if p["email"] in wanted]
    kept += [p for p in data["personas"] if p["email"] not in wanted][
        : max(0, personas - len(kept))
    ]
    renamed: dict[str, str] = {}
    for persona in kept:
        local, domain = persona["email"].split("@")
        renamed[persona["email"]] = f"{local}.{tag}@{domain}"
        persona["email"] = renamed[persona["email"]]
    for space in kept_spaces:
        space["members"] = [renamed[m] for m in space["members"]]
    data["personas"] = kept
    data["spaces"] = kept_spaces
    path = write_catalog(tmp_path / name, data)
    return path, load_catalog(path)


# --- the system under test -------------------------------------------------------------------


@dataclass
class System:
    """An auth service with an admin of its own, as an operator sees it."""

    auth: AuthService
    db: Db
    admin_token: str

    @property
    def url(self) -> str:
        return self.auth.url

    def login_status(self, email: str, password: str) -> int:
        with self.auth.client() as client:
            response = client.post(
                "/api/v1/auth/login", json={"email": email, "password": password}
            )
        return response.status_code

    def can_log_in(self, email: str, secret: str) -> bool:
        return self.login_status(email, derive_persona_password(email, secret)) == 200

    def admin_upsert(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.auth.client(self.admin_token) as client:
            response = client.post("/api/v1/admin/personas", json=body)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def live_persona_emails(self) -> set[str]:
        rows = self.db.fetch("SELECT email FROM auth.users WHERE kind = 'persona'")
        return {row[0] for row in rows}


@contextmanager
def running_system(database_url: str) -> Iterator[System]:
    """A server of its own on `database_url` (usually a fresh database) with an admin."""
    with running_auth_service(database_url) as auth:
        db = Db(database_url)
        yield System(auth=auth, db=db, admin_token=make_admin(auth, db))


def make_admin(auth: AuthService, db: Db) -> str:
    email = unique_email("admin")
    auth.register(email)
    db.execute("UPDATE auth.users SET role='admin' WHERE email=:e", e=email)
    return str(auth.login(email)["token"])


def persona_body(email: str, password: str = "persona-password-123x") -> dict[str, Any]:
    return {
        "email": email,
        "name": "Drifty McDrift",
        "password": password,
        "archetype": "solo-dev",
        "systemPrompt": "You are a persona nobody put in the catalog, created by hand.",
        "moduleMix": {"todo": 1},
    }


# --- the `mana` command ----------------------------------------------------------------------


def cli_env(**values: str | None) -> dict[str, str]:
    """The environment of a `mana` subprocess: this one minus every Mana setting, plus `values`
    (a None value leaves the variable unset). Wide columns keep each result on one line."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MANA_", "PERSONA_", "TICK_", "RUNNER_", "ANTHROPIC_"))
    }
    env.update({"COLUMNS": "200", "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1", "TERM": "dumb"})
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def mana_command() -> list[str]:
    """The installed console script when there is one (what the README runs), else -m."""
    script = Path(sys.executable).with_name("mana")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mana.cli.main"]


def start_cli(
    args: Sequence[str], *, env: dict[str, str], cwd: Path, stdin: Any = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    # cwd: a directory of the test's own, so no `.env` of the developer's is picked up.
    return subprocess.Popen(
        [*mana_command(), *args],
        env=env,
        cwd=cwd,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:  # shown by a failing assert
        return (
            f"mana {' '.join(self.args)} -> {self.returncode}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


def finish(process: subprocess.Popen[str], args: Sequence[str]) -> CliResult:
    try:
        stdout, stderr = process.communicate(timeout=CLI_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return CliResult(list(args), process.returncode, stdout, stderr)


def run_cli(args: Sequence[str], *, env: dict[str, str], cwd: Path) -> CliResult:
    return finish(start_cli(args, env=env, cwd=cwd), args)


def run_cli_concurrently(
    runs: Sequence[tuple[Sequence[str], dict[str, str]]], *, cwd: Path
) -> list[CliResult]:
    """Independent commands side by side: each pays the interpreter's start-up on its own."""
    processes = [(start_cli(args, env=env, cwd=cwd), args) for args, env in runs]
    return [finish(process, args) for process, args in processes]


# --- small servers ---------------------------------------------------------------------------


@dataclass
class CountingServer:
    """Answers every request with 503 and remembers it: for 'nothing was sent' checks."""

    requests: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def count(request: Request) -> Response:
            self.requests.append(f"{request.method} {request.url.path}")
            return JSONResponse({"error": "counting", "message": "counted"}, status_code=503)

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", count, methods=methods)])


@contextmanager
def counting_server() -> Iterator[tuple[str, CountingServer]]:
    counter = CountingServer()
    with BackgroundServer(counter.app()) as server:
        yield server.url, counter


_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


def failing_proxy_app(upstream: str, fail_email: str) -> Starlette:
    """Forwards to `upstream`, except that upserting `fail_email` gets a bare 500, the way a
    crashing server answers."""

    async def forward(request: Request) -> Response:
        body = await request.body()
        upsert = request.method == "POST" and request.url.path == "/api/v1/admin/personas"
        if upsert and json.loads(body or b"{}").get("email") == fail_email:
            return Response("Internal Server Error", status_code=500)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with httpx.AsyncClient(base_url=upstream, timeout=60) as client:
            answer = await client.request(
                request.method,
                request.url.path,
                params=request.query_params,
                content=body,
                headers=headers,
            )
        return Response(
            answer.content,
            status_code=answer.status_code,
            headers={k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP},
        )

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])
