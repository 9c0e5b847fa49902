"""Numpy twin of ``_kernels.py``: identical float operations, vectorized with index subsets."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._elementary import exp_v, log_v
from monitor.pricing._kernels import (
    ABOVE_BOUND,
    BAD_INPUT,
    BELOW_INTRINSIC,
    BELOW_TICK,
    EXPIRED,
    INTRINSIC_TOLERANCE,
    NO_QUOTE,
    NOT_IDENTIFIABLE,
    OK,
    TINY,
)
from monitor.pricing._lbr_vec import black_vega_v, normalised_vol_v, refine_vol_v
from monitor.pricing._special import ONE_OVER_SQRT_2PI, norm_cdf_given_pdf_v, norm_cdf_v
from monitor.pricing._table import table_guess_v

FloatArray = NDArray[np.float64]
ReasonArray = NDArray[np.int8]
BoolArray = NDArray[np.bool_]


def classify_v(
    cp: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    df: FloatArray,
    p: FloatArray,
    tick: float,
) -> ReasonArray:
    """Return the IvReason code per quote before solving."""
    with np.errstate(all="ignore"):
        finite = (f < np.inf) & (k < np.inf) & (df < np.inf) & np.isfinite(t)
        valid = (f > 0.0) & (k > 0.0) & (df > 0.0) & finite & ((cp == 1.0) | (cp == -1.0))
        time_value = p - df * np.maximum(cp * (f - k), 0.0)
        checks = (
            (~valid, BAD_INPUT),
            (~((p > 0.0) & (p < np.inf)), NO_QUOTE),
            (~(t > 0.0), EXPIRED),
            (time_value < -INTRINSIC_TOLERANCE * np.maximum(p, 1.0), BELOW_INTRINSIC),
            (p >= df * np.where(cp > 0.0, f, k), ABOVE_BOUND),
            ((time_value < tick) | (time_value <= 0.0), BELOW_TICK),
        )
    reason = np.full(cp.shape, OK, dtype=np.int8)
    for mask, code in reversed(checks):
        reason[mask] = code
    return reason


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
    reason = classify_v(cp, f, k, t, df, p, tick)
    out = np.full(cp.shape, np.nan)
    log_fk = np.full(cp.shape, np.nan)
    i = np.flatnonzero(reason == OK)
    ci, fi, ki, ti, di, pi = cp[i], f[i], k[i], t[i], df[i], p[i]
    with np.errstate(all="ignore"):
        ratio = np.minimum(fi, ki) / np.maximum(fi, ki)
        ex = np.sqrt(ratio)
        emx = 1.0 / ex
        x = log_v(ratio)
        beta = (pi - di * np.maximum(ci * (fi - ki), 0.0)) / (di * np.sqrt(fi * ki))
    reason[i[beta >= ex]] = ABOVE_BOUND
    reason[i[beta < TINY]] = BELOW_TICK
    go = np.flatnonzero((beta < ex) & (beta >= TINY))
    g = guess[i[go]]
    with np.errstate(all="ignore"):
        seed = np.where((g > 0.0) & (g < np.inf), g * np.sqrt(ti[go]), np.nan)
    s = normalised_vols_v(beta[go], x[go], ex[go], emx[go], seed, table)
    good = (s > 0.0) & (s < np.inf)
    reason[i[go][~good]] = NOT_IDENTIFIABLE
    out[i[go][good]] = s[good]
    log_fk[i] = np.where(fi < ki, x, -x)
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
        s[todo] = refine_vol_v(beta[todo], x[todo], ex[todo], emx[todo], s0)
    todo = np.flatnonzero(~((s > 0.0) & (s < np.inf)))
    s[todo] = normalised_vol_v(beta[todo], x[todo], ex[todo], emx[todo])
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
    ci, fi, ti, di, si, pi = cp[i], f[i], t[i], df[i], s[i], p[i]
    sqrt_t = np.sqrt(ti)
    v = si / sqrt_t
    vol[i] = v
    d1 = log_fk[i] / si + 0.5 * si
    e = exp_v(-0.5 * d1 * d1)
    pdf = ONE_OVER_SQRT_2PI * e
    delta = di * ci * norm_cdf_given_pdf_v(ci * d1, e)
    decay = di * fi * pdf * v / (2.0 * sqrt_t)
    drift = np.where(spot[i], delta * carry[i] * fi, 0.0)
    rows[0, i] = pi
    rows[1, i] = delta
    rows[2, i] = di * pdf / (fi * si)
    rows[3, i] = di * fi * pdf * sqrt_t * 0.01
    rows[4, i] = (-log_v(di) / ti * pi - decay - drift) / 365.0
    rows[5, i] = (-ti * pi + np.where(spot[i], ti * fi * delta, 0.0)) * 0.01
    return vol, reason, rows


def otm_value_v(
    f: FloatArray, k: FloatArray, s: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return (time value, phi(d1), ln(F/K)) elementwise for s > 0."""
    lo = np.minimum(f, k)
    hi = np.maximum(f, k)
    x = np.log(lo / hi)
    b, bp = black_vega_v(x, s, np.sqrt(lo / hi), np.sqrt(hi / lo))
    return np.sqrt(f) * np.sqrt(k) * b, bp * np.sqrt(k / f), np.where(f < k, x, -x)


