"""Vectorized twin of ``_lbr.py``: the same operations in the same order, on arrays.

Branches become index subsets, so every element sees exactly the float operations its scalar
counterpart performs and the two paths agree to the last bit.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._elementary import exp_v, log_v
from monitor.pricing._lbr import (
    INV_3F,
    INV_5F,
    INV_7F,
    INV_9F,
    INV_11F,
    INV_13F,
    LOWER,
    MIDDLE,
    PI_OVER_SIX,
    REFINE,
    SMALL_T,
    SQRT_DBL_MAX,
    SQRT_ONE_OVER_THREE,
    SQRT_PI_OVER_TWO,
    SQRT_THREE,
    TWO_PI_OVER_SQRT_27,
    UPPER,
    WARM_TOL,
)
from monitor.pricing._rational_cubic import r_left_v, r_right_v, rc_interp_v
from monitor.pricing._special import (
    ONE_OVER_SQRT_2,
    ONE_OVER_SQRT_2PI,
    erfc_v,
    erfcx_v,
    inv_norm_cdf_v,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int8]


def small_t_expansion_v(h: FloatArray, t: FloatArray) -> FloatArray:
    """Return Jäckel's small-t series elementwise."""
    a = 1.0 + h * SQRT_PI_OVER_TWO * erfcx_v(-ONE_OVER_SQRT_2 * h)
    w = t * t
    h2 = h * h
    c5 = (
        -89055.0
        + 135135.0 * a
        + h2
        * (
            -82845.0
            + 270270.0 * a
            + h2
            * (
                -20370.0
                + 135135.0 * a
                + h2
                * (
                    -1926.0
                    + 25740.0 * a
                    + h2 * (-75.0 + 2145.0 * a + h2 * (-1.0 + 78.0 * a + a * h2))
                )
            )
        )
    )
    c4 = (
        -6555.0
        + 10395.0 * a
        + h2
        * (
            -4680.0
            + 17325.0 * a
            + h2
            * (-840.0 + 6930.0 * a + h2 * (-52.0 + 990.0 * a + h2 * (-1.0 + 55.0 * a + a * h2)))
        )
    )
    c3 = (
        -561.0
        + 945.0 * a
        + h2 * (-285.0 + 1260.0 * a + h2 * (-33.0 + 378.0 * a + h2 * (-1.0 + 36.0 * a + a * h2)))
    )
    c2 = -57.0 + 105.0 * a + h2 * (-18.0 + 105.0 * a + h2 * (-1.0 + 21.0 * a + a * h2))
    c1 = -7.0 + 15.0 * a + h2 * (-1.0 + 10.0 * a + a * h2)
    c0 = -1.0 + 3.0 * a + a * h2
    series = c4 * INV_11F + c5 * w * INV_13F
    series = c3 * INV_9F + w * series
    series = c2 * INV_7F + w * series
    series = c1 * INV_5F + w * series
    series = c0 * INV_3F + w * series
    out: FloatArray = 2.0 * t * (a + w * series)
    return out


