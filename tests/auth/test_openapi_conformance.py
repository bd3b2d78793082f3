"""The auth service's OpenAPI document names every status code its operations answer.

A schema fuzzer (schemathesis) sends generated requests — valid, malformed JSON, wrong types,
unknown fields — to every operation of a real server, as an admin and with the service key so
the requests get past authentication to the code behind it, and checks that each answer's
status is one the operation documents. A 5xx is never documented, so it fails the check too.
A few examples per operation keep it fast; it runs against an auth service and database of its
own, because the fuzzer creates users and personas with made-up data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.fixtures.database import Db, create_database, drop_database
from tests.fixtures.servers import TEST_SERVICE_KEY, running_auth_service
from tests.personas.seed_support import make_admin

EXAMPLES = 5


@dataclass(frozen=True)
class FuzzTarget:
    url: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
def fuzz_target(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgres"
    url = create_database(backend, Path(tmp_path_factory.mktemp("fuzz")))
    try:
        with running_auth_service(url) as auth:
            token = make_admin(auth, Db(url))
            yield FuzzTarget(
                url=auth.url,
                headers={"Authorization": f"Bearer {token}", "X-Service-Key": TEST_SERVICE_KEY},
            )
    finally:
        drop_database(url)


@pytest.fixture(scope="module")
def operations(fuzz_target: FuzzTarget) -> list[APIOperation]:
    schema = schemathesis.openapi.from_url(f"{fuzz_target.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def _undocumented(operation: APIOperation, mode: GenerationMode, target: FuzzTarget) -> list[str]:
    """Fuzz one operation; every answer whose status it does not document, as a line."""
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Case) -> None:
        response = case.call(base_url=target.url, headers=target.headers)
        try:
            case.validate_response(response, checks=[status_code_conformance])
        except (AssertionError, FailureGroup) as exc:
            found.append(f"{operation.label} ({mode.value}): {response.status_code}: {exc}")

    try:
        fuzz()
    except Unsatisfiable:
        # Nothing invalid can be generated for an operation without parameters or body.
        assert mode is GenerationMode.NEGATIVE, operation.label
    return found


def test_every_status_an_operation_answers_is_documented(
    operations: list[APIOperation], fuzz_target: FuzzTarget
) -> None:
    assert len(operations) >= 20
    problems = [
        line
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for line in _undocumented(operation, mode, fuzz_target)
    ]
    assert problems == []


@pytest.mark.parametrize("body", [b'{"email": ', b"\xff\xfe{}", b"null"])
def test_a_body_that_is_not_json_gets_a_documented_4xx(
    operations: list[APIOperation], fuzz_target: FuzzTarget, body: bytes
) -> None:
    with httpx.Client(base_url=fuzz_target.url, headers=fuzz_target.headers) as client:
        for operation in operations:
            if "requestBody" not in operation.definition.raw:
                continue
            path = operation.path.format(
                **{name: str(uuid.uuid4()) for name in _path_names(operation.path)}
            )
            response = client.request(
                operation.method, path, content=body, headers={"Content-Type": "application/json"}
            )
            documented = operation.definition.raw["responses"]
            assert 400 <= response.status_code < 500, (operation.label, response.text)
            assert str(response.status_code) in documented, (operation.label, response.text)
            assert "400" in documented, operation.label


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
