"""Layer gain on live marks, hysteresis, stale marks, and the roll advisory's numbers."""

from __future__ import annotations

import dataclasses
import math

import pytest

from monitor.alerts import AlertMachine
from monitor.rules import roll
from monitor.rules.context import RuleContext
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
    assert [e.key for e in fired if e.rule == "layer_gain"] == [
        "layer_gain|main|L1@1.5",
        "layer_gain|main|L1@2",
    ]
    assert signal(silent, "layer_gain|main|L1@1.5").condition == "unknown"
    assert not [e for e in events if e.status == "resolved"]
    assert machine.states["layer_gain|main|L1@1.5"].firing


@pytest.fixture(scope="module")
def spiked() -> World:
    w = World()
    w.tick()
    w.tick(vol=SPIKE_VOL)
    return w


def test_every_layer_gain_alert_carries_a_roll_advisory_and_an_action(spiked: World) -> None:
    c = spiked.engine.last_cycle
    assert c is not None
    s = signal(c, "layer_gain|main|L1@2").materialize()
    assert s.advisory["layer"] == "L1" and s.action.startswith("Harvest L1: sell 4 contract(s)")
    assert "Do not add size into the pop." in s.action


def test_the_advisory_numbers_follow_from_the_quotes_by_hand(spiked: World) -> None:
    c = spiked.engine.last_cycle
    assert c is not None and c.rules is not None
    a = signal(c, "layer_gain|main|L1@1.5").materialize().advisory
    st, market = c.state, spiked.engine.market
    bid = float(st.leg_bid[4])  # the layer's one leg: 4 x VIX261216C00020000
    assert a["harvest_proceeds_usd"] == pytest.approx(4 * 100 * bid)
    assert a["harvestable_gain_usd"] == pytest.approx(4 * 100 * bid - 4 * 100 * 0.85)
    assert a["recycle_usd"] == pytest.approx(a["harvestable_gain_usd"] * 0.5)
    cand = a["candidate"]
    row = market.index[cand["symbol"]]
    assert cand["ask"] == float(market.ask[row])
    assert 45 <= cand["dte"] <= 90 and 8.0 <= cand["otm_pct"] <= 12.0
    assert a["affordable_contracts"] == math.floor(a["recycle_usd"] / (cand["ask"] * 100))
    assert a["max_next_layer_contracts"] == math.floor(1.5 * 4)
    assert a["roll_contracts"] == min(a["affordable_contracts"], a["max_next_layer_contracts"])
    assert a["vega_after_harvest_usd"] == pytest.approx(
        a["vega_now_usd"] - a["layer_vega_usd"], abs=0.011
    )
    per = cand["vega_usd_per_contract"]
    assert a["vega_after_roll_usd"] == pytest.approx(
        a["vega_after_harvest_usd"] + a["roll_contracts"] * per, abs=0.02
    )
    gap = a["vega_baseline_usd"] - a["vega_after_harvest_usd"]
    assert a["restore_contracts"] == max(math.ceil(gap / per - 1e-9), 0)


def test_the_candidate_is_the_call_closest_to_the_middle_of_both_windows(spiked: World) -> None:
    c = spiked.engine.last_cycle
    assert c is not None and c.rules is not None
    cands = c.rules.analysis.roll_candidates
    score = [abs(x.otm - 0.10) / 0.02 + abs(x.dte - 67.5) / 22.5 for x in cands]
    assert score == sorted(score) and len(cands) <= 3


def test_the_martingale_coefficient_tightens_while_mean_reversion_is_likely(spiked: World) -> None:
    c, e = spiked.engine.last_cycle, spiked.engine
    assert c is not None and c.rules is not None
    a = c.rules.analysis
    on = dataclasses.replace(a, momentum=Momentum(vix=20.0, by_timeframe={}, mean_reversion=True))
    ctx = RuleContext(
        now_ns=c.now_ns,
        cfg=e.settings.rules,
        engine=e.settings.engine,
        state=c.state,
        valuation=c.valuation,
        market=e.market,
        market_stale=False,
        memory=e.memory,
        analysis=on,
        emitted={},
        full=True,
        layouts=e.memory.layouts,
        context={},
    )
    s = int(c.state.index.struct_names.index("L1"))
    tight = roll.advisory(ctx, s, e.settings.rules.roll)
    assert tight["martingale_coefficient"] == 1.0 and tight["max_next_layer_contracts"] == 4
    assert tight["mean_reversion_likely"] is True


def test_every_signal_carries_the_next_macro_event_as_context(spiked: World) -> None:
    c = spiked.engine.last_cycle
    assert c is not None
    assert all("next_event" in s.context for s in c.signals)
