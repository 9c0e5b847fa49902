"""Black-76 against textbook values (Hull, Options, Futures and Other Derivatives)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.pricing import black

CALL, PUT = 1.0, -1.0


def _hull_stock(s: float, r: float, t: float) -> tuple[float, float]:
    """Return (forward, df) for a non-dividend stock: Black-76 on F = S e^{rT} is BSM."""
    return s * math.exp(r * t), math.exp(-r * t)


def test_hull_example_call_is_4_76_and_put_0_81() -> None:
    forward, df = _hull_stock(42.0, 0.10, 0.5)
    call, put = black.price([CALL, PUT], forward, 40.0, 0.5, df, 0.20)
    assert call == pytest.approx(4.76, abs=0.005)
    assert put == pytest.approx(0.81, abs=0.005)
    assert call == pytest.approx(4.759422392871535, rel=1e-13)
    assert put == pytest.approx(0.808599372900101, rel=1e-12)


def test_hull_black76_futures_put_is_1_12() -> None:
    # Hull: futures option, F = K = 20, r = 9%, vol = 25%, four months.
    df = math.exp(-0.09 * 4 / 12)
    put = black.price(PUT, 20.0, 20.0, 4 / 12, df, 0.25)
    assert put == pytest.approx(1.12, abs=0.005)
    assert put == pytest.approx(1.1166, abs=5e-5)


def test_hull_bsm_greeks_with_spot_held_fixed() -> None:
    # Hull's Greek letters example: S = 49, K = 50, r = 5%, vol = 20%, T = 20 weeks.
    t = 0.3846
    forward, df = _hull_stock(49.0, 0.05, t)
    g = black.greeks(CALL, forward, 50.0, t, df, 0.20, carry=0.05, spot_based=True)
    spot_delta = g.delta * forward / 49.0
    assert spot_delta == pytest.approx(0.522, abs=5e-4)
    assert g.gamma * (forward / 49.0) ** 2 == pytest.approx(0.066, abs=5e-4)
    assert g.vega == pytest.approx(12.1 / 100, abs=5e-4)
    assert g.theta * 365 == pytest.approx(-4.31, abs=5e-3)
    assert g.rho == pytest.approx(8.91 / 100, abs=5e-4)


def test_hull_example_implied_vol_recovers_twenty_percent() -> None:
    forward, df = _hull_stock(42.0, 0.10, 0.5)
    vol, reason = black.implied_vol([CALL, PUT], forward, 40.0, 0.5, df, [4.76, 0.81], tick=0.0)
    assert np.all(reason == 0)
    np.testing.assert_allclose(vol, 0.20, atol=2e-3)


def test_dollar_delta_per_pct_is_delta_times_forward_percent_times_multiplier() -> None:
    assert black.dollar_delta_per_pct(0.5, 5000.0, -2) == pytest.approx(0.5 * 50 * 100 * -2)


def test_position_greeks_scale_every_field_by_quantity_and_multiplier() -> None:
    g = black.greeks(CALL, 100.0, 100.0, 0.25, 0.99, 0.3)
    pos = black.position_greeks(g, -3)
    for name in ("price", "delta", "gamma", "vega", "theta", "rho"):
        assert getattr(pos, name) == pytest.approx(getattr(g, name) * -300)
