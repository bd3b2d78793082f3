"""`mana --help` lists every command group without importing any of them (it used to import
every server, ~4 s on these machines; now well under a second)."""

from __future__ import annotations

import json
import subprocess
import sys

from mana.cli.main import COMMANDS

PROBE = """
import contextlib, io, json, sys
from mana.cli.main import app
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        app(["--help"], prog_name="mana")
    except SystemExit:
        pass
print(json.dumps({"help": out.getvalue(), "loaded": sorted(m for m in sys.modules if m.startswith("mana"))}))
"""


def test_help_lists_every_group_without_importing_one() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "PATH": ""},
        check=True,
    )
    seen = json.loads(result.stdout)

    for name, (module, _attribute, short_help) in COMMANDS.items():
        assert name in seen["help"]
        assert short_help in seen["help"]
        assert module not in seen["loaded"]
    assert not any(m.startswith(("mana.auth", "mana.mcp", "mana.runner")) for m in seen["loaded"])
