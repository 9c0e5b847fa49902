"""Normalised Black and its inverse, after P. Jäckel, "Let's Be Rational" (Wilmott, 2015).

Everything here works on the normalised out-of-the-money call: log-moneyness ``x <= 0``,
total vol ``s = vol * sqrt(T)``, normalised premium ``b = time value / sqrt(F K)``:

    b(x, s) = exp(x/2) N(x/s + s/2) - exp(-x/2) N(x/s - s/2),   0 < b < b_max = exp(x/2)

Any call or put reduces to it (subtract intrinsic, map puts to calls by x -> -x), so one
solver covers ITM and OTM, calls and puts. The method is the paper's: a rational-cubic guess
on four branches, then third-order Householder steps on an objective chosen per branch
(1/ln b in the lower wing, b in the middle, ln(b_max - b) near the upper bound); a second step
runs only when the first moved s by more than ``REFINE``. b itself is evaluated with Jäckel's
small-t series near the money (its coefficients are his), the erfcx form in the body and the
normal-CDF form for d1 > 0.85. ``ex``/``emx`` are exp(x/2)/exp(-x/2), computed once.

Every function takes floats (compiled kernels, one option) or arrays (the numpy backend). The
formulas are written once (``_jit.shared``); where one option takes one of several costly
paths (b's three regions, the objective's branches, a second step), ``_jit.scalar_form``
pairs a branching form for compiled code with an array form that works on index subsets or
selects. LBR's initial guess, only needed where the tabulated guess is missing or fails,
computes its four branches and selects, in both backends.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from monitor.pricing._jit import jit, scalar_form, select, shared, shared_inline
from monitor.pricing._rational_cubic import r_fit, rc_interp
from monitor.pricing._special import ONE_OVER_SQRT_2, ONE_OVER_SQRT_2PI, erfc, erfcx, inv_norm_cdf

Real = Any  # a float in compiled code (one option), a float64 array on the numpy path
Pair = tuple[Real, Real]
Terms = tuple[Real, Real, Real]

SQRT_DBL_MAX = 1.3407807929942596e154
SQRT_THREE = 1.732050807568877293527446341505872366942805253810
SQRT_ONE_OVER_THREE = 0.577350269189625764509148780501957455647601751270
TWO_PI = 6.283185307179586476925286766559005768394338798750
TWO_PI_OVER_SQRT_27 = 1.209199576156145233729385505094770488189377498728
PI_OVER_SIX = 0.523598775598298873077107230546583814032861566563
SQRT_PI_OVER_TWO = 1.253314137315500251207882642405522626503493370305
SMALL_T = 0.21
# A first Householder(3) step of relative size under REFINE leaves an error below ~1e-13 s
# (fourth-order convergence from LBR's guess), so only larger first steps get a second one.
REFINE = 1e-3
# A warm start (last tick's vol) is trusted only if its second step is this small.
WARM_TOL = 1e-7
INV_3F = 1.0 / 6.0
INV_5F = 1.0 / 120.0
INV_7F = 1.0 / 5040.0
INV_9F = 1.0 / 362880.0
INV_11F = 1.0 / 39916800.0
INV_13F = 1.0 / 6227020800.0

LOWER, MIDDLE, UPPER = 0, 1, 2


@shared
def small_t_expansion(h: Real, t: Real) -> Real:
    """Return b / (exp(-(h^2 + t^2)/2) / sqrt(2 pi)) for t < 0.21, h <= 0 (Jäckel's series)."""
    return small_t_series(h, t, erfcx(-ONE_OVER_SQRT_2 * h))


@shared_inline
def small_t_series(h: Real, t: Real, r: Real) -> Real:
    """Return :func:`small_t_expansion` given r = erfcx(-h / sqrt(2)); plain arithmetic."""
    a = 1.0 + h * SQRT_PI_OVER_TWO * r
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
    return 2.0 * t * (a + w * series)


@shared_inline
def _b_from_cdf(h: Real, t: Real, ex: Real, emx: Real) -> Real:
    # d1 > 0.85: the plain normal-CDF form.
    e1 = ex * erfc(-(h + t) * ONE_OVER_SQRT_2)
    return 0.5 * (e1 - emx * erfc(-(h - t) * ONE_OVER_SQRT_2))


@shared_inline
def _b_from_series(h: Real, t: Real, e: Real) -> Real:
    # Small t near the money: Jäckel's series.
    return ONE_OVER_SQRT_2PI * e * small_t_expansion(h, t)


@shared_inline
def _b_from_erfcx(h: Real, t: Real, e: Real) -> Real:
    # The body: erfcx, no underflow, mild cancellation.
    return 0.5 * e * (erfcx(-(h + t) * ONE_OVER_SQRT_2) - erfcx(-(h - t) * ONE_OVER_SQRT_2))


def _black_vega_one(x: float, s: float, ex: float, emx: float) -> tuple[float, float]:
    h = x / s
    t = 0.5 * s
    e = math.exp(-0.5 * (h * h + t * t))
    if h + t > 0.85:
        return _b_from_cdf(h, t, ex, emx), ONE_OVER_SQRT_2PI * e
    if t < SMALL_T and h >= -10.0:
        return _b_from_series(h, t, e), ONE_OVER_SQRT_2PI * e
    return _b_from_erfcx(h, t, e), ONE_OVER_SQRT_2PI * e


@scalar_form(_black_vega_one)
def black_vega(x: Real, s: Real, ex: Real, emx: Real) -> Pair:
    """Return b(x, s) and db/ds for x <= 0, choosing the accurate formula per region."""
    with np.errstate(all="ignore"):
        h = x / s
        t = 0.5 * s
        e = np.exp(-0.5 * (h * h + t * t))
        b = np.empty_like(h)
        cdf_form = h + t > 0.85
        series = ~cdf_form & (t < SMALL_T) & (h >= -10.0)
        i = np.flatnonzero(cdf_form)
        b[i] = _b_from_cdf(h[i], t[i], ex[i], emx[i])
        i = np.flatnonzero(series)
        b[i] = _b_from_series(h[i], t[i], e[i])
        i = np.flatnonzero(~cdf_form & ~series)
        b[i] = _b_from_erfcx(h[i], t[i], e[i])
    return b, ONE_OVER_SQRT_2PI * e


@shared
def otm_black(x: Real, s: Real, ex: Real, emx: Real) -> Real:
    """Return b(x, s) for x <= 0."""
    return black_vega(x, s, ex, emx)[0]


@shared
def otm_black_gap(x: Real, s: Real, ex: Real, emx: Real) -> Real:
    """Return b_max - b(x, s) without cancellation: exp(x/2) N(-d1) + exp(-x/2) N(d2)."""
    h = x / s
    t = 0.5 * s
    e1 = ex * erfc((h + t) * ONE_OVER_SQRT_2)
    return 0.5 * (e1 + emx * erfc(-(h - t) * ONE_OVER_SQRT_2))


@shared
def lower_guess(beta: Real, x: Real, s_l: Real, b_l: Real) -> Real:
    """Guess s in the lower wing via the map f = 2pi/sqrt(27) |x| N(-|x|/(sqrt(3) s))^3.

    N(-z)/phi(z) comes from erfcx, so the map and its two derivatives cost two exponentials.
    """
    ax = -x
    z = SQRT_ONE_OVER_THREE * ax / s_l
    y = z * z
    s2 = s_l * s_l
    mills = SQRT_PI_OVER_TWO * erfcx(z * ONE_OVER_SQRT_2)
    e_half = np.exp(-0.5 * y)
    e_s = np.exp(0.125 * s2)
    cdf = ONE_OVER_SQRT_2PI * mills * e_half
    shape = 8.0 * SQRT_THREE * s_l * ax + (3.0 * s2 * (s2 - 8.0) - 8.0 * x * x) * mills
    grown = ONE_OVER_SQRT_2PI * mills / (e_half * e_half * e_half)
    fpp = PI_OVER_SIX * y / (s2 * s_l) * grown * shape * (e_s * e_s)
    fp = y * mills * mills * e_s
    f_l = TWO_PI_OVER_SQRT_27 * ax * (cdf * cdf * cdf)
    r = r_fit(0.0, b_l, 0.0, f_l, 1.0, fp, fpp, False, True)
    f = rc_interp(beta, 0.0, b_l, 0.0, f_l, 1.0, fp, r)
    t = beta / b_l
    f = select(f > 0.0, f, (f_l * t + b_l * (1.0 - t)) * t)
    return np.abs(x / (SQRT_THREE * inv_norm_cdf(np.cbrt(f / (TWO_PI_OVER_SQRT_27 * ax)))))


@shared
def upper_guess(beta: Real, x: Real, s_h: Real, b_h: Real, b_max: Real) -> Real:
    """Guess s near the upper bound via the map f = N(-s/2)."""
    f_h = 0.5 * erfc(0.5 * s_h * ONE_OVER_SQRT_2)
    w = (x / s_h) * (x / s_h)
    fp = -0.5 * np.exp(0.5 * w)
    fpp = SQRT_PI_OVER_TWO * np.exp(w + 0.125 * s_h * s_h) * w / s_h
    r = r_fit(b_h, b_max, f_h, 0.0, fp, -0.5, fpp, True, True)
    f = rc_interp(beta, b_h, b_max, f_h, 0.0, fp, -0.5, r)
    f = select((-SQRT_DBL_MAX < fpp) & (fpp < SQRT_DBL_MAX), f, -1.0)
    h = b_max - b_h
    t = (beta - b_h) / h
    f = select(f <= 0.0, (f_h * (1.0 - t) + 0.5 * h * t) * (1.0 - t), f)
    return -2.0 * inv_norm_cdf(f)


@shared
def initial_guess(beta: Real, x: Real, ex: Real, emx: Real) -> Pair:
    """Return the rational guess for s and the branch whose objective the iteration uses.

    All four of LBR's branches are computed and one selected (see the module docstring)."""
    s_c = np.sqrt(-2.0 * x)
    b_c = 0.5 * ex * (1.0 - erfcx(np.sqrt(-x)))
    v_c = ONE_OVER_SQRT_2PI * ex
    s_l = s_c - b_c / v_c
    b_l, v_l = black_vega(x, s_l, ex, emx)
    s_h = s_c + (ex - b_c) / v_c
    b_h, v_h = black_vega(x, s_h, ex, emx)
    wing = lower_guess(beta, x, s_l, b_l)
    r = r_fit(b_l, b_c, s_l, s_c, 1.0 / v_l, 1.0 / v_c, 0.0, False, False)
    low_mid = rc_interp(beta, b_l, b_c, s_l, s_c, 1.0 / v_l, 1.0 / v_c, r)
    r = r_fit(b_c, b_h, s_c, s_h, 1.0 / v_c, 1.0 / v_h, 0.0, True, False)
    high_mid = rc_interp(beta, b_c, b_h, s_c, s_h, 1.0 / v_c, 1.0 / v_h, r)
    top = upper_guess(beta, x, s_h, b_h, ex)
    low = beta < b_c
    s = select(low, select(beta < b_l, wing, low_mid), select(beta <= b_h, high_mid, top))
    upper = np.logical_not(low | (beta <= b_h)) & (beta > 0.5 * ex)
    branch = select(low & (beta < b_l), LOWER, select(upper, UPPER, MIDDLE))
    return s, branch


def _objective_at_one(x: float, s: float, ex: float, emx: float, branch: int) -> Pair:
    if branch == UPPER:
        return otm_black_gap(x, s, ex, emx), _density(x, s)
    return black_vega(x, s, ex, emx)


@shared
def _density(x: Real, s: Real) -> Real:
    # db/ds = phi(d1) for the normalised call: exp(-(h^2 + t^2)/2) / sqrt(2 pi).
    h = x * (1.0 / s)
    t = 0.5 * s
    return ONE_OVER_SQRT_2PI * np.exp(-0.5 * (h * h + t * t))


@scalar_form(_objective_at_one)
def objective_at(x: Real, s: Real, ex: Real, emx: Real,
                 branch: Real) -> Pair:  # fmt: skip
    """Return what a step on the branch's objective needs at s: (b, db/ds), or on the upper
    branch (b_max - b, db/ds). This is the expensive half of a step (erfcx/erfc and exp)."""
    with np.errstate(all="ignore"):
        b, bp = black_vega(x, s, ex, emx)
        up = branch == UPPER
        return select(up, otm_black_gap(x, s, ex, emx), b), select(up, _density(x, s), bp)


@shared
def _upper_terms(beta: Real, ex: Real, gap: Real, bp: Real,
                 b_halley: Real, b_hh3: Real) -> Terms:  # fmt: skip
    gp = bp / gap
    hh3 = b_hh3 + gp * (2.0 * gp + 3.0 * b_halley)
    return -np.log((ex - beta) / gap) / gp, b_halley + gp, hh3


@shared_inline
def lower_terms(
    ln_beta: Real,
    ln_b: Real,
    b: Real,
    bp: Real,
    b_halley: Real,
    b_hh3: Real,
) -> Terms:
    """Return the lower branch's Newton, Halley and third-order terms, given ln b."""
    inv_ln_b = 1.0 / ln_b
    bpob = bp / b
    k = 1.0 + 2.0 * inv_ln_b
    newton = (ln_beta - ln_b) * ln_b / (ln_beta * bpob)
    hh3 = b_hh3 + 2.0 * bpob * bpob * (1.0 + 3.0 * inv_ln_b * (1.0 + inv_ln_b))
    return newton, b_halley - bpob * k, hh3 - 3.0 * b_halley * bpob * k


def _objective_terms_one(beta: float, ln_beta: float, ex: float, b: float, bp: float,
                         b_halley: float, b_hh3: float, branch: int) -> Terms:  # fmt: skip
    if branch == UPPER:
        return _upper_terms(beta, ex, b, bp, b_halley, b_hh3)
    if branch == LOWER:
        return lower_terms(ln_beta, math.log(b), b, bp, b_halley, b_hh3)
    return (beta - b) / bp, b_halley, b_hh3


@scalar_form(_objective_terms_one)
def objective_terms(beta: Real, ln_beta: Real, ex: Real, b: Real,
                    bp: Real, b_halley: Real, b_hh3: Real,
                    branch: Real) -> Terms:  # fmt: skip
    """Return the Newton step and the Halley / third-order ratios of the branch's objective,
    given ``objective_at``'s (b, db/ds) (b holds the gap b_max - b on the upper branch)."""
    with np.errstate(all="ignore"):
        up = _upper_terms(beta, ex, b, bp, b_halley, b_hh3)
        low = lower_terms(ln_beta, np.log(b), b, bp, b_halley, b_hh3)
    mid = ((beta - b) / bp, b_halley, b_hh3)
    return (
        select(branch == UPPER, up[0], select(branch == LOWER, low[0], mid[0])),
        select(branch == UPPER, up[1], select(branch == LOWER, low[1], mid[1])),
        select(branch == UPPER, up[2], select(branch == LOWER, low[2], mid[2])),
    )


@shared_inline
def black_ratios(x: Real, s: Real) -> Pair:
    """Return the second and third s-derivatives of b, each over the first, at (x, s)."""
    inv_s = 1.0 / s
    h = x * inv_s
    h_s = h * inv_s
    b_halley = h * h_s - 0.25 * s
    return b_halley, b_halley * b_halley - 3.0 * h_s * h_s - 0.25


@shared_inline
def householder_ds(newton: Real, halley: Real, hh3: Real, s: Real,
                   strict: bool) -> Real:  # fmt: skip
    """Return the Householder(3) step from its terms; NaN where it is not finite, or, when
    ``strict``, where the Newton step exceeds s/2; never below -s/2."""
    ds = newton * (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton * INV_3F))
    far = strict & np.logical_not(np.abs(newton) <= 0.5 * s)
    bad = np.logical_not(np.isfinite(ds)) | far
    return select(bad, np.nan, np.maximum(-0.5 * s, ds))


