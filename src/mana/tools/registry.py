"""Tool registry: the one source of truth for what the product offers over MCP.

A tool is `module.verb` with a description written for a language model, a scope and a policy
hint, typed input/output models (their JSON Schemas are derived), and an async handler
`(input, ctx)`. Only user-space read/write tools are ever exposed to agents; admin and
destructive tools exist for operators and are filtered out by `exposed_tools()`.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from mana.tools._json_schema import output_schema

Scope = Literal["user-space", "admin"]
Policy = Literal["read", "write", "destructive"]

TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_NOT_TOOL_MODULES = {"registry", "base"}


class ToolError(Exception):
    """A failure the caller (a model) can act on: not found, a rule broken. Becomes an
    MCP tool result with isError=true and this message; never a protocol error."""


@dataclass(frozen=True)
class ToolContext:
    user_id: uuid.UUID
    kind: str
    space_id: uuid.UUID
    session: AsyncSession
    now: datetime
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]


Handler = Callable[[Any, ToolContext], Awaitable[BaseModel]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    module: str
    scope: Scope
    policy: Policy
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    handler: Handler

    @property
    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema(by_alias=True)

    @property
    def output_schema(self) -> dict[str, Any]:
        return output_schema(self.output_model)

    @property
    def exposed(self) -> bool:
        return self.scope == "user-space" and self.policy in ("read", "write")


_TOOLS: dict[str, ToolSpec] = {}


def tool(
    name: str, *, policy: Policy, scope: Scope = "user-space", description: str | None = None
) -> Callable[[Handler], Handler]:
    """Register `async def handler(input: InModel, ctx: ToolContext) -> OutModel`.

    The description defaults to the handler's docstring; input/output models come from its
    type hints, so a tool is defined in exactly one place.
    """
    if not TOOL_NAME.match(name):
        raise ValueError(f"tool name {name!r} must look like 'module.verb'")

    def register(handler: Handler) -> Handler:
        hints = get_type_hints(handler)
        params = list(inspect.signature(handler).parameters)
        input_model = hints.get(params[0]) if params else None
        output_model = hints.get("return")
        if not (isinstance(input_model, type) and issubclass(input_model, BaseModel)):
            raise TypeError(f"{name}: first parameter must be annotated with a pydantic model")
        if not (isinstance(output_model, type) and issubclass(output_model, BaseModel)):
            raise TypeError(f"{name}: return type must be a pydantic model")
        text = _reflow(description or inspect.getdoc(handler) or "")
        if not text:
            raise ValueError(f"{name}: a tool needs a description (docstring)")
        if name in _TOOLS:
            raise ValueError(f"tool {name!r} is defined twice")
        _TOOLS[name] = ToolSpec(
            name=name,
            description=text,
            module=name.split(".", 1)[0],
            scope=scope,
            policy=policy,
            input_model=input_model,
            output_model=output_model,
            handler=handler,
        )
        return handler

    return register


def _reflow(text: str) -> str:
    """Docstring wrapping is for the source file: a model gets each paragraph as one line."""
    paragraphs = (" ".join(p.split()) for p in text.strip().split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


@lru_cache(maxsize=1)
def load_modules() -> tuple[str, ...]:
    """Import every module file of this package once, so their tables and @tool definitions
    register. `mana.models` calls this too, so Alembic sees the `app` tables."""
    package = importlib.import_module("mana.tools")
    names = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name not in _NOT_TOOL_MODULES and not info.name.startswith("_"):
            importlib.import_module(f"mana.tools.{info.name}")
            names.append(info.name)
    return tuple(names)


def all_tools() -> dict[str, ToolSpec]:
    load_modules()
    return dict(sorted(_TOOLS.items()))


def exposed_tools() -> dict[str, ToolSpec]:
    """What agents may see and call: user-space tools with a read or write policy."""
    return {name: spec for name, spec in all_tools().items() if spec.exposed}


def modules_with_tools() -> set[str]:
    return {spec.module for spec in exposed_tools().values()}


def get_tool(name: str) -> ToolSpec | None:
    return exposed_tools().get(name)