def price_v(
    cp: FloatArray, f: FloatArray, k: FloatArray, t: FloatArray, df: FloatArray, vol: FloatArray
) -> FloatArray:
    """Return discounted Black-76 premiums."""
    with np.errstate(all="ignore"):
        s = vol * np.sqrt(np.where(t > 0.0, t, 0.0))
        moneyness = cp * (f - k)
        intrinsic = np.where(moneyness > 0.0, moneyness, 0.0)
        out = np.where(s == 0.0, df * intrinsic, np.nan)
        i = np.flatnonzero(s > 0.0)
        out[i] = df[i] * (intrinsic[i] + otm_value_v(f[i], k[i], s[i])[0])
    return out


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
    out = np.full((6, cp.size), np.nan)
    with np.errstate(all="ignore"):
        bad = np.isnan(cp + f + k + t + df + vol + carry) | (vol < 0.0)
        tp = np.where(t > 0.0, t, 0.0)
        sqrt_t = np.sqrt(tp)
        s = vol * sqrt_t
        moneyness = cp * (f - k)
        value = np.where(moneyness > 0.0, moneyness, 0.0)
        step = np.where(moneyness > 0.0, 1.0, np.where(moneyness == 0.0, 0.5, 0.0))
        delta = df * cp * step
        gamma = np.zeros_like(f)
        vega = np.zeros_like(f)
        decay = np.zeros_like(f)
        i = np.flatnonzero(s > 0.0)
        ci, fi, si, di = cp[i], f[i], s[i], df[i]
        time_value, pdf, x = otm_value_v(fi, k[i], si)
        value[i] += time_value
        d1 = x / si + 0.5 * si
        delta[i] = di * ci * norm_cdf_v(ci * d1)
        gamma[i] = di * pdf / (fi * si)
        vega[i] = di * fi * pdf * sqrt_t[i]
        decay[i] = di * fi * pdf * vol[i] / (2.0 * sqrt_t[i])
        price = df * value
        drift = np.where(spot, delta * carry * f, 0.0)
        theta = (-np.log(df) / tp * price - decay - drift) / 365.0
        rho = (-tp * price + np.where(spot, tp * f * delta, 0.0)) * 0.01
        live = tp > 0.0
        rows = [price, delta, gamma, np.where(live, vega * 0.01, 0.0)]
        rows += [np.where(live, theta, 0.0), np.where(live, rho, 0.0)]
        for r, row in enumerate(rows):
            out[r] = np.where(bad, np.nan, row)
    return out