@shared
def householder_update(
    beta: Real,
    ln_beta: Real,
    x: Real,
    ex: Real,
    s: Real,
    b: Real,
    bp: Real,
    branch: Real,
    strict: bool,
) -> Real:
    """Return the third-order Householder step from s, given ``objective_at(x, s, ...)``.

    NaN if the objective cannot be evaluated there (b underflowed), or, when ``strict``, if
    the Newton step exceeds s/2: the point is too far for the expansion to mean anything.
    """
    b_halley, b_hh3 = black_ratios(x, s)
    newton, halley, hh3 = objective_terms(beta, ln_beta, ex, b, bp, b_halley, b_hh3, branch)
    return householder_ds(newton, halley, hh3, s, strict)


@shared
def householder_step(
    beta: Real,
    ln_beta: Real,
    x: Real,
    ex: Real,
    emx: Real,
    s: Real,
    branch: Real,
    strict: bool,
) -> Real:
    """Return the third-order Householder step for s on the branch's objective."""
    b, bp = objective_at(x, s, ex, emx, branch)
    return householder_update(beta, ln_beta, x, ex, s, b, bp, branch, strict)


@shared_inline
def objective_branch(beta: Real, x: Real, ex: Real, s: Real) -> Real:
    """Return the objective for polishing a nearby guess s: LBR's split without its guess.

    LBR's lower/middle boundary is b(x, s_c) with s_c = sqrt(-2x); b increases with s, so
    comparing the guess with s_c decides the same way without evaluating b_c.
    """
    return select(s < np.sqrt(-2.0 * x), LOWER, select(beta > 0.5 * ex, UPPER, MIDDLE))


