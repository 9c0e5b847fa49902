"""The numpy backend's implied-vol solve: ``_kernels``' per-option functions on whole arrays,
the same stages as the compiled block kernels of ``_batch``, each on the subset of quotes that
still needs it."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._kernels import (
    NOT_IDENTIFIABLE,
    OK,
    density_exponent,
    greeks_at_premium,
    greeks_one,
    normalise_quote,
    price_one,
)
from monitor.pricing._lbr import normalised_vol, refine_vol
from monitor.pricing._table import table_guess_v

FloatArray = NDArray[np.float64]
ReasonArray = NDArray[np.int8]
BoolArray = NDArray[np.bool_]


def solve_v(
    cp: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    df: FloatArray,
    p: FloatArray,
    tick: float,
    guess: FloatArray,
    table: FloatArray,
) -> tuple[FloatArray, ReasonArray, FloatArray]:
    """Return (total vol s, reason, ln(F/K)) per quote; s is NaN unless the reason is OK."""
    with np.errstate(all="ignore"):
        code, ratio, ex, beta = normalise_quote(cp, f, k, t, df, p, tick)
        reason = np.asarray(code, dtype=np.int8)
        i = np.flatnonzero(reason == OK)
        x = np.log(ratio[i])
        g = guess[i]
        seed = np.where((g > 0.0) & (g < np.inf), g * np.sqrt(t[i]), np.nan)
        s = normalised_vols_v(beta[i], x, ex[i], 1.0 / ex[i], seed, table)
    good = (s > 0.0) & (s < np.inf)
    reason[i[~good]] = NOT_IDENTIFIABLE
    out = np.full(cp.shape, np.nan)
    out[i[good]] = s[good]
    log_fk = np.full(cp.shape, np.nan)
    log_fk[i] = np.where(f[i] < k[i], x, -x)
    return out, reason, log_fk


def normalised_vols_v(
    beta: FloatArray,
    x: FloatArray,
    ex: FloatArray,
    emx: FloatArray,
    seed: FloatArray,
    table: FloatArray,
) -> FloatArray:
    """Return s per normalised quote as the block kernels find it: polish the seed (last tick's
    vol times sqrt(T); NaN: none), else the tabulated guess; LBR's full solve where neither
    settles."""
    s = np.full(beta.shape, np.nan)
    for start in ("seed", "table"):
        todo = np.flatnonzero(~((s > 0.0) & (s < np.inf)))
        if start == "seed":
            todo = todo[~np.isnan(seed[todo])]
            s0 = seed[todo]
        else:
            s0 = table_guess_v(beta[todo], x[todo], emx[todo], table)
            todo, s0 = todo[(s0 > 0.0) & (s0 < np.inf)], s0[(s0 > 0.0) & (s0 < np.inf)]
        s[todo] = refine_vol(beta[todo], x[todo], ex[todo], emx[todo], s0)
    todo = np.flatnonzero(~((s > 0.0) & (s < np.inf)))
    s[todo] = normalised_vol(beta[todo], x[todo], ex[todo], emx[todo])
    return s


def iv_v(
    cp: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    df: FloatArray,
    p: FloatArray,
    tick: float,
    guess: FloatArray,
    table: FloatArray,
) -> tuple[FloatArray, ReasonArray]:
    """Return (vol, reason) per quote; vol is NaN unless the reason is OK."""
    s, reason, _ = solve_v(cp, f, k, t, df, p, tick, guess, table)
    with np.errstate(all="ignore"):
        vol: FloatArray = s / np.sqrt(t)
    return vol, reason


def iv_greeks_v(
    cp: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    df: FloatArray,
    p: FloatArray,
    tick: float,
    guess: FloatArray,
    table: FloatArray,
    carry: FloatArray,
    spot: BoolArray,
) -> tuple[FloatArray, ReasonArray, FloatArray]:
    """Return vol, reason and the 6 x n Greeks at the solved vol (premium as price)."""
    s, reason, log_fk = solve_v(cp, f, k, t, df, p, tick, guess, table)
    vol = np.full(cp.shape, np.nan)
    rows = np.full((6, cp.size), np.nan)
    i = np.flatnonzero(reason == OK)
    vol[i] = s[i] / np.sqrt(t[i])
    d1, exponent = density_exponent(log_fk[i], s[i])
    di = df[i]
    rows[:, i] = greeks_at_premium(cp[i], f[i], t[i], di, np.log(di), s[i], p[i], carry[i],
                                   spot[i], d1, np.exp(exponent))  # fmt: skip
    return vol, reason, rows


def price_v(
    cp: FloatArray, f: FloatArray, k: FloatArray, t: FloatArray, df: FloatArray, vol: FloatArray
) -> FloatArray:
    """Return discounted Black-76 premiums."""
    with np.errstate(all="ignore"):
        return np.asarray(price_one(cp, f, k, t, df, vol), dtype=np.float64)


def greeks_v(
    cp: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    df: FloatArray,
    vol: FloatArray,
    carry: FloatArray,
    spot: BoolArray,
) -> FloatArray:
    """Return a 6 x n array: price, delta, gamma, vega, theta, rho."""
    with np.errstate(all="ignore"):
        return np.array(greeks_one(cp, f, k, t, df, vol, carry, spot), dtype=np.float64)
