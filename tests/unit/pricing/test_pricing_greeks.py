"""Greeks against finite differences of the price, parity, and hypothesis invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.pricing import black

CALL, PUT = 1.0, -1.0
CASES = [  # cp, forward, strike, t, rate, vol
    (CALL, 5000.0, 5100.0, 30 / 365, 0.045, 0.16),
    (PUT, 5000.0, 4700.0, 30 / 365, 0.045, 0.24),
    (CALL, 5000.0, 4800.0, 2 / 365, 0.045, 0.30),
    (PUT, 18.0, 16.0, 60 / 365, 0.045, 0.85),
    (CALL, 18.0, 25.0, 20 / 365, 0.045, 1.20),
    (PUT, 5000.0, 5000.0, 1.5, 0.045, 0.18),
]


def _value(cp: float, f: float, k: float, t: float, r: float, vol: float) -> float:
    return float(black.price(cp, f, k, t, math.exp(-r * t), vol))


@pytest.mark.parametrize("case", CASES)
def test_delta_matches_central_difference_in_forward(case: tuple[float, ...]) -> None:
    cp, f, k, t, r, vol = case
    h = f * 1e-5
    fd = (_value(cp, f + h, k, t, r, vol) - _value(cp, f - h, k, t, r, vol)) / (2 * h)
    g = black.greeks(cp, f, k, t, math.exp(-r * t), vol)
    assert g.delta == pytest.approx(fd, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("case", CASES)
def test_gamma_matches_second_difference_in_forward(case: tuple[float, ...]) -> None:
    cp, f, k, t, r, vol = case
    h = f * 1e-4
    up, mid, down = (_value(cp, f + d, k, t, r, vol) for d in (h, 0.0, -h))
    g = black.greeks(cp, f, k, t, math.exp(-r * t), vol)
    assert g.gamma == pytest.approx((up - 2 * mid + down) / h**2, rel=1e-4, abs=1e-9)


@pytest.mark.parametrize("case", CASES)
def test_vega_is_price_change_per_vol_point(case: tuple[float, ...]) -> None:
    cp, f, k, t, r, vol = case
    h = 1e-5
    fd = (_value(cp, f, k, t, r, vol + h) - _value(cp, f, k, t, r, vol - h)) / (2 * h) * 0.01
    g = black.greeks(cp, f, k, t, math.exp(-r * t), vol)
    assert g.vega == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_theta_is_value_change_per_calendar_day_with_forward_fixed(
    case: tuple[float, ...],
) -> None:
    cp, f, k, t, r, vol = case
    h = t * 1e-4
    fd = (_value(cp, f, k, t - h, r, vol) - _value(cp, f, k, t + h, r, vol)) / (2 * h) / 365
    g = black.greeks(cp, f, k, t, math.exp(-r * t), vol)
    assert g.theta == pytest.approx(fd, rel=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_spot_based_theta_lets_the_forward_drift_at_the_carry(case: tuple[float, ...]) -> None:
    cp, f, k, t, r, vol = case
    carry, h = 0.03, t * 1e-4
    spot = f * math.exp(-carry * t)

    def at(tt: float) -> float:
        return _value(cp, spot * math.exp(carry * tt), k, tt, r, vol)

    fd = (at(t - h) - at(t + h)) / (2 * h) / 365
    g = black.greeks(cp, f, k, t, math.exp(-r * t), vol, carry=carry, spot_based=True)
    assert g.theta == pytest.approx(fd, rel=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_rho_is_value_change_per_rate_point(case: tuple[float, ...]) -> None:
    cp, f, k, t, r, vol = case
    h = 1e-6
    fd = (_value(cp, f, k, t, r + h, vol) - _value(cp, f, k, t, r - h, vol)) / (2 * h) * 0.01
    g = black.greeks(cp, f, k, t, math.exp(-r * t), vol)
    assert g.rho == pytest.approx(fd, rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_spot_based_rho_moves_the_forward_with_the_rate(case: tuple[float, ...]) -> None:
    cp, f, k, t, r, vol = case
    h, q = 1e-6, 0.01
    spot = f * math.exp(-(r - q) * t)

    def at(rr: float) -> float:
        return _value(cp, spot * math.exp((rr - q) * t), k, t, rr, vol)

    fd = (at(r + h) - at(r - h)) / (2 * h) * 0.01
    g = black.greeks(cp, f, k, t, math.exp(-r * t), vol, carry=r - q, spot_based=True)
    assert g.rho == pytest.approx(fd, rel=1e-5)


def test_expired_option_is_worth_discounted_intrinsic_with_step_delta() -> None:
    g = black.greeks([CALL, PUT, CALL], 100.0, [90.0, 90.0, 100.0], 0.0, 1.0, 0.2)
    np.testing.assert_allclose(g.price, [10.0, 0.0, 0.0])
    np.testing.assert_allclose(g.delta, [1.0, 0.0, 0.5])
    np.testing.assert_allclose([g.gamma, g.vega, g.theta, g.rho], 0.0)


def test_nan_vol_gives_nan_greeks_not_zero() -> None:
    g = black.greeks(CALL, 100.0, 100.0, 0.1, 1.0, np.nan)
    assert all(np.isnan(getattr(g, n)) for n in ("price", "delta", "gamma", "vega"))


forwards = st.floats(10.0, 8000.0)
moneyness = st.floats(-1.5, 1.5)
times = st.floats(1e-6, 3.0)
vols = st.floats(0.02, 3.0)
rates = st.floats(-0.01, 0.1)


@settings(max_examples=300, deadline=None)
@given(forwards, moneyness, times, vols, rates)
def test_put_call_parity_holds(f: float, m: float, t: float, vol: float, r: float) -> None:
    k, df = f * math.exp(m), math.exp(-r * t)
    call, put = black.price([CALL, PUT], f, k, t, df, vol)
    assert call - put == pytest.approx(df * (f - k), abs=1e-12 * max(f, k))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([CALL, PUT]), forwards, moneyness, times, vols, rates)
def test_gamma_and_vega_are_never_negative(
    cp: float, f: float, m: float, t: float, vol: float, r: float
) -> None:
    g = black.greeks(cp, f, f * math.exp(m), t, math.exp(-r * t), vol)
    assert g.gamma >= 0.0
    assert g.vega >= 0.0


@settings(max_examples=300, deadline=None)
@given(forwards, moneyness, times, vols, rates, st.floats(0.0, 0.05))
def test_call_spot_delta_lies_between_zero_and_dividend_discount(
    f: float, m: float, t: float, vol: float, r: float, q: float
) -> None:
    spot = f * math.exp(-(r - q) * t)
    g = black.greeks(CALL, f, f * math.exp(m), t, math.exp(-r * t), vol)
    spot_delta = float(g.delta) * f / spot
    assert 0.0 <= spot_delta <= math.exp(-q * t) * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([CALL, PUT]), forwards, moneyness, times, vols, rates)
def test_price_rises_with_vol(
    cp: float, f: float, m: float, t: float, vol: float, r: float
) -> None:
    k, df = f * math.exp(m), math.exp(-r * t)
    low, high = black.price(cp, f, k, t, df, [vol, vol * 1.01])
    assert high >= low


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([CALL, PUT]), forwards, moneyness, times, vols, rates)
def test_implied_vol_round_trips_every_solvable_price(
    cp: float, f: float, m: float, t: float, vol: float, r: float
) -> None:
    k, df = f * math.exp(m), math.exp(-r * t)
    g = black.greeks(cp, f, k, t, df, vol)
    solved, reason = black.implied_vol(cp, f, k, t, df, g.price, tick=0.0)
    # Conditioning: rounding the premium to double moves the vol by about eps * price / vega.
    with np.errstate(all="ignore"):
        noise = 64 * np.finfo(float).eps * float(g.price) / (float(g.vega) * 100)
    if reason == 0:
        assert abs(float(solved) - vol) <= max(1e-8, noise)
    else:
        assert noise > 1e-9 or float(g.price) < 1e-250
