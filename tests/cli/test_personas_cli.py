"""`mana personas validate|seed` as a subprocess, for everything that must fail (or do nothing)
before a request reaches the auth service: catalog errors, dry run, missing token, unreachable
server, a production secret that must not be used.

The commands are independent, so they all start at once (one module fixture) and each test
checks its own run: the interpreter's start-up is what these runs cost, and it runs in parallel.
A counting server stands in for the auth service; each run gets its own path prefix on it
(`--auth http://127.0.0.1:port/<case>`), so a test sees exactly the requests its run sent.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mana.kit.server import free_port
from mana.personas.password import DEV_SEED_SECRET
from tests.personas.seed_support import (
    CliResult,
    cli_env,
    counting_server,
    run_cli_concurrently,
    shipped_catalog_data,
    write_catalog,
)


@dataclass
class Run:
    result: CliResult
    requests: list[str]


def _broken_catalog(tmp: Path) -> Path:
    data: dict[str, Any] = copy.deepcopy(shipped_catalog_data())
    data["personas"][1]["email"] = "jayden@example.com"
    data["personas"][5]["moduleMix"]["todo"] = -1
    data["spaces"][0]["members"].append("persona.nobody@mana.test")
    return write_catalog(tmp / "broken.json", data)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    tmp = tmp_path_factory.mktemp("personas-cli")
    broken = str(_broken_catalog(tmp))
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with counting_server() as (url, counter):
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "validate-ok": (["personas", "validate"], cli_env()),
            "validate-broken": (["personas", "validate", "--catalog", broken], cli_env()),
            "seed-broken": (
                ["personas", "seed", "--catalog", broken, "--auth", f"{url}/seed-broken"],
                cli_env(MANA_ADMIN_JWT="some-token"),
            ),
            "dry-run": (
                ["personas", "seed", "--dry-run"],
                cli_env(MANA_AUTH_URL=f"{url}/dry-run", PERSONA_SEED_SECRET="s3cret"),
            ),
            "no-token": (["personas", "seed"], cli_env(MANA_AUTH_URL=f"{url}/no-token")),
            "unreachable": (
                ["personas", "seed", "--jwt=some-token", f"--auth={dead}"],
                cli_env(),
            ),
            "production-unset": (
                ["personas", "seed"],
                cli_env(
                    MANA_ENV="production",
                    MANA_AUTH_URL=f"{url}/production-unset",
                    MANA_ADMIN_JWT="some-token",
                ),
            ),
            "production-dev-secret": (
                ["personas", "seed", "--dry-run"],
                cli_env(
                    MANA_ENV="production",
                    MANA_AUTH_URL=f"{url}/production-dev-secret",
                    MANA_ADMIN_JWT="some-token",
                    PERSONA_SEED_SECRET=DEV_SEED_SECRET,
                ),
            ),
        }
        results = run_cli_concurrently(list(cases.values()), cwd=tmp)
        yield {
            name: Run(
                result, [r for r in counter.requests if r.split(" ")[1].startswith(f"/{name}/")]
            )
            for name, result in zip(cases, results, strict=True)
        }


def test_validate_prints_a_one_line_summary_of_the_shipped_catalog(runs: dict[str, Run]) -> None:
    run = runs["validate-ok"].result
    assert run.returncode == 0, run
    assert run.stdout.strip() == "ok: 10 personas, 7 archetypes, 5 shared spaces"


def test_validate_lists_every_problem_one_per_line_and_exits_1(runs: dict[str, Run]) -> None:
    run = runs["validate-broken"].result
    assert run.returncode == 1, run
    lines = run.stderr.strip().splitlines()
    assert "personas[1] (jayden@example.com).email: must end with @mana.test" in lines
    assert "personas[5] (persona.kai@mana.test).moduleMix.todo: must be ≥ 0" in lines
    assert (
        "spaces[0] (Familie Weber).members[2]: persona.nobody@mana.test is not in the catalog"
        in lines
    )
    assert (
        "spaces[1] (Gran & Jay).members[0]: persona.jayden@mana.test is not in the catalog" in lines
    )
    assert lines[-1].endswith("broken.json: 4 problems")
    assert run.stdout == ""


def test_seed_validates_the_catalog_before_sending_anything(runs: dict[str, Run]) -> None:
    run = runs["seed-broken"]
    assert run.result.returncode == 1, run.result
    assert "must end with @mana.test" in run.result.stderr
    assert run.requests == []


def test_dry_run_sends_no_request_and_says_what_it_would_do(runs: dict[str, Run]) -> None:
    run = runs["dry-run"]
    assert run.result.returncode == 0, run.result
    assert run.requests == []
    out = run.result.stdout
    assert "dry run: nothing is sent" in out
    assert "/dry-run/api/v1/admin/personas for each of 10 personas" in out
    for email in ("persona.mia@mana.test", "persona.doris@mana.test"):
        assert f"  {email} (" in out
    assert "would set up space Familie Weber (family): owner persona.jonas@mana.test" in out
    assert out.count("would set up space") == 5
    # No admin token is needed to look; the output says a real run will need one.
    assert "--jwt=TOKEN or MANA_ADMIN_JWT" in out
    assert "s3cret" not in out


def test_missing_token_names_both_ways_to_pass_it_and_sends_nothing(runs: dict[str, Run]) -> None:
    run = runs["no-token"]
    assert run.result.returncode == 1, run.result
    assert run.requests == []
    [line] = run.result.stderr.strip().splitlines()
    assert line.startswith("error: no admin token")
    assert "--jwt=TOKEN" in line and "MANA_ADMIN_JWT" in line


def test_unreachable_server_is_one_clear_line_and_exit_1(runs: dict[str, Run]) -> None:
    run = runs["unreachable"].result
    assert run.returncode == 1, run
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach the auth service at http://127.0.0.1:")
    assert "Traceback" not in run.output


@pytest.mark.parametrize("case", ["production-unset", "production-dev-secret"])
def test_production_refuses_a_missing_or_development_seed_secret(
    runs: dict[str, Run], case: str
) -> None:
    run = runs[case]
    assert run.result.returncode == 1, run.result
    assert run.requests == []
    [line] = run.result.stderr.strip().splitlines()
    assert "PERSONA_SEED_SECRET must be set to a non-development value" in line
    assert "MANA_ENV=production" in line
    assert run.result.stdout == ""
