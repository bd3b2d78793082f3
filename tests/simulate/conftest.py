"""Small catalogs for simulations: two pairs that share a space, one pair daily, the other a
weekdays persona with an hourly one — every cadence, and shared spaces, in four personas."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mana.personas.catalog import CATALOG_PATH


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


SMALL_CATALOG = (
    "persona.mia@mana.test",  # daily
    "persona.jonas@mana.test",  # daily, shares "Familie Weber" with Mia
    "persona.priya@mana.test",  # weekdays
    "persona.kai@mana.test",  # hourly, shares "Ship It Club" with Priya
)


def small_catalog(path: Path, *, suffix: str = "") -> Path:
    """The four personas of SMALL_CATALOG (emails and space names made unique by `suffix`, for
    servers other tests share) written to `path`."""
    data: dict[str, Any] = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))

    def renamed(email: str) -> str:
        local, domain = email.split("@")
        return f"{local}{suffix}@{domain}"

    data.pop("$schema", None)
    data["personas"] = [p for p in data["personas"] if p["email"] in SMALL_CATALOG]
    for persona in data["personas"]:
        persona["email"] = renamed(persona["email"])
    data["spaces"] = [
        {**s, "name": s["name"] + suffix, "members": [renamed(m) for m in s["members"]]}
        for s in data["spaces"]
        if set(s["members"]) <= set(SMALL_CATALOG)
    ]
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def recent_friday() -> date:
    """A Friday at least a week back: the simulated days lie in the past, as by default, and a
    three-day run spans Friday to Sunday."""
    day = datetime.now(UTC).date() - timedelta(days=7)
    return day - timedelta(days=(day.weekday() - 4) % 7)
