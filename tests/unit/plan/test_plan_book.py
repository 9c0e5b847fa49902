"""The roll plan on a trader's book: one plan per book, sized by vega, within budget and cap.

The book (``plan_world``): a 45-DTE ~16-delta SPXW condor, VIX call layers 4/4/2 at ~22/113/204
DTE. Each test asks what the trader would: is the aggregate (the book's net vega after the plan)
where the plan says, and does the text agree with the rest of the cycle's alerts?
"""

from __future__ import annotations

import math

import pytest

from monitor.alerts import AlertMachine
from monitor.engine import Cycle
from monitor.plan.build import Plan
from tests.unit.plan.plan_world import LAYERS, Desk, settings

POP = 0.20  # the short-dated layer gains ~500%, the March layer ~120%
BOTH = 0.26  # L1 and L2 both above 150%


def net_vega_after(desk: Desk, cycle: Cycle, plan: Plan) -> float:
    """Recompute the book's net vega after the plan from the per-leg numbers (the aggregate)."""
    nv = cycle.rules.analysis.net_vega if cycle.rules else None
    assert nv is not None
    idx = cycle.state.index
    total = float(nv.book[0])
    for h in plan.doc["harvest"]:
        s = idx.struct_names.index(h["layer"])
        total -= float(nv.struct[s]) * h["units_harvested"] / h["units"]
    for leg in plan.doc["vega_legs"]:
        if leg["structure"] == "roll":
            total += leg["vega_usd"]
    return total


@pytest.fixture(scope="module")
def popped() -> tuple[Desk, Cycle]:
    desk = Desk()
    desk.tick()
    return desk, desk.tick(vol=POP)


def test_plan_brings_net_vega_to_baseline_within_one_contract() -> None:
    desk = Desk()
    desk.tick()
    desk.set_baseline(60.0)  # the trader's target: modestly long vol
    c = desk.tick(vol=POP)
    plan = desk.plan(c)
    d = plan.doc
    per = d["roll"]["vega_usd_per_unit"]
    assert d["binding"] == "vega" and d["roll_contracts"] > 0
    assert abs(d["vega_after_roll_usd"] - d["vega_baseline_usd"]) <= per
    assert net_vega_after(desk, c, plan) == pytest.approx(d["vega_after_roll_usd"], abs=0.05)
    assert (
        d["roll_cost_usd"] <= d["budget_usd"]
        and d["roll_contracts"] <= d["martingale_cap_contracts"]
    )
    r = d["roll"]
    assert 45 <= r["dte"] <= 90 and r["legs"][0]["price"] == pytest.approx(
        float(desk.engine.market.ask[desk.engine.market.index[r["legs"][0]["symbol"]]])
    )


def test_plan_names_budget_as_binding_with_residual() -> None:
    desk = Desk()
    desk.tick()
    desk.set_baseline(400.0)  # far more vega than 60% of the gain can buy
    d = desk.plan(desk.tick(vol=POP)).doc
    assert d["binding"] == "budget"
    assert d["residual_vega_usd"] == pytest.approx(d["vega_after_roll_usd"] - 400.0, abs=0.02)
    assert d["residual_vega_usd"] < -d["roll"]["vega_usd_per_unit"]
    # one more contract would have broken the budget
    assert d["roll_cost_usd"] + d["roll"]["cost_usd_per_unit"] > d["budget_usd"]
    assert "the budget binds" in desk.plan(desk.engine.last_cycle).action  # type: ignore[arg-type]


def test_plan_names_the_martingale_cap_when_it_binds() -> None:
    desk = Desk(
        settings(roll={"martingale_coefficient": 0.5, "martingale_coefficient_reverting": 0.5})
    )
    desk.tick()
    desk.set_baseline(400.0)
    d = desk.plan(desk.tick(vol=POP)).doc
    assert d["binding"] == "cap" and d["roll_contracts"] == d["martingale_cap_contracts"] == 2
    assert d["affordable_contracts"] > 2


