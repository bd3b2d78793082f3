"""Did the product keep its word? The checks a persona makes on its day (issue 10 §2).

- Right after a write: the answer carries what was asked (a completed item answers done).
- Looking back (the tick's first calls list each module as widely as its tool allows): what
  the persona remembers is still there, and as it left it.
- In its personal space: an item it never created (and could know about) is suspicious. In a
  shared space other members' items and edits are normal, so only "finished stays finished"
  and "still there" are checked.
- A refusal: does the message name the field and what is allowed? A vague one is a finding.
- A failure of valid input, and a slow call, are findings too.

Everything follows `ToolMap` (the tools as the MCP server describes them), so a module added
later gets these checks without new code here.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import jsonschema

from mana.personas.contract import RememberedItem, Story
from mana.runner.memory import DIGEST_PREFIX, expectation_of, in_space, remembered_value
from mana.runner.recording import RecordingToolBox
from mana.runner.toolmap import (
    FINISHED_FIELDS,
    ToolMap,
    created_at,
    finishing,
    label_of,
    resolve,
)
from mana.runner.types import ActionRecord, Observation

SLOW_CALL_MS = 1_000
MAX_LOOK_MODULES = 8
MAX_LOOK_PAGES = 3
MAX_OBSERVATIONS = 200
# How the recording tool box marks a call the tick's own deadline cut off.
RUNNER_CANCELLED = "cancelled:"
_RULE_WORDS = re.compile(
    r"\b(must|should|at least|at most|between|one of|expected|valid|allowed|only|cannot|"
    r"can't|format|yyyy|iso|maximum|minimum|characters?|after|before|give|use|exists?)\b|\d",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_NOT_FOUND = re.compile(r"not found|no such|does not exist", re.IGNORECASE)
# A message that says the input was refused (as opposed to "something broke").
_REFUSED = re.compile(
    r"invalid|not allowed|refused|rejected|bad (request|input)|not valid|wrong (input|value|format)",
    re.IGNORECASE,
)


# --- looking back ----------------------------------------------------------------------------


@dataclass
class LookBack:
    """The tick's first calls: each listing's call seqs, and whether it reached the end."""

    seqs: dict[str, list[int]] = field(default_factory=dict)
    complete: dict[str, bool] = field(default_factory=dict)


async def look_back(
    toolbox: RecordingToolBox,
    toolmap: ToolMap,
    story: Story,
    *,
    space_id: uuid.UUID | None,
    personal: bool,
    module_mix: dict[str, float],
    today: date,
) -> LookBack:
    """List what the persona expects to find (and, at home, what it uses) before the day
    starts: the widest listing each module's list tool offers, a few pages at most."""
    remembered_modules = {i.module for i in in_space(story, space_id).values()}
    wanted = sorted(
        m
        for m, entry in toolmap.modules.items()
        if entry.writable
        and entry.lister is not None
        and (m in remembered_modules or (personal and module_mix.get(m, 0) > 0))
    )[:MAX_LOOK_MODULES]
    result = LookBack()
    for module in wanted:
        lister = toolmap.modules[module].lister
        assert lister is not None
        arguments = toolmap.look_arguments(lister, today)
        result.complete[module] = False
        for _page in range(MAX_LOOK_PAGES):
            outcome = await toolbox.call(lister.name, arguments)
            result.seqs.setdefault(module, []).append(toolbox.records[-1].seq)
            if not outcome.ok or not isinstance(outcome.data, dict):
                break
            if outcome.data.get("truncated") is True:
                break  # more than one answer holds, and no way to page on
            cursor = outcome.data.get("nextCursor")
            if not cursor:
                result.complete[module] = True
                break
            arguments = {**arguments, "cursor": cursor}
    return result


# --- comparing -------------------------------------------------------------------------------


def _instant(text: str) -> datetime | None:
    if not re.match(r"^\d{4}-\d{2}-\d{2}T", text):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def same(found: Any, expected: Any) -> bool:
    """Equal as a person would read it: trimmed text, one instant in any offset, 3 == 3.0."""
    if isinstance(expected, str) and expected.startswith(DIGEST_PREFIX):
        return remembered_value(found) == expected
    if isinstance(found, str) and isinstance(expected, str):
        a, b = _instant(found), _instant(expected)
        if a is not None and b is not None:
            return a == b
        if _EMAIL.match(found.strip()) and _EMAIL.match(expected.strip()):
            return found.strip().casefold() == expected.strip().casefold()  # stored lower-case
        return found.strip() == expected.strip()
    if isinstance(found, bool) or isinstance(expected, bool):
        return found is expected
    if isinstance(found, int | float) and isinstance(expected, int | float):
        return float(found) == float(expected)
    return bool(found == expected)


def _show(value: Any) -> str:
    if isinstance(value, str):
        if value.startswith(DIGEST_PREFIX):
            return "the text I wrote"
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return repr(value)


# --- errors ----------------------------------------------------------------------------------


