"""The runner's spool: tick posts that had not landed when the runner stopped.

One JSON line per request (method, path, body), appended in the order they were made, in a
file per runner under `.mana/spool/` (setting `MANA_RUNNER_SPOOL_DIR`). The next runner that
starts sends every spooled request again, oldest first. Every tick write is idempotent on the
server (tick id, `(tickId, seq)`, `(tickId, module)`), so a request that did land after all is
not counted twice.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# (method, path, body) -> None; raises when the request cannot land now.
Send = Callable[[str, str, Any], Awaitable[None]]


@dataclass(frozen=True)
class Replayed:
    sent: int
    dropped: int
    left: int


def _file_name(runner_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", runner_id)[:120] + ".jsonl"


class Spool:
    def __init__(self, directory: Path, runner_id: str) -> None:
        self.directory = directory
        self.path = directory / _file_name(runner_id)

    def append(self, method: str, path: str, body: Any) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"method": method, "path": path, "body": body}, separators=(",", ":"))
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def pending(self) -> int:
        files = self._files()
        return sum(sum(1 for _ in f.open(encoding="utf-8")) for f in files)

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.jsonl"))

    async def replay(self, send: Send, *, is_permanent: Callable[[Exception], bool]) -> Replayed:
        """Send every spooled request (every runner's file in the directory), oldest first.

        A file is taken by renaming it first, so two runners starting together never send the
        same file at once. A request refused for good (`is_permanent`, e.g. a 409) is dropped
        with a warning; on any other failure the rest stays spooled for the next attempt."""
        sent = dropped = left = 0
        for file in self._files():
            taken = file.with_suffix(f".replaying-{os.getpid()}")
            try:
                file.rename(taken)
            except FileNotFoundError:  # another runner took it
                continue
            lines = [line for line in taken.read_text(encoding="utf-8").splitlines() if line]
            for index, line in enumerate(lines):
                try:
                    entry = json.loads(line)
                except ValueError:
                    logger.warning("spool %s: unreadable line %d dropped", file.name, index + 1)
                    dropped += 1
                    continue
                try:
                    await send(entry["method"], entry["path"], entry["body"])
                    sent += 1
                except Exception as exc:
                    if is_permanent(exc):
                        logger.warning("spooled %s %s refused, dropped: %s", *entry.values(), exc)
                        dropped += 1
                        continue
                    rest = lines[index:]
                    with file.open("a", encoding="utf-8") as handle:
                        handle.write("\n".join(rest) + "\n")
                    left += len(rest)
                    break
            taken.unlink()
            if left:
                break
        if sent or dropped or left:
            logger.info("spool replayed: %d sent, %d dropped, %d left", sent, dropped, left)
        return Replayed(sent=sent, dropped=dropped, left=left)