def test_a_harvest_that_leaves_vega_above_the_baseline_buys_nothing(
    popped: tuple[Desk, Cycle],
) -> None:
    desk, c = popped
    d = desk.plan(c).doc  # the baseline from the first valid cycle (-118): the book is long vol
    assert d["vega_baseline_source"].startswith("set at the first valid cycle")
    assert d["vega_after_harvest_usd"] > d["vega_baseline_usd"]
    assert d["roll_contracts"] == 0 and d["binding"] == "harvest"
    assert d["residual_vega_usd"] > 0 and "Buy nothing" in desk.plan(c).action


def test_two_layers_firing_together_get_one_plan_on_every_alert() -> None:
    desk = Desk()
    desk.tick()
    desk.set_baseline(60.0)
    c = desk.tick(vol=BOTH)
    gains = [s.materialize() for s in c.signals if s.rule == "layer_gain"]
    with_plan = [s for s in gains if s.advisory is not None]
    layers = {s.subject.split("@")[0] for s in with_plan}
    assert {"L1-DEC", "L2-MAR"} <= layers
    assert all(s.advisory == with_plan[0].advisory for s in with_plan)
    harvested = {h["layer"] for h in with_plan[0].advisory["harvest"] if h["units_harvested"]}
    assert {"L1-DEC", "L2-MAR"} <= harvested


def test_plan_never_contradicts_term_structure_alert() -> None:
    desk = Desk()
    desk.tick()
    desk.set_baseline(60.0)  # a plan that buys calls, in the backwardation the pop causes
    c = desk.tick(vol=POP)
    machine = AlertMachine(cooldown_s=0, repeat_interval_s=0)
    events = machine.step(c.signals, c.now_ns).events
    curve = [e for e in events if e.rule == "term_structure" and e.status == "firing"]
    plan = desk.plan(c)
    assert curve, "the pop puts the VX curve in backwardation"
    assert any("once contango returns" in (e.action or "") for e in curve)
    pre = {p["name"]: p for p in plan.doc["preconditions"]}
    assert pre["term_structure"]["holds"] is False
    assert plan.doc["action"] == "harvest_now_roll_when_contango_returns"
    assert plan.doc["roll_contracts"] > 0
    assert "roll when contango returns" in plan.action and "Roll now" not in plan.action


def test_a_plan_that_buys_nothing_says_harvest_now_and_nothing_about_rolling(
    popped: tuple[Desk, Cycle],
) -> None:
    desk, c = popped
    plan = desk.plan(c)
    assert plan.doc["roll_contracts"] == 0 and plan.doc["action"] == "harvest_only"
    assert "Harvest now." in plan.action and "Roll now" not in plan.action


def test_in_contango_the_plan_rolls_now() -> None:
    # in the simulator a 150% pop always inverts the curve: a 40% threshold sees a small pop
    # ... and a bigger short-dated layer, so that its gain buys at least one call
    layers = [("L1-DEC", "VIX261216C00020000", 20), *LAYERS[1:]]
    desk = Desk(settings(layer_gain={"thresholds": [0.4], "severities": ["warning"]}), layers)
    desk.tick()
    desk.set_baseline(60.0)
    c = desk.tick(vol=0.15)  # L1 +49%, VIX ~16 under the curve's 20: contango ~4.2%
    plan = desk.plan(c)
    assert c.rules is not None and c.rules.analysis.curve.contango > 0.035
    pre = {p["name"]: p for p in plan.doc["preconditions"]}
    assert pre["term_structure"]["holds"] is True and plan.doc["action"] == "roll_now"
    assert plan.doc["roll_contracts"] > 0 and "Roll now" in plan.action


def test_every_precondition_is_stated_with_its_value(popped: tuple[Desk, Cycle]) -> None:
    desk, c = popped
    pre = desk.plan(c).doc["preconditions"]
    assert [p["name"] for p in pre] == [
        "macro_event",
        "term_structure",
        "vix_mean_reversion",
        "breakevens_after_plan",
    ]
    assert all(p["value"] for p in pre)
    assert "F2/F1-1" in pre[1]["value"] and "sigma" in pre[3]["value"]


