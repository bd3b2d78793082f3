"""The chaos brain against the real product: edge input on purpose (text at and over its limit,
emoji, right-to-left and combining characters, far dates, duplicates, repeats), judged by the
same checks as every persona."""

from __future__ import annotations

import random
from datetime import date

from mana.runner.brains.chaos import ChaosBrain, edge_inputs
from mana.tools.registry import exposed_tools
from tests.fixtures.runner import RunnerWorld, tick_by_email


def test_edge_inputs_follow_the_published_schema() -> None:
    schema = exposed_tools()["todo.create"].input_schema
    tries = dict(edge_inputs(schema, random.Random(1), date(2026, 12, 2)))
    assert len(tries["at_limit"]["title"]) == 200
    assert len(tries["over_limit"]["title"]) == 201
    assert tries["odd"]["title"]


def test_a_chaos_day_on_the_real_product_is_judged_with_evidence(runner_world: RunnerWorld) -> None:
    _, email = runner_world.create_persona(module_mix={"todo": 1, "notes": 1, "calendar": 1})

    (report,) = tick_by_email(runner_world.settings(), [email], brain=ChaosBrain())

    assert report.status == "ok" and report.posted
    sent = [a for a in report.actions if a.tool_name.endswith(".create")]
    assert len(sent) >= 9  # three modules, three tries each, plus duplicates
    refused = [a for a in sent if a.result == "error"]
    assert refused  # one character over the limit
    assert all("at most" in (a.error_message or "") for a in refused), refused
    # The product refuses clearly and keeps emoji, RTL and combining characters as sent: on a
    # clean build the chaos persona has nothing to report, and says so.
    assert report.observations == [], report.observations
    assert {r.rating for r in report.ratings} == {5}
