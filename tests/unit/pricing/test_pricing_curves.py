"""Rate curves, parity forwards and the smile."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.pricing import black
from monitor.pricing.forwards import carry_forward, chain_parity_forwards, parity_forward
from monitor.pricing.rates import RateCurve
from monitor.pricing.smile import Smile


def test_flat_curve_gives_one_rate_everywhere() -> None:
    curve = RateCurve.from_config(0.043)
    np.testing.assert_allclose(curve.rate([0.0, 0.1, 5.0]), 0.043)


def test_curve_is_linear_between_points_and_flat_beyond() -> None:
    curve = RateCurve.from_config([[30, 0.04], [365, 0.05]])
    days = np.array([0.0, 30.0, 197.5, 365.0, 1000.0])
    np.testing.assert_allclose(curve.rate(days / 365), [0.04, 0.04, 0.045, 0.05, 0.05])


def test_discount_factor_is_exp_minus_rt() -> None:
    assert RateCurve.flat(0.05).discount(2.0) == pytest.approx(math.exp(-0.1))


def test_curve_rejects_unsorted_or_empty_points() -> None:
    with pytest.raises(ValueError):
        RateCurve(days=(30.0, 10.0), rates=(0.04, 0.05))
    with pytest.raises(ValueError):
        RateCurve(days=(), rates=())


def _chain(forward: float, t: float, df: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    strikes = np.arange(4800.0, 5201.0, 25.0)
    vol = 0.18 - 0.3 * np.log(strikes / forward)
    calls = black.price(1.0, forward, strikes, t, df, vol)
    puts = black.price(-1.0, forward, strikes, t, df, vol)
    return strikes, calls, puts


def test_parity_forward_recovers_the_forward_from_the_most_balanced_strike() -> None:
    df = math.exp(-0.04 * 0.1)
    strikes, calls, puts = _chain(5012.3, 0.1, df)
    assert parity_forward(strikes, calls, puts, df) == pytest.approx(5012.3, rel=1e-12)


def test_parity_forward_ignores_strikes_missing_a_side() -> None:
    df = math.exp(-0.04 * 0.1)
    strikes, calls, puts = _chain(5012.3, 0.1, df)
    calls[8] = np.nan  # the 5000 strike, the balanced one
    assert parity_forward(strikes, calls, puts, df) == pytest.approx(5012.3, rel=1e-12)


def test_thin_chain_has_no_parity_forward() -> None:
    assert math.isnan(parity_forward([5000.0, 5025.0], [30.0, 20.0], [25.0, 40.0], 1.0))


def test_every_chain_gets_its_own_parity_forward_at_once() -> None:
    df = np.array([0.999, 0.99])
    k1, c1, p1 = _chain(5010.0, 0.02, 0.999)
    k2, c2, p2 = _chain(5060.0, 0.25, 0.99)
    chain = np.repeat([0, 1], k1.size)
    out = chain_parity_forwards(
        chain, np.r_[k1, k2], np.r_[c1, c2], np.r_[p1, p2], df, 3, min_pairs=3
    )
    np.testing.assert_allclose(out[:2], [5010.0, 5060.0], rtol=1e-12)
    assert math.isnan(out[2])


def test_carry_forward_is_spot_grown_at_rate_minus_yield() -> None:
    assert carry_forward(5000.0, 0.05, 0.01, 0.5) == pytest.approx(5000.0 * math.exp(0.02))


def _smile() -> Smile:
    strikes = np.array([4800.0, 4900.0, 5000.0, 5100.0, 5200.0])
    calls = np.array([np.nan, 0.22, 0.20, 0.17, 0.15])
    puts = np.array([0.26, 0.23, 0.21, np.nan, 0.30])
    return Smile.from_quotes(5050.0, 0.1, strikes, calls, puts)


def test_smile_uses_the_out_of_the_money_side_and_falls_back_to_the_other() -> None:
    smile = _smile()
    np.testing.assert_allclose(smile.iv([4800.0, 4900.0, 5000.0, 5100.0]), [0.26, 0.23, 0.21, 0.17])


def test_smile_interpolates_total_variance_linearly_in_log_moneyness() -> None:
    smile = _smile()
    k = 5050.0  # between 5000 (put wing, 0.21) and 5100 (call wing, 0.17)
    x0, x1, x = (math.log(v / 5050.0) for v in (5000.0, 5100.0, k))
    w = 0.21**2 + (0.17**2 - 0.21**2) * (x - x0) / (x1 - x0)
    assert smile.iv(k) == pytest.approx(math.sqrt(w))


def test_smile_is_flat_beyond_the_outermost_strikes() -> None:
    smile = _smile()
    np.testing.assert_allclose(smile.iv([3000.0, 9000.0]), [0.26, 0.15])


def test_expected_move_is_forward_times_atm_vol_times_root_time() -> None:
    smile = _smile()
    assert smile.expected_move() == pytest.approx(5050.0 * smile.atm_iv() * math.sqrt(0.1))


def test_sigma_distance_uses_the_smile_vol_at_the_level() -> None:
    smile = _smile()
    level = 4900.0
    expected = math.log(level / 5050.0) / (0.23 * math.sqrt(0.1))
    assert smile.sigma_distance(level) == pytest.approx(expected)


def test_empty_smile_gives_nan() -> None:
    smile = Smile.from_quotes(5000.0, 0.1, [5000.0], [np.nan], [np.nan])
    assert math.isnan(smile.atm_iv())
