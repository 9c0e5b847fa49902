"""Implied-vol accuracy: round trips over a wide grid and an mpmath reference.

Targets: |vol error| <= 1e-10 where the time value is at least 0.05, <= 1e-8 wherever the vol
is identifiable at double precision, and no failed solve on an identifiable quote, including
0DTE expiries of 1-30 minutes and deep ITM/OTM strikes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pricing_reference import MINUTE, identifiable, mp_implied_vol, mp_price

from monitor.pricing import black
from monitor.pricing.reasons import IvReason

T_GRID = (MINUTE, 5 * MINUTE, 30 * MINUTE, 2 / 24 / 365, 1 / 365, 7 / 365, 30 / 365, 0.5, 2.0, 5.0)
VOL_GRID = (0.03, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5)


def _grid(forward: float, log_moneyness: np.ndarray) -> tuple[np.ndarray, ...]:
    rows = itertools.product((1.0, -1.0), log_moneyness, T_GRID, VOL_GRID)
    cp, x, t, vol = (np.array(c) for c in zip(*rows, strict=True))
    # Scale moneyness with sqrt(T) so short expiries still reach their deep wings.
    k = forward * np.exp(x * np.maximum(np.sqrt(t), 0.02))
    df = np.exp(-0.045 * t)
    return cp, np.full(cp.shape, forward), k, t, df, vol


@pytest.fixture(scope="module", params=[5000.0, 18.0], ids=["spx", "vix"])
def round_trip(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    cp, f, k, t, df, vol = _grid(request.param, np.linspace(-12.0, 8.0, 121))
    g = black.greeks(cp, f, k, t, df, vol)
    solved, reason = black.implied_vol(cp, f, k, t, df, g.price, tick=0.0)
    return {"cp": cp, "f": f, "k": k, "t": t, "df": df, "vol": vol, "price": g.price,
            "vega": g.vega * 100.0, "solved": solved, "reason": reason}  # fmt: skip


def test_every_identifiable_quote_solves(round_trip: dict[str, np.ndarray]) -> None:
    ident = identifiable(round_trip["price"], round_trip["vega"], 1e-8)
    assert ident.sum() > 6000
    failed = ident & (round_trip["reason"] != IvReason.OK)
    assert not failed.any(), np.flatnonzero(failed)[:10]


def test_round_trip_error_is_under_1e8_wherever_identifiable(
    round_trip: dict[str, np.ndarray],
) -> None:
    ident = identifiable(round_trip["price"], round_trip["vega"], 1e-8)
    err = np.abs(round_trip["solved"] - round_trip["vol"])[ident]
    assert err.max() <= 1e-8


def test_round_trip_error_is_under_1e10_where_time_value_is_a_tick(
    round_trip: dict[str, np.ndarray],
) -> None:
    r = round_trip
    intrinsic = r["df"] * np.maximum(r["cp"] * (r["f"] - r["k"]), 0.0)
    tick_plus = (r["price"] - intrinsic >= 0.05) & identifiable(r["price"], r["vega"], 1e-10)
    assert tick_plus.sum() > 1200
    assert np.abs(r["solved"] - r["vol"])[tick_plus].max() <= 1e-10


def test_zero_dte_minutes_and_deep_wings_are_covered(round_trip: dict[str, np.ndarray]) -> None:
    r = round_trip
    ok = r["reason"] == IvReason.OK
    short = ok & (r["t"] <= 30 * MINUTE)
    deep = ok & (np.abs(np.log(r["k"] / r["f"])) / (r["vol"] * np.sqrt(r["t"])) > 6.0)
    assert short.sum() > 500
    assert deep.sum() > 500


def _mp_cases() -> list[tuple[float, float, float, float, float, float]]:
    rng = np.random.default_rng(20260309)
    cases = []
    for f in (5000.0, 18.0):
        for _ in range(70):
            t = float(np.exp(rng.uniform(np.log(MINUTE), np.log(3.0))))
            vol = float(np.exp(rng.uniform(np.log(0.05), np.log(2.0))))
            z = float(rng.uniform(-7.0, 5.0))
            k = f * float(np.exp(z * vol * np.sqrt(t)))
            cases.append((float(rng.choice([1.0, -1.0])), f, k, t, float(np.exp(-0.04 * t)), vol))
    return cases


@pytest.fixture(scope="module")
def mp_cases() -> dict[str, np.ndarray]:
    cases = _mp_cases()
    prices = np.array([float(mp_price(*c)) for c in cases])
    cols = {
        name: np.array(v)
        for name, v in zip("cp f k t df vol".split(), zip(*cases, strict=True), strict=True)
    }
    cols["price"] = prices
    return cols


def test_prices_match_mpmath_to_near_machine_precision(mp_cases: dict[str, np.ndarray]) -> None:
    c = mp_cases
    ours = black.price(c["cp"], c["f"], c["k"], c["t"], c["df"], c["vol"])
    scale = np.maximum(c["price"], 1e-300)
    intrinsic = c["df"] * np.maximum(c["cp"] * (c["f"] - c["k"]), 0.0)
    # Relative to the premium (deep-wing cancellation costs a few digits); ITM errors are
    # bounded by the rounding of the intrinsic part.
    err = np.abs(ours - c["price"]) / scale
    assert np.all((err <= 1e-11) | (np.abs(ours - c["price"]) <= 4e-16 * intrinsic))


def test_implied_vols_match_mpmath_inversion(mp_cases: dict[str, np.ndarray]) -> None:
    c = mp_cases
    vol, reason = black.implied_vol(c["cp"], c["f"], c["k"], c["t"], c["df"], c["price"], tick=0.0)
    g = black.greeks(c["cp"], c["f"], c["k"], c["t"], c["df"], c["vol"])
    ident = identifiable(c["price"], g.vega * 100.0, 1e-8)
    assert ident.sum() > 100
    assert np.all(reason[ident] == IvReason.OK)
    for i in np.flatnonzero(ident):
        args = (c["cp"][i], c["f"][i], c["k"][i], c["t"][i], c["df"][i], c["price"][i])
        exact = mp_implied_vol(*args, near=c["vol"][i])
        assert abs(vol[i] - exact) <= 1e-8, (i, vol[i], exact)
