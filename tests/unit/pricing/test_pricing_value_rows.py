"""A partial revaluation: some rows take the current quotes, the rest stay as they were."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from monitor import symbols
from monitor.pricing import black
from monitor.pricing.expiry import settlement_ns, year_fraction
from monitor.pricing.rates import RateCurve
from monitor.pricing.universe import Universe
from monitor.pricing.valuation import Valuation, value, value_rows

SPXW_EXPIRY = dt.date(2026, 3, 20)
VIX_EXPIRY = dt.date(2026, 3, 18)
NOW = settlement_ns("SPXW", dt.date(2026, 3, 9)) - 3 * 3600 * 10**9
RATES = RateCurve.flat(0.04)
SPOT, YIELD, VX = 5500.0, 0.013, 19.0
PER_ROW = ("bid", "ask", "mid", "forward", "iv_bid", "iv_mid", "iv_ask", "vol", "price",
           "delta", "gamma", "vega", "theta", "rho")  # fmt: skip


@pytest.fixture(scope="module")
def universe() -> Universe:
    syms = ["SPX", "VIX", symbols.future_symbol(VIX_EXPIRY)]
    syms += [symbols.option_symbol("SPXW", SPXW_EXPIRY, r, k)
             for k in range(5000, 6001, 25) for r in (1, -1)]  # fmt: skip
    syms += [symbols.option_symbol("VIX", VIX_EXPIRY, r, k)
             for k in range(12, 41) for r in (1, -1)]  # fmt: skip
    return Universe.build([symbols.parse(s) for s in syms])


def quotes(u: Universe, spot: float = SPOT, vx: float = VX) -> tuple[np.ndarray, ...]:
    """Bid, ask and last with options 0.1 wide around their model value."""
    t = year_fraction(u.settle_ns, NOW)
    fwd = np.where(u.spot_based, spot * np.exp((0.04 - YIELD) * t), vx)
    strike = np.maximum(u.strike, 1.0)
    smile = np.where(u.spot_based, -0.4 * np.log(strike / spot), 0.6 * np.log(strike / vx))
    vol = np.where(u.spot_based, 0.17, 0.9) + smile
    premium = black.price(u.cp, fwd, u.strike, t, np.exp(-0.04 * t), vol)
    bid, ask = np.maximum(premium - 0.05, 0.0), premium + 0.05
    linear = np.isnan(premium) | (u.cp == 0)
    bid[linear], ask[linear] = np.nan, np.nan
    last = np.full(len(u), np.nan)
    last[u.position["SPX"]], last[u.position["VIX"]] = spot, 17.5
    fut = u.position[symbols.future_symbol(VIX_EXPIRY)]
    bid[fut], ask[fut] = vx - 0.05, vx + 0.05
    return bid, ask, last


def full(u: Universe, bid: np.ndarray, ask: np.ndarray, last: np.ndarray) -> Valuation:
    return value(u, bid, ask, last, NOW, RATES, YIELD)


def test_revalued_rows_match_a_full_valuation_of_the_same_quotes(universe: Universe) -> None:
    before = full(universe, *quotes(universe))
    now = quotes(universe, spot=5560.0, vx=20.0)  # every quote and both forwards moved
    rows = [universe.position[symbols.option_symbol("SPXW", SPXW_EXPIRY, 1, 5600.0)],
            universe.position[symbols.option_symbol("VIX", VIX_EXPIRY, 1, 25.0)]]  # fmt: skip
    part, whole = value_rows(before, rows, *now), full(universe, *now)
    for name in PER_ROW:
        np.testing.assert_allclose(getattr(part, name)[rows], getattr(whole, name)[rows],
                                   rtol=1e-9, err_msg=name)  # fmt: skip
    chains = universe.chain_id[rows]
    np.testing.assert_array_equal(part.chain_forward[chains], whole.chain_forward[chains])


def test_other_rows_and_the_smiles_stay_the_previous_valuations(universe: Universe) -> None:
    before = full(universe, *quotes(universe))
    row = universe.position[symbols.option_symbol("VIX", VIX_EXPIRY, 1, 25.0)]
    part = value_rows(before, [row], *quotes(universe, spot=5560.0, vx=20.0))
    others = np.setdiff1d(np.arange(len(universe)), [row])
    for name in PER_ROW:
        np.testing.assert_array_equal(getattr(part, name)[others], getattr(before, name)[others])
    spx = universe.chain_index("SPXW", SPXW_EXPIRY)
    assert part.chain_forward[spx] == before.chain_forward[spx]  # no revalued row in that chain
    assert part.smiles is before.smiles and part.now_ns == before.now_ns


def test_a_partial_revaluation_leaves_the_previous_one_unchanged(universe: Universe) -> None:
    before = full(universe, *quotes(universe))
    kept = {name: getattr(before, name).copy() for name in PER_ROW}
    value_rows(before, np.arange(len(universe)), *quotes(universe, spot=5560.0, vx=20.0))
    for name in PER_ROW:
        np.testing.assert_array_equal(getattr(before, name), kept[name])


def test_a_full_valuation_after_a_partial_one_is_the_same_as_without_it(
    universe: Universe,
) -> None:
    start = full(universe, *quotes(universe))
    now = quotes(universe, spot=5560.0, vx=20.0)
    seeded = value(universe, *now, NOW, RATES, YIELD, previous=value_rows(start, [5, 90], *now))
    plain = value(universe, *now, NOW, RATES, YIELD, previous=start)
    for name in PER_ROW:
        np.testing.assert_allclose(getattr(seeded, name), getattr(plain, name), rtol=1e-9,
                                   equal_nan=True, err_msg=name)  # fmt: skip