@jit
def settle(
    beta: float,
    ln_beta: float,
    x: float,
    ex: float,
    emx: float,
    s0: float,
    ds: float,
    branch: int,
) -> float:
    """Return s0 + ds, after a second step if ds was large; NaN if that does not settle."""
    s = s0 + ds
    if abs(ds) > REFINE * s:
        ds = householder_step(beta, ln_beta, x, ex, emx, s, branch, True)
        s += ds
        if not abs(ds) <= WARM_TOL * s:
            return math.nan
    return s


def _normalised_vol_one(beta: float, x: float, ex: float, emx: float) -> Real:
    s, branch = initial_guess(beta, x, ex, emx)
    ln_beta = math.log(beta)
    ds = householder_step(beta, ln_beta, x, ex, emx, s, branch, False)
    s += ds
    if abs(ds) > REFINE * s:
        s += householder_step(beta, ln_beta, x, ex, emx, s, branch, False)
    return s


@scalar_form(_normalised_vol_one)
def normalised_vol(beta: Real, x: Real, ex: Real, emx: Real) -> Real:
    """Return s with b(x, s) = beta for x <= 0 and 0 < beta < exp(x/2)."""
    with np.errstate(all="ignore"):
        s, branch = initial_guess(beta, x, ex, emx)
        ln_beta = np.log(beta)
        ds = householder_step(beta, ln_beta, x, ex, emx, s, branch, False)
        s = s + ds
        i = np.flatnonzero(np.abs(ds) > REFINE * s)
        s[i] += householder_step(beta[i], ln_beta[i], x[i], ex[i], emx[i], s[i], branch[i], False)
    return s


