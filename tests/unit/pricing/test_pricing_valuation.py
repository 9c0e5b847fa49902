"""The engine's entry point: one call values every instrument of the universe."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from monitor import symbols
from monitor.market import MarketState
from monitor.pricing import _batch as batch
from monitor.pricing import _kernels as nb
from monitor.pricing import black
from monitor.pricing._jit import HAVE_NUMBA
from monitor.pricing.expiry import settlement_ns, year_fraction
from monitor.pricing.rates import RateCurve
from monitor.pricing.reasons import IvReason
from monitor.pricing.universe import Universe
from monitor.pricing.valuation import Valuation, value

SPXW_EXPIRY = dt.date(2026, 3, 20)
THIN_EXPIRY = dt.date(2026, 4, 17)
VIX_EXPIRY = dt.date(2026, 3, 18)
NOW = settlement_ns("SPXW", dt.date(2026, 3, 9)) - 3 * 3600 * 10**9
RATES = RateCurve.flat(0.04)
SPOT, YIELD, VX = 5500.0, 0.013, 19.0


def _vol(strike: np.ndarray, spx: np.ndarray) -> np.ndarray:
    return np.where(spx, 0.17 - 0.4 * np.log(strike / SPOT), 0.9 + 0.6 * np.log(strike / VX))


@pytest.fixture(scope="module")
def universe() -> Universe:
    syms = ["SPX", "VIX", symbols.future_symbol(VIX_EXPIRY)]
    syms += [symbols.option_symbol("SPXW", SPXW_EXPIRY, r, k)
             for k in range(5000, 6001, 25) for r in (1, -1)]  # fmt: skip
    syms += [symbols.option_symbol("SPX", THIN_EXPIRY, 1, 5600.0),
             symbols.option_symbol("SPX", THIN_EXPIRY, -1, 5400.0)]  # fmt: skip
    syms += [symbols.option_symbol("VIX", VIX_EXPIRY, r, k)
             for k in range(12, 41) for r in (1, -1)]  # fmt: skip
    return Universe.build([symbols.parse(s) for s in syms])


def _quotes(u: Universe) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return bid, ask, last and the generating vols: options quoted exactly at model value."""
    t = year_fraction(u.settle_ns, NOW)
    fwd = np.where(u.spot_based, SPOT * np.exp((0.04 - YIELD) * t), VX)
    vol = _vol(np.maximum(u.strike, 1.0), u.spot_based)
    premium = black.price(u.cp, fwd, u.strike, t, np.exp(-0.04 * t), vol)
    bid, ask = premium.copy(), premium.copy()
    linear = np.isnan(premium) | (u.cp == 0)
    bid[linear], ask[linear] = np.nan, np.nan
    last = np.full(len(u), np.nan)
    last[u.position["SPX"]], last[u.position["VIX"]] = SPOT, 17.5
    fut = u.position[symbols.future_symbol(VIX_EXPIRY)]
    bid[fut], ask[fut] = VX - 0.05, VX + 0.05
    return bid, ask, last, vol


@pytest.fixture(scope="module")
def valued(universe: Universe) -> tuple[Valuation, np.ndarray]:
    bid, ask, last, vol = _quotes(universe)
    return value(universe, bid, ask, last, NOW, RATES, YIELD), vol


def test_spxw_forward_comes_from_put_call_parity(valued: tuple[Valuation, np.ndarray]) -> None:
    v, _ = valued
    c = v.chain_index("SPXW", SPXW_EXPIRY)
    assert v.forward_method(c) == "parity"
    expected = SPOT * math.exp((0.04 - YIELD) * float(v.chain_t_years[c]))
    assert v.chain_forward[c] == pytest.approx(expected, rel=1e-12)


def test_thin_spx_chain_falls_back_to_carry_from_spot(valued: tuple[Valuation, np.ndarray]) -> None:
    v, _ = valued
    c = v.chain_index("SPX", THIN_EXPIRY)
    assert v.forward_method(c) == "carry"
    expected = SPOT * math.exp((0.04 - YIELD) * float(v.chain_t_years[c]))
    assert v.chain_forward[c] == pytest.approx(expected, rel=1e-12)


def test_vix_options_use_the_vx_future_of_their_expiry(
    valued: tuple[Valuation, np.ndarray],
) -> None:
    v, _ = valued
    c = v.chain_index("VIX", VIX_EXPIRY)
    assert v.forward_method(c) == "future"
    assert v.chain_forward[c] == pytest.approx(VX)


def test_vix_forward_is_implied_from_parity_when_the_future_is_missing(universe: Universe) -> None:
    bid, ask, last, _ = _quotes(universe)
    fut = universe.position[symbols.future_symbol(VIX_EXPIRY)]
    bid[fut] = ask[fut] = np.nan
    v = value(universe, bid, ask, last, NOW, RATES, YIELD)
    c = v.chain_index("VIX", VIX_EXPIRY)
    assert v.forward_method(c) == "parity"
    assert v.chain_forward[c] == pytest.approx(VX, rel=1e-12)


