"""Independent references for the pricing tests: mpmath Black-76 and a chain generator."""

from __future__ import annotations

import mpmath as mp
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
EPS = float(np.finfo(np.float64).eps)
MINUTE = 1.0 / (365.0 * 24.0 * 60.0)

mp.mp.dps = 50


def mp_price(cp: float, f: float, k: float, t: float, df: float, vol: float | mp.mpf) -> mp.mpf:
    """Return the Black-76 premium at 50 significant digits."""
    s = mp.mpf(vol) * mp.sqrt(mp.mpf(t))
    d1 = mp.log(mp.mpf(f) / mp.mpf(k)) / s + s / 2
    d2 = d1 - s
    return mp.mpf(df) * cp * (mp.mpf(f) * mp.ncdf(cp * d1) - mp.mpf(k) * mp.ncdf(cp * d2))


def mp_vega(cp: float, f: float, k: float, t: float, df: float, vol: mp.mpf) -> mp.mpf:
    """Return dV/dvol at 50 significant digits."""
    s = mp.mpf(vol) * mp.sqrt(mp.mpf(t))
    d1 = mp.log(mp.mpf(f) / mp.mpf(k)) / s + s / 2
    return mp.mpf(df) * mp.mpf(f) * mp.npdf(d1) * mp.sqrt(mp.mpf(t))


def mp_implied_vol(
    cp: float, f: float, k: float, t: float, df: float, premium: float, near: float
) -> float:
    """Return the vol that reprices ``premium`` exactly: Newton at 50 digits started from
    ``near``, the vol the premium was generated with (so never from the solver under test)."""
    target = mp.mpf(premium)
    vol = mp.mpf(near)
    for _ in range(30):
        step = (mp_price(cp, f, k, t, df, vol) - target) / mp_vega(cp, f, k, t, df, vol)
        vol -= step
        if abs(step) < mp.mpf("1e-30") * vol:
            return float(vol)
    raise AssertionError(f"mpmath Newton did not converge from {near}")


NORMAL_RANGE = 1e-250


def identifiable(premium: FloatArray, vega_per_unit: FloatArray, target: float) -> FloatArray:
    """Return where the vol is identifiable from a double premium to ``target``.

    Rounding the premium to double must move the vol by under target / 10, and the premium must
    sit well inside double's normal range (below ~1e-300 the tails underflow and relative
    precision is gone: no quote is ever that small).
    """
    with np.errstate(all="ignore"):
        result: FloatArray = (10.0 * EPS * premium / vega_per_unit <= target) & (
            premium > NORMAL_RANGE
        )
    return result