def _refine_vol_one(beta: float, x: float, ex: float, emx: float, s0: float) -> Real:
    branch = objective_branch(beta, x, ex, s0)
    ln_beta = math.log(beta)
    b, bp = objective_at(x, s0, ex, emx, branch)
    ds = householder_update(beta, ln_beta, x, ex, s0, b, bp, branch, True)
    return settle(beta, ln_beta, x, ex, emx, s0, ds, branch)


@scalar_form(_refine_vol_one)
def refine_vol(beta: Real, x: Real, ex: Real, emx: Real,
               s0: Real) -> Real:  # fmt: skip
    """Polish a nearby s0 (the tabulated guess, or last tick's vol) with at most two steps;
    NaN if it does not settle, so the caller falls back to the full solve."""
    with np.errstate(all="ignore"):
        branch = objective_branch(beta, x, ex, s0)
        ln_beta = np.log(beta)
        ds = householder_step(beta, ln_beta, x, ex, emx, s0, branch, True)
        s = s0 + ds
        i = np.flatnonzero(np.abs(ds) > REFINE * s)
        ds2 = householder_step(beta[i], ln_beta[i], x[i], ex[i], emx[i], s[i], branch[i], True)
        s[i] += ds2
        s[i[~(np.abs(ds2) <= WARM_TOL * s[i])]] = np.nan
    return s