def black_vega_v(
    x: FloatArray, s: FloatArray, ex: FloatArray, emx: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Return b(x, s) and db/ds elementwise, with the scalar version's regions."""
    h = x / s
    t = 0.5 * s
    b = np.empty_like(x)
    bp = ONE_OVER_SQRT_2PI * exp_v(-0.5 * (h * h + t * t))
    e = exp_v(-0.5 * (h * h + t * t))
    cdf_form = h + t > 0.85
    series = ~cdf_form & (t < SMALL_T) & (h >= -10.0)
    idx = np.flatnonzero(cdf_form)
    hi, ti = h[idx], t[idx]
    e1 = ex[idx] * erfc_v(-(hi + ti) * ONE_OVER_SQRT_2)
    b[idx] = 0.5 * (e1 - emx[idx] * erfc_v(-(hi - ti) * ONE_OVER_SQRT_2))
    idx = np.flatnonzero(series)
    b[idx] = ONE_OVER_SQRT_2PI * e[idx] * small_t_expansion_v(h[idx], t[idx])
    idx = np.flatnonzero(~cdf_form & ~series)
    hi, ti = h[idx], t[idx]
    diff = erfcx_v(-(hi + ti) * ONE_OVER_SQRT_2) - erfcx_v(-(hi - ti) * ONE_OVER_SQRT_2)
    b[idx] = 0.5 * e[idx] * diff
    return b, bp


def otm_black_v(x: FloatArray, s: FloatArray, ex: FloatArray, emx: FloatArray) -> FloatArray:
    """Return b(x, s) for x <= 0 elementwise."""
    return black_vega_v(x, s, ex, emx)[0]


def otm_black_gap_v(x: FloatArray, s: FloatArray, ex: FloatArray, emx: FloatArray) -> FloatArray:
    """Return b_max - b(x, s) elementwise, without cancellation."""
    h = x / s
    t = 0.5 * s
    e1 = erfc_v((h + t) * ONE_OVER_SQRT_2)
    out: FloatArray = 0.5 * (ex * e1 + emx * erfc_v(-(h - t) * ONE_OVER_SQRT_2))
    return out


def lower_guess_v(beta: FloatArray, x: FloatArray, s_l: FloatArray, b_l: FloatArray) -> FloatArray:
    """Guess s in the lower wing elementwise."""
    ax = -x
    z = SQRT_ONE_OVER_THREE * ax / s_l
    y = z * z
    s2 = s_l * s_l
    mills = SQRT_PI_OVER_TWO * erfcx_v(z * ONE_OVER_SQRT_2)
    e_half = np.exp(-0.5 * y)
    e_s = np.exp(0.125 * s2)
    cdf = ONE_OVER_SQRT_2PI * mills * e_half
    shape = 8.0 * SQRT_THREE * s_l * ax + (3.0 * s2 * (s2 - 8.0) - 8.0 * x * x) * mills
    grown = ONE_OVER_SQRT_2PI * mills / (e_half * e_half * e_half)
    fpp = PI_OVER_SIX * y / (s2 * s_l) * grown * shape * (e_s * e_s)
    fp = y * mills * mills * e_s
    f_l = TWO_PI_OVER_SQRT_27 * ax * (cdf * cdf * cdf)
    zero = np.zeros_like(x)
    one = np.ones_like(x)
    r = r_right_v(zero, b_l, zero, f_l, one, fp, fpp, True)
    f = rc_interp_v(beta, zero, b_l, zero, f_l, one, fp, r)
    t = beta / b_l
    f = np.where(f > 0.0, f, (f_l * t + b_l * (1.0 - t)) * t)
    q = inv_norm_cdf_v(np.cbrt(f / (TWO_PI_OVER_SQRT_27 * ax)))
    out: FloatArray = np.abs(x / (SQRT_THREE * q))
    return out


def upper_guess_v(
    beta: FloatArray, x: FloatArray, s_h: FloatArray, b_h: FloatArray, b_max: FloatArray
) -> FloatArray:
    """Guess s near the upper bound elementwise."""
    f_h = 0.5 * erfc_v(0.5 * s_h * ONE_OVER_SQRT_2)
    w = (x / s_h) * (x / s_h)
    fp = -0.5 * np.exp(0.5 * w)
    fpp = SQRT_PI_OVER_TWO * np.exp(w + 0.125 * s_h * s_h) * w / s_h
    zero = np.zeros_like(x)
    half = np.full_like(x, -0.5)
    r = r_left_v(b_h, b_max, f_h, zero, fp, half, fpp, True)
    f = rc_interp_v(beta, b_h, b_max, f_h, zero, fp, half, r)
    f = np.where((-SQRT_DBL_MAX < fpp) & (fpp < SQRT_DBL_MAX), f, -1.0)
    h = b_max - b_h
    t = (beta - b_h) / h
    f = np.where(f <= 0.0, (f_h * (1.0 - t) + 0.5 * h * t) * (1.0 - t), f)
    out: FloatArray = -2.0 * inv_norm_cdf_v(f)
    return out


def initial_guess_v(
    beta: FloatArray, x: FloatArray, ex: FloatArray, emx: FloatArray
) -> tuple[FloatArray, IntArray]:
    """Return the rational guess for s and the branch per element."""
    s_c = np.sqrt(-2.0 * x)
    b_c = 0.5 * ex * (1.0 - erfcx_v(np.sqrt(-x)))
    v_c = ONE_OVER_SQRT_2PI * ex
    s = np.empty_like(x)
    branch = np.full(x.shape, MIDDLE, dtype=np.int8)
    lo = np.flatnonzero(beta < b_c)
    if lo.size:
        s[lo], branch[lo] = _lower_half(beta[lo], x[lo], ex[lo], emx[lo], s_c[lo], b_c[lo], v_c[lo])
    hi = np.flatnonzero(~(beta < b_c))
    if hi.size:
        s[hi], branch[hi] = _upper_half(beta[hi], x[hi], ex[hi], emx[hi], s_c[hi], b_c[hi], v_c[hi])
    return s, branch


def _lower_half(
    beta: FloatArray,
    x: FloatArray,
    ex: FloatArray,
    emx: FloatArray,
    s_c: FloatArray,
    b_c: FloatArray,
    v_c: FloatArray,
) -> tuple[FloatArray, IntArray]:
    s_l = s_c - b_c / v_c
    b_l, v_l = black_vega_v(x, s_l, ex, emx)
    s = np.empty_like(x)
    wing = np.flatnonzero(beta < b_l)
    s[wing] = lower_guess_v(beta[wing], x[wing], s_l[wing], b_l[wing])
    mid = np.flatnonzero(~(beta < b_l))
    xm, slm, blm, scm, bcm = x[mid], s_l[mid], b_l[mid], s_c[mid], b_c[mid]
    inv_vl = 1.0 / v_l[mid]
    inv_vc = 1.0 / v_c[mid]
    r = r_right_v(blm, bcm, slm, scm, inv_vl, inv_vc, np.zeros_like(xm), False)
    s[mid] = rc_interp_v(beta[mid], blm, bcm, slm, scm, inv_vl, inv_vc, r)
    return s, np.where(beta < b_l, LOWER, MIDDLE).astype(np.int8)


def _upper_half(
    beta: FloatArray,
    x: FloatArray,
    ex: FloatArray,
    emx: FloatArray,
    s_c: FloatArray,
    b_c: FloatArray,
    v_c: FloatArray,
) -> tuple[FloatArray, IntArray]:
    s_h = s_c + (ex - b_c) / v_c
    b_h, v_h = black_vega_v(x, s_h, ex, emx)
    s = np.empty_like(x)
    mid = np.flatnonzero(beta <= b_h)
    xm, shm, bhm, scm, bcm = x[mid], s_h[mid], b_h[mid], s_c[mid], b_c[mid]
    inv_vc = 1.0 / v_c[mid]
    inv_vh = 1.0 / v_h[mid]
    r = r_left_v(bcm, bhm, scm, shm, inv_vc, inv_vh, np.zeros_like(xm), False)
    s[mid] = rc_interp_v(beta[mid], bcm, bhm, scm, shm, inv_vc, inv_vh, r)
    top = np.flatnonzero(~(beta <= b_h))
    s[top] = upper_guess_v(beta[top], x[top], s_h[top], b_h[top], ex[top])
    branch = np.where(~(beta <= b_h) & (beta > 0.5 * ex), UPPER, MIDDLE).astype(np.int8)
    return s, branch


def householder_step_v(
    beta: FloatArray,
    ln_beta: FloatArray,
    x: FloatArray,
    ex: FloatArray,
    emx: FloatArray,
    s: FloatArray,
    branch: IntArray,
    strict: bool,
) -> FloatArray:
    """Return the Householder(3) step per element (NaN where the scalar version gives NaN)."""
    inv_s = 1.0 / s
    h = x * inv_s
    h_s = h * inv_s
    b_halley = h * h_s - 0.25 * s
    b_hh3 = b_halley * b_halley - 3.0 * h_s * h_s - 0.25
    newton = np.empty_like(x)
    halley = b_halley.copy()
    hh3 = b_hh3.copy()
    up = np.flatnonzero(branch == UPPER)
    hu = h[up]
    tu = 0.5 * s[up]
    bp_u = ONE_OVER_SQRT_2PI * np.exp(-0.5 * (hu * hu + tu * tu))
    gap = otm_black_gap_v(x[up], s[up], ex[up], emx[up])
    gp = bp_u / gap
    newton[up] = -np.log((ex[up] - beta[up]) / gap) / gp
    halley[up] = b_halley[up] + gp
    hh3[up] = b_hh3[up] + gp * (2.0 * gp + 3.0 * b_halley[up])
    rest = np.flatnonzero(branch != UPPER)
    b, bp = black_vega_v(x[rest], s[rest], ex[rest], emx[rest])
    newton[rest] = (beta[rest] - b) / bp
    low = branch[rest] == LOWER
    il = rest[low]
    bl = b[low]
    ln_b = log_v(bl)
    inv_ln_b = 1.0 / ln_b
    bpob = bp[low] / bl
    k = 1.0 + 2.0 * inv_ln_b
    lnb_target = ln_beta[il]
    newton[il] = (lnb_target - ln_b) * ln_b / (lnb_target * bpob)
    halley[il] = b_halley[il] - bpob * k
    hh3_l = b_hh3[il] + 2.0 * bpob * bpob * (1.0 + 3.0 * inv_ln_b * (1.0 + inv_ln_b))
    hh3[il] = hh3_l - 3.0 * b_halley[il] * bpob * k
    ds = newton * (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton * INV_3F))
    bad = ~np.isfinite(ds)
    if strict:
        bad |= ~(np.abs(newton) <= 0.5 * s)
    out: FloatArray = np.where(bad, np.nan, np.maximum(-0.5 * s, ds))
    return out


