"""Valid sample arguments for every exposed tool, in an order where creates come first.

Each entry turns what earlier calls returned (`made["todo.create"]` is that call's structured
output) into arguments. A new exposed tool without an entry here makes
`test_every_exposed_tool_succeeds_over_mcp` fail, so it cannot ship untested over MCP.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

Made = dict[str, dict[str, Any]]
Sample = Callable[[Made], dict[str, Any]]

_today = datetime.now(UTC).date()
_start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)

SAMPLES: dict[str, Sample] = {
    "spaces.list": lambda made: {},
    # todo
    "todo.create": lambda made: {
        "title": "Buy oat milk",
        "notes": "the barista one",
        "due": (_today + timedelta(days=2)).isoformat(),
        "priority": "high",
    },
    "todo.list": lambda made: {"status": "all", "search": "oat", "limit": 5},
    "todo.update": lambda made: {"id": made["todo.create"]["id"], "priority": "low"},
    "todo.complete": lambda made: {"id": made["todo.create"]["id"]},
    # notes
    "notes.create": lambda made: {
        "title": "Sourdough",
        "body": "Feed the starter at 8, bake at 230°C.",
        "tags": ["recipes", "#Baking"],
    },
    "notes.get": lambda made: {"id": made["notes.create"]["id"]},
    "notes.list": lambda made: {"tag": "recipes"},
    "notes.search": lambda made: {"query": "starter"},
    "notes.update": lambda made: {"id": made["notes.create"]["id"], "tags": []},
    # journal
    "journal.add": lambda made: {"body": "Long walk by the river. Felt good.", "date": str(_today)},
    "journal.get": lambda made: {"id": made["journal.add"]["id"]},
    "journal.list": lambda made: {"from": str(_today - timedelta(days=7)), "to": str(_today)},
    "journal.update": lambda made: {"id": made["journal.add"]["id"], "body": "A long walk."},
    # habits
    "habits.create": lambda made: {"name": "Meditate 10 minutes", "cadence": "daily"},
    "habits.log": lambda made: {"habitId": made["habits.create"]["id"], "note": "calm"},
    "habits.list": lambda made: {},
    "habits.recent": lambda made: {"habitId": made["habits.create"]["id"], "days": 14},
    # mood
    "mood.log": lambda made: {"score": 7, "note": "sunny"},
    "mood.recent": lambda made: {"days": 3, "who": "me"},
    # calendar
    "calendar.create": lambda made: {
        "title": "Dentist",
        "start": _start.isoformat(),
        "end": (_start + timedelta(hours=1)).isoformat(),
        "location": "Main St 1",
    },
    "calendar.get": lambda made: {"id": made["calendar.create"]["id"]},
    "calendar.list": lambda made: {"from": str(_today), "to": str(_today + timedelta(days=7))},
    "calendar.update": lambda made: {"id": made["calendar.create"]["id"], "location": None},
    # contacts
    "contacts.create": lambda made: {
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "phone": "+1 555 0100",
        "note": "navy",
    },
    "contacts.get": lambda made: {"id": made["contacts.create"]["id"]},
    "contacts.list": lambda made: {"limit": 10},
    "contacts.search": lambda made: {"query": "hopper"},
    "contacts.update": lambda made: {"id": made["contacts.create"]["id"], "phone": None},
}
