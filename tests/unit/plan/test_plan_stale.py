"""A silent feed never reads as "no layer at its threshold": the plan says it cannot plan."""

from __future__ import annotations

from monitor.plan import api as plan_api
from tests.unit.plan.plan_world import Desk

POP = 0.20  # the short-dated layer gains ~500%


def test_a_popped_layer_on_a_silent_feed_gets_no_plan_because_the_marks_are_stale() -> None:
    desk = Desk()
    desk.tick()
    desk.tick(vol=POP)
    code, live = plan_api.plan(desk.engine, "main")
    assert code == 200 and live["plan"] is not None
    silent_s = desk.engine.settings.engine.stale_after_s + 60
    cycle = desk.engine.evaluate(desk.now_ns + round(silent_s * 1e9))
    gain = next(s for s in cycle.signals if s.key.startswith("layer_gain|main|L1-DEC@"))
    assert gain.condition == "unknown"  # the alert stays firing: stale data never resolves it
    code, doc = plan_api.plan(desk.engine, "main")
    assert code == 200 and doc["plan"] is None
    assert doc["reason"].startswith("cannot plan on stale marks: L1-DEC, L2-MAR, L3-JUN")
    assert "lowest gain threshold" not in doc["reason"]


def test_fresh_layers_below_their_threshold_say_so() -> None:
    desk = Desk()
    desk.tick()
    desk.tick()
    code, doc = plan_api.plan(desk.engine, "main")
    assert code == 200 and doc["plan"] is None
    assert doc["reason"] == "no layer of the book is at its lowest gain threshold"