def _violations(schema: dict[str, Any], arguments: Any) -> list[str]:
    """Which fields of the input break the published input schema (formats included)."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    fields = []
    for error in validator.iter_errors(arguments if arguments is not None else {}):
        path = [str(p) for p in error.absolute_path]
        if not path and error.validator == "required":
            path = [str(error.message).split("'")[1]] if "'" in error.message else []
        if not path and error.validator == "additionalProperties":
            path = re.findall(r"'([^']+)'", error.message)[:1]
        fields.append(path[0] if path else "arguments")
    return sorted(set(fields))


def clear_message(message: str, fields: set[str]) -> bool:
    """Names a field (by the name the caller used) and says what is allowed."""
    lowered = message.lower()
    names = any(re.search(rf"\b{re.escape(f.lower())}\b", lowered) for f in fields)
    return names and bool(_RULE_WORDS.search(message))


# --- the checks --------------------------------------------------------------------------------


@dataclass
class _Expected:
    item: RememberedItem
    tool: str
    seq: int | None  # the call of this tick that set it (None: an earlier tick)


@dataclass
class Checker:
    toolmap: ToolMap
    story: Story | None  # None: the memory could not be read, so nothing is expected
    space_id: uuid.UUID | None
    personal: bool
    persona_id: uuid.UUID
    look: LookBack = field(default_factory=LookBack)
    observations: list[Observation] = field(default_factory=list)
    _reported: set[tuple[str, str]] = field(default_factory=set)

    def note(self, observation: Observation, key: str | None = None) -> None:
        dedupe = (observation.kind, key or observation.item_id or str(observation.action_seq))
        if dedupe in self._reported or len(self.observations) >= MAX_OBSERVATIONS:
            return
        self._reported.add(dedupe)
        self.observations.append(observation)

    def run(self, records: list[ActionRecord]) -> list[Observation]:
        story = self.story
        expected: dict[str, _Expected] = {}
        if story is not None:
            expected = {
                i.item_id: _Expected(i, i.tool, None)
                for i in in_space(story, self.space_id).values()
            }
        created_here: set[str] = set()
        look_ids: dict[str, set[str]] = {}
        look_calls = {seq: m for m, seqs in self.look.seqs.items() for seq in seqs}
        for record in sorted(records, key=lambda r: r.seq):
            if record.latency_ms >= SLOW_CALL_MS:
                self.note(
                    Observation(
                        kind="slow",
                        module=record.module,
                        evidence=f"{record.tool_name} (call {record.seq}) took "
                        f"{record.latency_ms} ms",
                        tool_name=record.tool_name,
                        action_seq=record.seq,
                        found=record.latency_ms,
                    )
                )
            if record.result == "error":
                self._judge_error(record, expected)
                continue
            kind = self.toolmap.kind(record.tool_name)
            if kind in ("create", "change"):
                self._check_answer(record, expected, created_here)
            items = self.toolmap.items_of(record.tool_name, record.output)
            if items is None:
                continue
            if record.seq in look_calls:
                look_ids.setdefault(look_calls[record.seq], set()).update(
                    str(i["id"]) for i in items
                )
            for item in items:
                self._check_item(record, item, expected, created_here)
        self._check_missing(expected, look_ids)
        return self.observations

    # -- right after a write --

    def _check_answer(
        self, record: ActionRecord, expected: dict[str, _Expected], created_here: set[str]
    ) -> None:
        output = record.output if isinstance(record.output, dict) else {}
        arguments = record.arguments if isinstance(record.arguments, dict) else {}
        item_id = str(output.get("id") or "")
        label = label_of(output)
        for name, sent in arguments.items():
            if name in ("id", "cursor", "limit") or name not in output:
                continue
            if isinstance(sent, list | dict) or same(output[name], sent):
                continue
            self.note(
                Observation(
                    kind="not_applied",
                    module=record.module,
                    evidence=f"{record.tool_name} (call {record.seq}) was asked {name}="
                    f"{_show(sent)} but answered {name}={_show(output[name])}",
                    tool_name=record.tool_name,
                    action_seq=record.seq,
                    item_id=item_id or None,
                    label=label,
                    field=name,
                    expected=sent,
                    found=output[name],
                    cause_tool=record.tool_name,
                ),
                key=f"{item_id}:{name}:{record.seq}",
            )
        if finishing(record.tool_name):
            for name in FINISHED_FIELDS:
                if name in output and output[name] is not True:
                    self.note(
                        Observation(
                            kind="not_applied",
                            module=record.module,
                            evidence=f"{record.tool_name} (call {record.seq}) answered "
                            f"{name}={output[name]!r} for '{label}'",
                            tool_name=record.tool_name,
                            action_seq=record.seq,
                            item_id=item_id or None,
                            label=label,
                            field=name,
                            expected=True,
                            found=output[name],
                            cause_tool=record.tool_name,
                        )
                    )
        if not item_id:
            return
        if self.toolmap.kind(record.tool_name) == "create":
            created_here.add(item_id)
        previous = expected.get(item_id)
        expect = dict(previous.item.expect) if previous else {}
        expect.update(expectation_of(record))
        expected[item_id] = _Expected(
            RememberedItem(
                module=record.module,
                item_id=item_id[:120],
                space_id=self.space_id,
                label=previous.item.label if previous else label,
                tool=record.tool_name,
                expect=expect,
                created_at=previous.item.created_at if previous else None,
                touched_at=record.created_at,
            ),
            record.tool_name,
            record.seq,
        )

    # -- later reads --

    def _check_item(
        self,
        record: ActionRecord,
        item: dict[str, Any],
        expected: dict[str, _Expected],
        created_here: set[str],
    ) -> None:
        item_id = str(item["id"])
        known = expected.get(item_id)
        if known is not None:
            for name, value in known.item.expect.items():
                if name not in item or same(item[name], value):
                    continue
                if not self.personal and name not in FINISHED_FIELDS:
                    continue  # other members may edit shared items
                set_by_change = self.toolmap.kind(known.tool) == "change"
                kind = "not_applied" if name in FINISHED_FIELDS or set_by_change else "changed"
                when = f"call {known.seq}" if known.seq is not None else "an earlier day"
                self.note(
                    Observation(
                        kind=kind,
                        module=record.module,
                        evidence=f"{known.item.module} '{known.item.label}' was left with "
                        f"{name}={_show(value)} ({known.tool}, {when}) but {record.tool_name} "
                        f"(call {record.seq}) shows {name}={_show(item[name])}",
                        tool_name=record.tool_name,
                        action_seq=record.seq,
                        item_id=item_id,
                        label=known.item.label,
                        field=name,
                        expected=value,
                        found=item[name],
                        cause_tool=known.tool,
                    ),
                    key=f"{item_id}:{name}",
                )
            return
        if not self.personal or item_id in created_here or self.story is None:
            return
        if not self.toolmap.modules[record.module].writable:
            return
        author = item.get("createdBy")
        stranger = isinstance(author, str) and author != str(self.persona_id)
        born = _instant(created_at(item) or "")
        since = self.story.known_since
        if stranger or (since is not None and born is not None and born >= since):
            who = f" by {author}" if stranger else ""
            self.note(
                Observation(
                    kind="unexpected_item",
                    module=record.module,
                    evidence=f"{record.tool_name} (call {record.seq}) in my personal space shows "
                    f"'{label_of(item)}' (id {item_id}, created {created_at(item)}{who}), "
                    "which I never created",
                    tool_name=record.tool_name,
                    action_seq=record.seq,
                    item_id=item_id,
                    label=label_of(item),
                )
            )

    def _check_missing(self, expected: dict[str, _Expected], look_ids: dict[str, set[str]]) -> None:
        for item_id, known in expected.items():
            module = known.item.module
            if known.seq is not None or not self.look.complete.get(module):
                continue  # set today, or the listing did not reach the end
            if item_id in look_ids.get(module, set()):
                continue
            seqs = self.look.seqs.get(module, [])
            lister = self.toolmap.modules[module].lister
            self.note(
                Observation(
                    kind="missing",
                    module=module,
                    evidence=f"{module} '{known.item.label}' (id {item_id}, {known.tool} "
                    f"on {known.item.touched_at.date().isoformat()}) is not in "
                    f"{lister.name if lister else 'the list'} (call {seqs[-1] if seqs else '?'})",
                    tool_name=lister.name if lister else None,
                    action_seq=seqs[-1] if seqs else None,
                    item_id=item_id,
                    label=known.item.label,
                    cause_tool=known.tool,
                )
            )

    # -- errors --

    def _judge_error(self, record: ActionRecord, expected: dict[str, _Expected]) -> None:
        tool = self.toolmap.by_name.get(record.tool_name)
        if tool is None or (record.error_message or "").startswith(RUNNER_CANCELLED):
            return  # a tool the brain made up, or the tick's own deadline: not the product
        message = (record.error_message or "").strip()
        arguments = record.arguments if isinstance(record.arguments, dict) else {}
        ref = next((str(v) for k, v in arguments.items() if k == "id" or k.endswith("Id")), None)
        if _NOT_FOUND.search(message) and ref in expected:
            known = expected[ref]
            self.note(
                Observation(
                    kind="missing",
                    module=record.module,
                    evidence=f"{record.tool_name} (call {record.seq}) says "
                    f"'{message[:200]}' for {known.item.module} '{known.item.label}', "
                    f"which I made with {known.tool}",
                    tool_name=record.tool_name,
                    action_seq=record.seq,
                    item_id=ref,
                    label=known.item.label,
                    cause_tool=known.tool,
                )
            )
            return
        fields = set(resolve(tool.input_schema, tool.input_schema).get("properties") or {})
        bad_input = _violations(tool.input_schema, arguments)
        if clear_message(message, fields | set(bad_input)):
            return  # a refusal that says what to change: the product doing its job
        refused = bool(bad_input) or bool(_REFUSED.search(message))
        kind = "unclear_error" if refused else "error"
        what = (
            f"refused my {', '.join(bad_input) or 'input'} without saying what was wrong"
            if refused
            else "failed"
        )
        self.note(
            Observation(
                kind=kind,
                module=record.module,
                evidence=f"{record.tool_name} (call {record.seq}) {what}: '{message[:300]}'",
                tool_name=record.tool_name,
                action_seq=record.seq,
                field=bad_input[0] if bad_input else None,
                found=message[:200],
            )
        )