def test_mid_implied_vols_recover_the_quoted_smile(valued: tuple[Valuation, np.ndarray]) -> None:
    v, vol = valued
    ok = v.iv_reason == IvReason.OK
    assert ok.sum() > 80
    np.testing.assert_allclose(v.iv_mid[ok], vol[ok], atol=1e-9)
    np.testing.assert_allclose(v.iv_bid[ok], v.iv_mid[ok], atol=1e-9)


def test_each_option_carries_the_inputs_to_recompute_its_greeks(
    valued: tuple[Valuation, np.ndarray],
) -> None:
    v, _ = valued
    u = v.universe
    i = u.position[symbols.option_symbol("SPXW", SPXW_EXPIRY, -1, 5300.0)]
    assert v.df[i] == pytest.approx(math.exp(-v.rate[i] * v.t_years[i]))
    g = black.greeks(u.cp[i], v.forward[i], u.strike[i], v.t_years[i], v.df[i], v.vol[i],
                     carry=v.rate[i] - YIELD, spot_based=True)  # fmt: skip
    assert (g.delta, g.gamma, g.vega, g.theta) == pytest.approx(
        (v.delta[i], v.gamma[i], v.vega[i], v.theta[i]), rel=1e-12
    )


def test_indices_and_futures_have_unit_delta_and_no_other_greeks(
    valued: tuple[Valuation, np.ndarray],
) -> None:
    v, _ = valued
    for sym in ("SPX", "VIX", symbols.future_symbol(VIX_EXPIRY)):
        i = v.universe.position[sym]
        assert (v.delta[i], v.gamma[i], v.vega[i], v.theta[i], v.rho[i]) == (1, 0, 0, 0, 0)
        assert v.iv_reason[i] == IvReason.NOT_AN_OPTION
    assert v.mid[v.universe.position["SPX"]] == SPOT
    assert v.mid[v.universe.position[symbols.future_symbol(VIX_EXPIRY)]] == pytest.approx(VX)


def test_option_without_its_own_iv_gets_greeks_from_the_smile(universe: Universe) -> None:
    bid, ask, last, _ = _quotes(universe)
    i = universe.position[symbols.option_symbol("SPXW", SPXW_EXPIRY, 1, 5500.0)]
    bid[i] = ask[i] = np.nan
    v = value(universe, bid, ask, last, NOW, RATES, YIELD)
    assert v.iv_reason[i] == IvReason.NO_QUOTE
    assert v.vol_from_smile[i]
    assert v.vol[i] == pytest.approx(float(v.smile_iv(int(universe.chain_id[i]), 5500.0)))
    assert 0.4 < v.delta[i] < 0.6


def test_expected_move_is_forward_atm_vol_root_time(valued: tuple[Valuation, np.ndarray]) -> None:
    v, _ = valued
    c = v.chain_index("SPXW", SPXW_EXPIRY)
    atm = float(v.smile_iv(c, v.chain_forward[c]))
    assert v.chain_atm_iv[c] == pytest.approx(atm)
    assert v.expected_move(c) == pytest.approx(
        v.chain_forward[c] * atm * math.sqrt(v.chain_t_years[c])
    )


def test_sigma_distance_of_the_forward_is_zero(valued: tuple[Valuation, np.ndarray]) -> None:
    v, _ = valued
    c = v.chain_index("SPXW", SPXW_EXPIRY)
    assert v.sigma_distance(c, v.chain_forward[c]) == pytest.approx(0.0, abs=1e-12)


def test_universe_rejects_duplicate_symbols() -> None:
    spx = symbols.parse("SPX")
    with pytest.raises(ValueError, match="duplicate"):
        Universe.build([spx, spx])


def test_universe_shares_the_markets_index_instead_of_copying_it() -> None:
    market = MarketState()
    vix_call = symbols.option_symbol("VIX", VIX_EXPIRY, 1, 20.0)
    market.register_all(["SPX", "VIX", symbols.future_symbol(VIX_EXPIRY), vix_call])
    u = Universe.build(market.instruments, market.index)
    assert u.position is market.index
    assert u.chains == Universe.build(market.instruments).chains


def test_universe_rejects_a_position_that_is_not_its_rows() -> None:
    insts = [symbols.parse("SPX"), symbols.parse("VIX")]
    with pytest.raises(ValueError, match="row"):
        Universe.build(insts, {"SPX": 1, "VIX": 0})
    with pytest.raises(ValueError, match="row"):
        Universe.build([insts[0], insts[0]], {"SPX": 0})


