"""Per-book rules on the simulated market: Greek limits, vega drift, stress coverage,
break-even drift, baselines and the sizing guard."""

from __future__ import annotations

import pytest

from monitor.engine import Cycle
from tests.unit.rules.rules_world import World, condition, portfolio, settings, signal

SPIKE = 0.30


def measured() -> Cycle:
    w = World()
    return w.tick()


@pytest.fixture(scope="module")
def calm() -> Cycle:
    return measured()


def greeks_condition(subject: str, limits: dict[str, float]) -> str:
    w = World(settings(greeks={"defaults": limits}))
    return condition(w.tick(), f"greeks|main|{subject}")


@pytest.mark.parametrize(
    ("scale", "want"), [(1.0, "breach"), (1 - 1e-9, "breach"), (1 + 1e-9, "hold"), (1.2, "clear")]
)
def test_net_delta_fires_at_and_beyond_its_limit(calm: Cycle, scale: float, want: str) -> None:
    delta = abs(float(calm.state.book_delta_spx_1pct_usd[0]))
    assert greeks_condition("delta", {"delta_1pct_usd": delta * scale}) == want


@pytest.mark.parametrize(("scale", "want"), [(1.0, "breach"), (1 + 1e-9, "hold"), (1.2, "clear")])
def test_net_vega_fires_at_and_beyond_its_limit(calm: Cycle, scale: float, want: str) -> None:
    assert calm.rules is not None
    vega = abs(float(calm.rules.analysis.net_vega.book[0]))
    assert greeks_condition("vega", {"vega_usd": vega * scale}) == want


@pytest.mark.parametrize(("offset", "want"), [(0.0, "breach"), (-1e-9, "hold"), (-50.0, "clear")])
def test_theta_fires_at_and_below_its_floor(calm: Cycle, offset: float, want: str) -> None:
    theta = float(calm.state.book_theta_usd[0])
    assert greeks_condition("theta", {"theta_min_usd": theta + offset}) == want


def test_a_per_book_limit_overrides_the_default(calm: Cycle) -> None:
    gamma = abs(float(calm.state.book_gamma_spx_1pct_usd[0]))
    w = World(settings(greeks={"books": {"main": {"gamma_1pct_usd": gamma / 2}}}))
    assert condition(w.tick(), "greeks|main|gamma") == "breach"


def test_net_vega_drift_from_the_session_baseline_fires() -> None:
    w = World(settings(greeks={"defaults": {"vega_drift_usd": 100.0}}))
    first = w.tick()
    assert condition(first, "greeks|main|vega_drift") == "clear"
    s = signal(w.tick(vol=SPIKE), "greeks|main|vega_drift").materialize()
    assert s.condition == "breach" and s.values["vega_baseline_usd"] == pytest.approx(
        float(first.rules.analysis.net_vega.book[0]) if first.rules else 0.0, abs=0.01
    )


def test_a_position_change_keeps_the_vega_baseline() -> None:
    w = World()
    first = w.tick()
    w.tick(vol=SPIKE)
    w.engine.set_portfolio(portfolio(layer_qty=6))  # size added to the layer: not a plan
    c = w.tick(vol=SPIKE)
    assert c.rules is not None and first.rules is not None
    base = float(first.rules.analysis.net_vega.book[0])
    assert c.rules.analysis.vega_baseline[0] == pytest.approx(base)
    assert c.rules.analysis.vega_baseline[0] != pytest.approx(c.rules.analysis.net_vega.book[0])


def test_a_new_session_keeps_the_vega_baseline() -> None:
    w = World()
    w.tick()
    base = w.engine.memory.vega_baseline.copy()
    c = w.tick(24 * 3600.0, vol=SPIKE)  # the next day's session
    assert c.rules is not None
    assert c.rules.analysis.vega_baseline[0] == pytest.approx(base[0])


def test_stress_coverage_fires_at_and_below_its_minimum(calm: Cycle) -> None:
    assert calm.rules is not None
    cov = float(calm.rules.analysis.stress.coverage[0])
    for minimum, want in [
        (cov, "breach"),
        (cov * (1 + 1e-9), "breach"),
        (cov * (1 - 1e-9), "hold"),
        (cov - 0.2, "clear"),
    ]:
        w = World(settings(stress={"min_coverage": minimum}))
        assert condition(w.tick(), "stress|main|coverage") == want


def test_coverage_counts_the_short_marks_as_liabilities_not_assets(calm: Cycle) -> None:
    assert calm.rules is not None
    st = calm.rules.analysis.stress
    assert st.worst_loss_usd[0] == pytest.approx(-st.pnl[0].min())
    assert st.coverage[0] == pytest.approx(st.assets_usd[0] / st.worst_call_usd[0])
    short = calm.state.leg_value_usd[[1, 2]]  # the condor's short put and call (negative)
    assert st.funds.short_liability_usd[0] == pytest.approx(-short.sum())
    assert st.assets_usd[0] == pytest.approx(60_000 + short.sum() + st.funds.premium_to_earn_usd[0])


def test_break_evens_are_measured_against_the_session_baseline() -> None:
    w = World(settings(breakeven={"drift_points": 10.0}))
    first = w.tick()
    assert condition(first, "breakeven|main|IC:lower:drift") == "clear"
    c = w.tick(vol=SPIKE)  # the hedge gain pushes the break-evens out
    s = signal(c, "breakeven|main|IC:lower:drift").materialize()
    assert s.condition == "breach"
    assert s.values["drift_points"] == pytest.approx(
        s.values["breakeven_points"] - s.values["baseline_points"], abs=0.011
    )


def grow_layer_after_gain(hours_later: float, new_qty: int) -> World:
    w = World()
    w.tick()
    w.tick(vol=SPIKE)  # the layer pops: its gain alert fires
    w.tick(hours_later * 3600, vol=0.14)  # the gain is gone again by the reload
    w.engine.set_portfolio(portfolio(layer_qty=new_qty))
    return w


def test_adding_more_than_the_allowed_growth_into_a_pop_warns() -> None:
    w = grow_layer_after_gain(1.0, new_qty=6)
    s = signal(w.tick(vol=0.14), "sizing|main|L1")
    assert s.condition == "breach" and s.values["contracts_after"] == 6


def test_growth_at_the_limit_is_allowed() -> None:
    w = grow_layer_after_gain(1.0, new_qty=5)  # +25%, the default limit
    assert condition(w.tick(vol=0.14), "sizing|main|L1") == "clear"


def test_adding_size_long_after_the_gain_alert_is_not_a_pop() -> None:
    w = grow_layer_after_gain(25.0, new_qty=8)
    assert condition(w.tick(vol=0.14), "sizing|main|L1") == "clear"


def test_the_sizing_warning_resolves_after_its_window() -> None:
    w = grow_layer_after_gain(1.0, new_qty=6)
    assert condition(w.tick(vol=0.14), "sizing|main|L1") == "breach"
    assert condition(w.tick(24 * 3600 + 1, vol=0.14), "sizing|main|L1") == "clear"
