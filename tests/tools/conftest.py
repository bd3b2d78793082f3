"""Tool tests call the handlers directly, on both backends, exactly as the MCP gateway will:
validate the arguments with the tool's input model, run the handler in one transaction with a
ToolContext, dump the output as camelCase JSON.

Users are made through the real sign-up path (`mana.auth.service.sign_up`), so each has the
personal space a real user gets. Signing up costs ~100 ms of argon2 here, so `alice` and `bob`
are signed up once per backend and each test gets them in fresh spaces of their own (~1 ms):
no test sees another test's rows. Tests about a user's spaces sign up their own users.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mana.auth.models import SpaceMember, User
from mana.auth.service import sign_up
from mana.db import create_engine, create_sessionmaker, transaction
from mana.spaces.service import create_shared_space, personal_space_id
from mana.tools.registry import ToolContext, ToolSpec, all_tools

PASSWORD = "a-long-test-password-1"
logger = logging.getLogger("mana.tools.test")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # Session scope: the engine fixture below lives as long as the session, so its
    # connections must stay on one event loop.
    return "asyncio"


@dataclass(frozen=True)
class Person:
    user_id: uuid.UUID
    email: str
    kind: str
    space_id: uuid.UUID
    """The space tool calls go to unless told otherwise."""


class Product:
    """The tool surface of one database: make users and spaces, call tools."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def person(self, name: str = "Test Person") -> Person:
        email = f"tools.{uuid.uuid4().hex[:12]}@example.com"
        async with transaction(self.sessionmaker) as session:
            user = await sign_up(
                session, email=email, password=PASSWORD, name=name, now=datetime.now(UTC)
            )
            space_id = await personal_space_id(session, user_id=user.id)
        assert space_id is not None
        return Person(user_id=user.id, email=email, kind=user.kind, space_id=space_id)

    async def in_fresh_space(self, person: Person) -> Person:
        """The same user, working in a new space nobody else has written to."""
        space_id = await self.shared_space(person, name="Workspace", type="team")
        return dataclasses.replace(person, space_id=space_id)

    async def shared_space(
        self, owner: Person, *members: Person, name: str = "Shared", type: str = "family"
    ) -> uuid.UUID:
        now = datetime.now(UTC)
        async with transaction(self.sessionmaker) as session:
            user = await session.get(User, owner.user_id)
            assert user is not None
            space = await create_shared_space(session, owner=user, name=name, type=type, now=now)
            for member in members:
                session.add(
                    SpaceMember(
                        space_id=space.id, user_id=member.user_id, role="member", created_at=now
                    )
                )
            await session.flush()
            return space.id

    async def call(
        self,
        tool_name: str,
        args: dict[str, Any] | None = None,
        *,
        user: Person,
        space_id: uuid.UUID | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """What the gateway does with one tool call. Raises pydantic's ValidationError for bad
        arguments and ToolError for a broken rule; both become isError results over MCP."""
        spec = tool_spec(tool_name)
        data = spec.input_model.model_validate(args or {})
        async with transaction(self.sessionmaker) as session:
            ctx = ToolContext(
                user_id=user.user_id,
                kind=user.kind,
                space_id=space_id or user.space_id,
                session=session,
                now=now or datetime.now(UTC),
                logger=logger,
            )
            output = await spec.handler(data, ctx)
        return output.model_dump(mode="json", by_alias=True)


def tool_spec(name: str) -> ToolSpec:
    spec = all_tools().get(name)
    assert spec is not None, f"no tool named {name}"
    return spec


@pytest.fixture(scope="session")
async def product(database_url: str) -> AsyncIterator[Product]:
    engine = create_engine(database_url)
    try:
        yield Product(create_sessionmaker(engine))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def accounts(product: Product) -> dict[str, Person]:
    return {name: await product.person(name) for name in ("Alice", "Bob")}


@pytest.fixture
async def alice(product: Product, accounts: dict[str, Person]) -> Person:
    return await product.in_fresh_space(accounts["Alice"])


@pytest.fixture
async def bob(product: Product, accounts: dict[str, Person]) -> Person:
    return await product.in_fresh_space(accounts["Bob"])