def normalised_vol_v(
    beta: FloatArray, x: FloatArray, ex: FloatArray, emx: FloatArray
) -> FloatArray:
    """Return s with b(x, s) = beta elementwise (x <= 0, 0 < beta < exp(x/2))."""
    with np.errstate(all="ignore"):
        s, branch = initial_guess_v(beta, x, ex, emx)
        ln_beta = log_v(beta)
        ds = householder_step_v(beta, ln_beta, x, ex, emx, s, branch, False)
        s = s + ds
        i = np.flatnonzero(np.abs(ds) > REFINE * s)
        s[i] += householder_step_v(beta[i], ln_beta[i], x[i], ex[i], emx[i], s[i], branch[i], False)
    return s


def objective_branch_v(beta: FloatArray, x: FloatArray, ex: FloatArray, s: FloatArray) -> IntArray:
    """Return the polishing objective per element."""
    lower = s < np.sqrt(-2.0 * x)
    out: IntArray = np.where(lower, LOWER, np.where(beta > 0.5 * ex, UPPER, MIDDLE)).astype(np.int8)
    return out


def refine_vol_v(
    beta: FloatArray, x: FloatArray, ex: FloatArray, emx: FloatArray, s0: FloatArray
) -> FloatArray:
    """Polish nearby guesses elementwise; NaN where two steps do not settle."""
    with np.errstate(all="ignore"):
        branch = objective_branch_v(beta, x, ex, s0)
        ln_beta = log_v(beta)
        ds = householder_step_v(beta, ln_beta, x, ex, emx, s0, branch, True)
        s = s0 + ds
        i = np.flatnonzero(np.abs(ds) > REFINE * s)
        ds2 = householder_step_v(beta[i], ln_beta[i], x[i], ex[i], emx[i], s[i], branch[i], True)
        s[i] += ds2
        s[i[~(np.abs(ds2) <= WARM_TOL * s[i])]] = np.nan
    return s
