"""Layer gain on live marks, hysteresis, stale marks, and the roll plan it carries."""

from __future__ import annotations

import dataclasses
import math

import pytest

from monitor.alerts import AlertMachine
from monitor.plan.build import PlanBook
from monitor.rules.momentum import Momentum
from tests.unit.rules.rules_world import World, condition, settings, signal

SPIKE_VOL = 0.30


def gain_after_spike() -> float:
    w = World()
    w.tick()
    return float(w.tick(vol=SPIKE_VOL).state.struct_gain_ratio[1])


@pytest.fixture(scope="module")
def gain() -> float:
    return gain_after_spike()


def condition_at(threshold: float, hysteresis: float = 0.1) -> str:
    w = World(
        settings(
            layer_gain={
                "thresholds": [threshold],
                "severities": ["warning"],
                "hysteresis": hysteresis,
            }
        )
    )
    w.tick()
    c = w.tick(vol=SPIKE_VOL)
    return str(signal(c, f"layer_gain|main|L1@{threshold:g}").condition)


def test_a_gain_exactly_at_the_threshold_fires(gain: float) -> None:
    assert condition_at(gain) == "breach"


def test_a_gain_just_above_the_threshold_fires(gain: float) -> None:
    assert condition_at(gain - 1e-6) == "breach"


def test_a_gain_just_below_the_threshold_holds_inside_the_hysteresis_band(gain: float) -> None:
    assert condition_at(gain + 1e-6) == "hold"


def test_a_gain_below_threshold_minus_hysteresis_clears(gain: float) -> None:
    w = World(settings(layer_gain={"thresholds": [gain + 0.2], "severities": ["warning"]}))
    w.tick()
    c = w.tick(vol=SPIKE_VOL)
    assert condition(c, f"layer_gain|main|L1@{gain + 0.2:g}") == "clear"


def test_a_layer_with_a_stale_mark_is_unknown_and_its_alert_never_resolves() -> None:
    w = World()
    w.tick()
    machine = AlertMachine(cooldown_s=0, repeat_interval_s=0)
    fired = machine.step(w.tick(vol=SPIKE_VOL).signals, w.now_ns).events
    silent = w.silent(120)  # no quote for longer than engine.stale_after_s
    events = machine.step(silent.signals, w.now_ns).events
    # 150% and 200% crossed together: one notification, the higher one (it inhibits the lower)
    assert [e.key for e in fired if e.rule == "layer_gain"] == ["layer_gain|main|L1@2"]
    assert signal(silent, "layer_gain|main|L1@1.5").condition == "unknown"
    assert not [e for e in events if e.status == "resolved"]
    assert machine.states["layer_gain|main|L1@1.5"].firing


@pytest.fixture(scope="module")
def spiked() -> World:
    w = World()
    w.tick()
    w.tick(vol=SPIKE_VOL)
    return w


def test_every_layer_gain_alert_carries_the_books_roll_plan_and_an_action(spiked: World) -> None:
    c = spiked.engine.last_cycle
    assert c is not None
    s = signal(c, "layer_gain|main|L1@2").materialize()
    assert s.advisory["book"] == "main" and s.action.startswith("Harvest L1: all 4 units")
    assert s.advisory == signal(c, "layer_gain|main|L1@1.5").materialize().advisory
    assert "Do not add size into the pop." in s.action


def test_the_plan_numbers_follow_from_the_quotes_by_hand(spiked: World) -> None:
    c = spiked.engine.last_cycle
    assert c is not None and c.rules is not None
    a = signal(c, "layer_gain|main|L1@1.5").materialize().advisory
    st = c.state
    bid = float(st.leg_bid[4])  # the layer's one leg: 4 x VIX261216C00020000
    (h,) = a["harvest"]
    assert h["proceeds_usd"] == pytest.approx(4 * 100 * bid)
    assert a["harvested_gain_usd"] == pytest.approx(4 * 100 * bid - 4 * 100 * 0.85)
    assert a["budget_usd"] == pytest.approx(a["harvested_gain_usd"] * 0.6)
    assert a["martingale_cap_contracts"] == math.floor(1.5 * 4)
    nv = c.rules.analysis.net_vega
    assert a["vega_after_harvest_usd"] == pytest.approx(
        a["vega_now_usd"] - float(nv.struct[1]), abs=0.011
    )
    r = a["roll"]
    per = r["vega_usd_per_unit"] if r else 0.0
    assert a["vega_after_roll_usd"] == pytest.approx(
        a["vega_after_harvest_usd"] + a["roll_contracts"] * per, abs=0.02
    )
    if r is not None:
        assert a["roll_cost_usd"] == pytest.approx(a["roll_contracts"] * r["cost_usd_per_unit"])


def test_the_candidate_is_the_call_closest_to_the_middle_of_both_windows(spiked: World) -> None:
    c = spiked.engine.last_cycle
    assert c is not None and c.rules is not None
    cands = c.rules.analysis.roll_candidates
    score = [abs(x.otm - 0.10) / 0.02 + abs(x.dte - 67.5) / 22.5 for x in cands]
    assert score == sorted(score) and len(cands) <= 3


def test_the_martingale_coefficient_tightens_while_mean_reversion_is_likely(spiked: World) -> None:
    c = spiked.engine.last_cycle
    assert c is not None and c.rules is not None and c.rules.analysis.plans is not None
    inputs = c.rules.analysis.plans.inputs
    on = Momentum(vix=20.0, by_timeframe={}, mean_reversion=True)
    tight = PlanBook(dataclasses.replace(inputs, momentum=on)).get("main")
    assert tight is not None
    assert tight.doc["martingale_coefficient"] == 1.0
    assert tight.doc["martingale_cap_contracts"] == 4
    pre = {p["name"]: p for p in tight.doc["preconditions"]}
    assert pre["vix_mean_reversion"]["holds"] is True


def test_every_signal_carries_the_next_macro_event_as_context(spiked: World) -> None:
    c = spiked.engine.last_cycle
    assert c is not None
    assert all("next_event" in s.context for s in c.signals)