def test_the_vega_unit_is_stated_and_each_leg_shows_what_it_adds(
    popped: tuple[Desk, Cycle],
) -> None:
    desk, c = popped
    d = desk.plan(c).doc
    assert "delta to the VX future" in d["vega_unit"]
    legs = d["vega_legs"]
    units = {leg["symbol"][:4]: leg["unit"] for leg in legs}
    assert units["SPXW"] == "spx_vega" and units["VIX2"] == "vix_delta_x100"
    book = [leg for leg in legs if leg["structure"] != "roll"]
    assert sum(leg["vega_usd"] for leg in book) == pytest.approx(d["vega_now_usd"], abs=0.1)


def test_the_conversion_variant_rolls_into_a_call_spread_with_its_short_strike() -> None:
    desk = Desk(settings(roll={"variant": "conversion", "recycle_fraction": 0.65}))
    desk.tick()
    desk.set_baseline(60.0)
    d = desk.plan(desk.tick(vol=POP)).doc
    r = d["roll"]
    assert r["kind"] == "call_spread" and r["short_strike"] > r["strike"]
    assert [leg["quantity"] for leg in r["legs"]] == [1, -1]
    assert 0.60 <= d["recycle_band"][0] and d["recycle_band"][1] == 0.75
    assert d["roll_cost_usd"] <= d["budget_usd"]
    assert abs(d["vega_after_roll_usd"] - 60.0) <= r["vega_usd_per_unit"] or d["binding"] != "vega"


def test_selective_harvest_keeps_part_of_a_layer_once_the_break_evens_are_outside() -> None:
    desk = Desk()
    desk.tick()
    desk.set_baseline(60.0)
    d = desk.plan(desk.tick(vol=0.34)).doc  # a big pop: the hedge gain widens the break-evens
    assert d["harvest_mode"] == "selective" and d["harvest_rule"].startswith("selective")
    kept = [h for h in d["harvest"] if not h["fully"]]
    assert kept, "some of a firing layer is kept"
    assert abs(d["vega_after_roll_usd"] - 60.0) <= 60.0


def test_no_tradeable_roll_price_gives_a_plan_that_keeps_the_cash() -> None:
    desk = Desk()
    desk.tick()
    desk.set_baseline(60.0)
    m = desk.engine.market
    c = desk.tick(vol=POP)
    for inst in m.instruments:  # every roll candidate loses its ask
        if inst.root == "VIX" and inst.expiry is not None and inst.expiry.month in (1, 2):
            m.ask[m.index[inst.symbol]] = math.nan
    c = desk.engine.evaluate(desk.now_ns)
    d = desk.plan(c).doc
    assert d["roll"] is None and d["roll_contracts"] == 0 and d["binding"] == "market"
    assert "no tradeable price" in desk.plan(c).action


def test_a_book_with_a_vixw_weekly_layer_popping_with_l1_gets_one_plan_to_the_baseline() -> None:
    layers = [("L0-WK", "VIXW261209C00018000", 4), *LAYERS]  # a weekly expiring 2026-12-09
    desk = Desk(layers=layers)
    desk.tick()
    desk.set_baseline(60.0)
    c = desk.tick(vol=POP)
    plan = desk.plan(c)
    d = plan.doc
    assert [h["layer"] for h in d["harvest"]] == ["L0-WK", "L1-DEC"]
    assert all(h["units_harvested"] for h in d["harvest"])
    assert d["binding"] == "vega"
    assert abs(d["vega_after_roll_usd"] - 60.0) <= d["roll"]["vega_usd_per_unit"]
    assert net_vega_after(desk, c, plan) == pytest.approx(d["vega_after_roll_usd"], abs=0.05)


def test_an_unpriced_layer_leg_counts_no_vega_and_is_named() -> None:
    layers = [("L0-WK", "VIXW261209C00018000", 4), *LAYERS]
    desk = Desk(layers=layers)
    desk.tick()
    c = desk.tick(vol=BOTH)  # the weekly is so deep in the money its vol cannot be solved
    d = desk.plan(c).doc
    wk = next(h for h in d["harvest"] if h["layer"] == "L0-WK")
    assert wk["vega_unknown_legs"] == ["VIXW261209C00018000"] and wk["vega_usd_per_unit"] == 0.0
    assert d["binding"] in {"vega", "budget", "cap", "harvest"}
