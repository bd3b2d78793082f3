"""Shared CLI helpers: one clear line per failure on stderr, non-zero exit."""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from mana.config import ProductionConfigError, Settings, get_settings

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        fail(f"invalid configuration {field}: {first['msg']}")


def production_guard(settings: Settings) -> None:
    try:
        settings.require_production_secrets()
    except ProductionConfigError as exc:
        fail(str(exc))
