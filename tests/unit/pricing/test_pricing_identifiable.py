"""With tick 0, a vol the premium cannot pin down at double precision is NOT_IDENTIFIABLE."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.pricing import black
from monitor.pricing.reasons import IvReason


def grid() -> tuple[np.ndarray, ...]:
    """A standard grid: 41 log-moneyness points x 6 expiries x 6 vols x call/put, F = 100."""
    ks = 100.0 * np.exp(np.linspace(-2.5, 2.5, 41))
    ts = np.array([1 / 365, 7 / 365, 30 / 365, 0.25, 1.0, 3.0])
    vols = np.array([0.05, 0.1, 0.2, 0.4, 0.8, 1.5])
    k, t, v, cp = (a.ravel() for a in np.meshgrid(ks, ts, vols, [1.0, -1.0], indexing="ij"))
    return cp, k, t, np.exp(-0.04 * t), v


@pytest.mark.parametrize("spot_based", [False, True])
def test_an_ok_vol_is_always_the_vol_that_priced_the_premium(spot_based: bool) -> None:
    cp, k, t, df, v = grid()
    p = black.price(cp, 100.0, k, t, df, v)
    iv, reason = black.implied_vol(cp, 100.0, k, t, df, p, tick=0.0)
    iv2, reason2, g = black.implied_vol_and_greeks(
        cp, 100.0, k, t, df, p, tick=0.0, carry=0.04 - 0.013, spot_based=spot_based)
    ok = reason == IvReason.OK
    assert np.max(np.abs(iv[ok] - v[ok])) < 1e-6
    assert np.array_equal(reason, reason2)
    flagged = reason == IvReason.NOT_IDENTIFIABLE
    assert flagged.sum() > 0  # deep in the money, short-dated: the time value is all rounding
    assert np.isnan(iv[flagged]).all() and np.isnan(iv2[flagged]).all()
    assert np.isnan(g.delta[flagged]).all() and np.isnan(g.vega[flagged]).all()


def test_a_positive_tick_still_reports_those_quotes_as_under_one_tick() -> None:
    cp, k, t, df, v = grid()
    p = black.price(cp, 100.0, k, t, df, v)
    _, reason = black.implied_vol(cp, 100.0, k, t, df, p, tick=0.05)
    _, reason0 = black.implied_vol(cp, 100.0, k, t, df, p, tick=0.0)
    assert (reason[reason0 == IvReason.NOT_IDENTIFIABLE] != IvReason.OK).all()
