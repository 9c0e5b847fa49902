"""The vega baseline is the trader's target: set once, moved only by a command or a plan."""

from __future__ import annotations

import msgspec
import pytest

from monitor.alerts import AlertMachine
from monitor.model import Layer, Leg, Portfolio
from monitor.plan.baseline import DECODER, ENCODER, VegaBaselines
from tests.unit.plan.plan_world import Desk, settings
from tests.unit.rules.rules_world import World, portfolio

SPIKE = 0.30


def test_the_baseline_is_set_at_the_first_valid_cycle_and_says_so() -> None:
    desk = Desk()
    c = desk.tick()
    b = desk.engine.memory.vega.get("main")
    assert b is not None and b.source == "first_valid_cycle"
    assert c.rules is not None
    assert b.value_usd == pytest.approx(float(c.rules.analysis.net_vega.book[0]))
    assert b.describe().startswith("set at the first valid cycle, 2026-11-24 09:30 ET")


def test_adding_size_to_a_layer_never_resolves_the_vega_drift_alert() -> None:
    limits = {"defaults": {"vega_drift_usd": 100.0}}
    w, m = World(settings(greeks=limits)), AlertMachine(cooldown_s=0, repeat_interval_s=0)
    w.tick()
    fired = m.step(w.tick(vol=SPIKE).signals, w.now_ns).events
    assert m.states["greeks|main|vega_drift"].firing
    drift = next(e for e in fired if e.key == "greeks|main|vega_drift")
    assert "baseline set at the first valid cycle" in drift.summary  # where it came from
    w.engine.set_portfolio(portfolio(layer_qty=8))  # more size: the drift only grows
    events = m.step(w.tick(vol=SPIKE).signals, w.now_ns).events
    assert not [e for e in events if e.key == "greeks|main|vega_drift" and e.status == "resolved"]
    assert m.states["greeks|main|vega_drift"].firing


def test_a_command_moves_the_baseline_and_the_plan_says_where_it_came_from() -> None:
    desk = Desk()
    desk.tick()
    desk.engine.memory.vega.set("main", 60.0, "command", desk.now_ns, "to a given value")
    d = desk.plan(desk.tick(vol=0.20)).doc
    assert d["vega_baseline_usd"] == 60.0
    assert d["vega_baseline_source"].startswith("set by command")


def test_executing_the_plan_moves_the_baseline_to_the_plans_target() -> None:
    desk = Desk()
    desk.tick()
    desk.set_baseline(400.0)  # out of reach: the budget binds, the plan ends short of it
    plan = desk.plan(desk.tick(vol=0.20))
    d = plan.doc
    assert d["binding"] == "budget"
    desk.engine.set_portfolio(_executed(desk.portfolio, d))
    c = desk.tick()
    b = desk.engine.memory.vega.get("main")
    assert b is not None and b.source == "plan"
    assert b.value_usd == pytest.approx(d["vega_after_roll_usd"], abs=0.01)
    assert c.rules is not None and c.rules.analysis.vega_baseline[0] == pytest.approx(b.value_usd)


def test_a_position_change_that_is_not_the_plan_keeps_the_baseline() -> None:
    desk = Desk()
    desk.tick()
    desk.set_baseline(400.0)
    desk.plan(desk.tick(vol=0.20))
    book = desk.portfolio.books[0]
    half = [msgspec.structs.replace(y, legs=[msgspec.structs.replace(y.legs[0], quantity=1)])
            if y.name == "L1-DEC" else y for y in book.layers]  # fmt: skip
    desk.engine.set_portfolio(Portfolio(books=[msgspec.structs.replace(book, layers=half)]))
    desk.tick()
    b = desk.engine.memory.vega.get("main")
    assert b is not None and (b.source, b.value_usd) == ("command", 400.0)


def test_stored_baselines_win_over_a_fresh_first_cycle_after_a_restart() -> None:
    before = VegaBaselines()
    before.set("main", -77.0, "command", 1)
    stored = {k: DECODER.decode(ENCODER.encode(v)) for k, v in before.drain().items()}
    desk = Desk()
    desk.engine.memory.vega.load(stored)  # what the app does before the first cycle
    c = desk.tick()
    assert c.rules is not None and c.rules.analysis.vega_baseline[0] == -77.0
    assert desk.engine.memory.vega.drain() == {}  # nothing new to store


def _executed(p: Portfolio, d: dict[str, object]) -> Portfolio:
    """The portfolio after the trader executed the plan exactly."""
    book = p.books[0]
    harvested = {h["layer"]: h["units_harvested"] for h in d["harvest"]}  # type: ignore[attr-defined]
    layers = []
    for y in book.layers:
        n = harvested.get(y.name, 0)
        legs = [msgspec.structs.replace(x, quantity=x.quantity - n) for x in y.legs]
        if any(x.quantity for x in legs):
            layers.append(msgspec.structs.replace(y, legs=[x for x in legs if x.quantity]))
    roll = d["roll"]
    q = d["roll_contracts"]
    legs = [Leg(symbol=x["symbol"], quantity=x["quantity"] * q, entry_price=x["price"])
            for x in roll["legs"]]  # type: ignore[index]  # fmt: skip
    layers.append(Layer(name="L-ROLL", legs=legs))
    return Portfolio(books=[msgspec.structs.replace(book, layers=layers)])
