"""Faults switched on for some simulated days (embedded mode): the in-process MCP server watches
a rules file of the simulation's own (`MANA_FAULTS`, checked on every call), and the simulation
replaces that file at the first slot of the first and after the last faulty day.

So a team can prove what its personas notice: a clean week, then a fault from day K (and off
again after day L), all in one deterministic run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NO_RULES: dict[str, Any] = {"rules": []}


@dataclass
class FaultSchedule:
    """`rules` (the parsed rules file) are on from day `first` to day `last` (1-based,
    inclusive), off otherwise."""

    watched: Path
    rules: dict[str, Any]
    first: int
    last: int
    _on: bool | None = field(default=None, init=False)

    def on(self, day_number: int) -> bool:
        return self.first <= day_number <= self.last

    def apply(self, day_number: int) -> bool:
        """Make the watched file say what `day_number` needs; True when it changed."""
        wanted = self.on(day_number)
        if wanted == self._on:
            return False
        self._write(self.rules if wanted else {**NO_RULES, "seed": self.rules.get("seed")})
        self._on = wanted
        return True

    def _write(self, body: dict[str, Any]) -> None:
        # Atomic: the server reads the old rules or the new ones, never half a file, and the
        # new inode tells it the file changed even within one timestamp tick.
        scratch = self.watched.with_name(f".{self.watched.name}.tmp")
        scratch.write_text(json.dumps(body), encoding="utf-8")
        os.replace(scratch, self.watched)


def with_seed(rules: dict[str, Any], seed: int) -> dict[str, Any]:
    """Rate draws repeat only with a seed: the simulation's, unless the file names its own."""
    return rules if rules.get("seed") is not None else {**rules, "seed": seed}