def test_seeding_with_the_previous_valuation_gives_the_same_vols(universe: Universe) -> None:
    bid, ask, last, _ = _quotes(universe)
    first = value(universe, bid, ask, last, NOW, RATES, YIELD)
    later = NOW + 250_000_000
    cold = value(universe, bid, ask, last, later, RATES, YIELD)
    warm = value(universe, bid, ask, last, later, RATES, YIELD, previous=first)
    np.testing.assert_array_equal(cold.iv_reason, warm.iv_reason)
    np.testing.assert_allclose(warm.iv_mid, cold.iv_mid, rtol=1e-12)
    np.testing.assert_allclose(warm.delta, cold.delta, rtol=1e-10, atol=1e-14)


@pytest.mark.skipif(not HAVE_NUMBA, reason="only compiled kernels can compile late")
def test_first_tick_after_building_a_universe_compiles_nothing(universe: Universe) -> None:
    kernels = (nb.price_kernel, batch.iv_kernel, nb.greeks_kernel, batch.iv_greeks_kernel)
    before = [len(k.signatures) for k in kernels]
    bid, ask, last, _ = _quotes(universe)
    value(universe, bid, ask, last, NOW, RATES, YIELD)
    assert [len(k.signatures) for k in kernels] == before
    assert all(n == 1 for n in before)


def test_an_unchanged_tick_reuses_the_previous_results(universe: Universe) -> None:
    bid, ask, last, _ = _quotes(universe)
    first = value(universe, bid, ask, last, NOW, RATES, YIELD)
    again = value(universe, bid, ask, last, NOW, RATES, YIELD, previous=first)
    for name in ("iv_bid", "iv_mid", "iv_ask", "iv_reason", "vol", "delta", "gamma", "theta"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))


def test_only_options_whose_inputs_changed_are_solved_again(universe: Universe) -> None:
    bid, ask, last, _ = _quotes(universe)
    first = value(universe, bid, ask, last, NOW, RATES, YIELD)
    wing = universe.position[symbols.option_symbol("SPXW", SPXW_EXPIRY, 1, 5700.0)]
    bid[wing] *= 0.9
    again = value(universe, bid, ask, last, NOW, RATES, YIELD, previous=first)
    cold = value(universe, bid, ask, last, NOW, RATES, YIELD)
    assert again.iv_bid[wing] == pytest.approx(cold.iv_bid[wing], rel=1e-12)
    assert again.iv_bid[wing] < first.iv_bid[wing]
    others = np.arange(len(universe)) != wing
    np.testing.assert_array_equal(again.iv_bid[others], first.iv_bid[others])


def test_a_new_rate_curve_solves_everything_again(universe: Universe) -> None:
    bid, ask, last, _ = _quotes(universe)
    first = value(universe, bid, ask, last, NOW, RATES, YIELD)
    higher = RateCurve.flat(0.05)
    again = value(universe, bid, ask, last, NOW, higher, YIELD, previous=first)
    cold = value(universe, bid, ask, last, NOW, higher, YIELD)
    np.testing.assert_allclose(again.iv_mid, cold.iv_mid, rtol=1e-12)
    np.testing.assert_allclose(again.rho, cold.rho, rtol=1e-10, atol=1e-14)


def test_bid_and_ask_vols_are_solved_for_the_asked_rows_only(universe: Universe) -> None:
    bid, ask, last, _ = _quotes(universe)
    full = value(universe, bid, ask, last, NOW, RATES, YIELD)
    held = np.array(sorted(universe.position[s] for s in universe.symbols[5:9]), np.int64)
    some = value(universe, bid, ask, last, NOW, RATES, YIELD, sides=held)
    others = np.setdiff1d(universe.option_pos, held)
    np.testing.assert_array_equal(some.iv_bid[held], full.iv_bid[held])
    np.testing.assert_array_equal(some.iv_ask[held], full.iv_ask[held])
    assert np.isnan(some.iv_bid[others]).all() and np.isnan(some.iv_ask[others]).all()
    assert (some.iv_bid_reason[others] == IvReason.NOT_SOLVED).all()
    for name in ("iv_mid", "vol", "delta", "vega", "theta", "chain_forward", "chain_atm_iv"):
        np.testing.assert_array_equal(getattr(some, name), getattr(full, name), err_msg=name)


def test_a_row_asked_for_later_is_solved_though_its_quotes_did_not_move(
    universe: Universe,
) -> None:
    bid, ask, last, _ = _quotes(universe)
    first, second = (np.array([universe.position[universe.symbols[i]]], np.int64) for i in (5, 6))
    before = value(universe, bid, ask, last, NOW, RATES, YIELD, sides=first)
    after = value(universe, bid, ask, last, NOW, RATES, YIELD, sides=second, previous=before)
    assert after.iv_bid_reason[second[0]] != IvReason.NOT_SOLVED
    assert np.isfinite(after.iv_bid[second[0]])
