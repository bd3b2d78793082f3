"""How `mana personas show` prints a persona's story and what it noticed (issue 10)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mana.personas.contract import PersonaDetailOut


def print_story(console: Console, detail: PersonaDetailOut) -> None:
    story = detail.story
    if not story.items and not story.days:
        console.print("no story yet (the next tick starts as on a first day)")
    else:
        since = story.known_since.isoformat(timespec="minutes") if story.known_since else "–"
        remembered = Table(title=f"story so far (knows its personal space since {since})")
        for column in ("module", "item", "label", "left as", "last touched"):
            remembered.add_column(column, overflow="fold")
        for item in sorted(story.items, key=lambda i: i.touched_at, reverse=True):
            remembered.add_row(
                item.module,
                item.item_id[:8],
                escape(item.label),
                escape(", ".join(f"{k}={v}" for k, v in item.expect.items())[:120]),
                item.touched_at.isoformat(timespec="minutes"),
            )
        console.print(remembered)
        for line in story.days:
            console.print(f"[bold]{line.day}[/bold] {escape(line.text)}")
    if detail.recent_observations:
        noticed = Table(title="recent observations")
        for column in ("when", "kind", "tool", "call", "evidence"):
            noticed.add_column(column, overflow="fold")
        for o in detail.recent_observations:
            noticed.add_row(
                o.created_at.isoformat(timespec="minutes"),
                o.kind,
                o.tool_name or "",
                "" if o.action_seq is None else str(o.action_seq),
                escape(o.evidence),
            )
        console.print(noticed)
