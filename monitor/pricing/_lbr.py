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
normal-CDF form for d1 > 0.85. ``ex``/``emx`` are exp(x/2)/exp(-x/2), computed once. The exp
and log of the solver's path are ``_elementary``'s (plain arithmetic the block kernels vectorize).

These are scalar functions (compiled by numba when present); ``_lbr_vec.py`` is their
vectorized twin and must stay operation-for-operation identical.
"""

from __future__ import annotations

import math

import numpy as np

from monitor.pricing._elementary import exp, log
from monitor.pricing._jit import inline_jit, jit
from monitor.pricing._rational_cubic import r_left, r_right, rc_interp
from monitor.pricing._special import ONE_OVER_SQRT_2, ONE_OVER_SQRT_2PI, erfc, erfcx, inv_norm_cdf

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


@jit
def small_t_expansion(h: float, t: float) -> float:
    """Return b / (exp(-(h^2 + t^2)/2) / sqrt(2 pi)) for t < 0.21, h <= 0 (Jäckel's series)."""
    return small_t_series(h, t, erfcx(-ONE_OVER_SQRT_2 * h))


@inline_jit
def small_t_series(h: float, t: float, r: float) -> float:
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


@jit
def black_vega(x: float, s: float, ex: float, emx: float) -> tuple[float, float]:
    """Return b(x, s) and db/ds for x <= 0, choosing the accurate formula per region.

    Small t = s/2 near the money uses Jäckel's series, the body the erfcx form (no underflow,
    mild cancellation), and d1 > 0.85 the plain normal-CDF form.
    """
    h = x / s
    t = 0.5 * s
    if h + t > 0.85:
        b = 0.5 * (ex * erfc(-(h + t) * ONE_OVER_SQRT_2) - emx * erfc(-(h - t) * ONE_OVER_SQRT_2))
        return b, ONE_OVER_SQRT_2PI * exp(-0.5 * (h * h + t * t))
    e = exp(-0.5 * (h * h + t * t))
    if t < SMALL_T and h >= -10.0:
        return ONE_OVER_SQRT_2PI * e * small_t_expansion(h, t), ONE_OVER_SQRT_2PI * e
    b = 0.5 * e * (erfcx(-(h + t) * ONE_OVER_SQRT_2) - erfcx(-(h - t) * ONE_OVER_SQRT_2))
    return b, ONE_OVER_SQRT_2PI * e


@jit
def otm_black(x: float, s: float, ex: float, emx: float) -> float:
    """Return b(x, s) for x <= 0."""
    return black_vega(x, s, ex, emx)[0]


@jit
def otm_black_gap(x: float, s: float, ex: float, emx: float) -> float:
    """Return b_max - b(x, s) without cancellation: exp(x/2) N(-d1) + exp(-x/2) N(d2)."""
    h = x / s
    t = 0.5 * s
    return 0.5 * (ex * erfc((h + t) * ONE_OVER_SQRT_2) + emx * erfc(-(h - t) * ONE_OVER_SQRT_2))


@jit
def lower_guess(beta: float, x: float, s_l: float, b_l: float) -> float:
    """Guess s in the lower wing via the map f = 2pi/sqrt(27) |x| N(-|x|/(sqrt(3) s))^3.

    N(-z)/phi(z) comes from erfcx, so the map and its two derivatives cost two exponentials.
    """
    ax = -x
    z = SQRT_ONE_OVER_THREE * ax / s_l
    y = z * z
    s2 = s_l * s_l
    mills = SQRT_PI_OVER_TWO * erfcx(z * ONE_OVER_SQRT_2)
    e_half = math.exp(-0.5 * y)
    e_s = math.exp(0.125 * s2)
    cdf = ONE_OVER_SQRT_2PI * mills * e_half
    shape = 8.0 * SQRT_THREE * s_l * ax + (3.0 * s2 * (s2 - 8.0) - 8.0 * x * x) * mills
    grown = ONE_OVER_SQRT_2PI * mills / (e_half * e_half * e_half)
    fpp = PI_OVER_SIX * y / (s2 * s_l) * grown * shape * (e_s * e_s)
    fp = y * mills * mills * e_s
    f_l = TWO_PI_OVER_SQRT_27 * ax * (cdf * cdf * cdf)
    r = r_right(0.0, b_l, 0.0, f_l, 1.0, fp, fpp, True)
    f = rc_interp(beta, 0.0, b_l, 0.0, f_l, 1.0, fp, r)
    if not f > 0.0:
        t = beta / b_l
        f = (f_l * t + b_l * (1.0 - t)) * t
    return abs(x / (SQRT_THREE * inv_norm_cdf(np.cbrt(f / (TWO_PI_OVER_SQRT_27 * ax)))))


@jit
def upper_guess(beta: float, x: float, s_h: float, b_h: float, b_max: float) -> float:
    """Guess s near the upper bound via the map f = N(-s/2)."""
    f_h = 0.5 * erfc(0.5 * s_h * ONE_OVER_SQRT_2)
    w = (x / s_h) * (x / s_h)
    fp = -0.5 * math.exp(0.5 * w)
    fpp = SQRT_PI_OVER_TWO * math.exp(w + 0.125 * s_h * s_h) * w / s_h
    f = -1.0
    if -SQRT_DBL_MAX < fpp < SQRT_DBL_MAX:
        r = r_left(b_h, b_max, f_h, 0.0, fp, -0.5, fpp, True)
        f = rc_interp(beta, b_h, b_max, f_h, 0.0, fp, -0.5, r)
    if f <= 0.0:
        h = b_max - b_h
        t = (beta - b_h) / h
        f = (f_h * (1.0 - t) + 0.5 * h * t) * (1.0 - t)
    return -2.0 * inv_norm_cdf(f)


@jit
def initial_guess(beta: float, x: float, ex: float, emx: float) -> tuple[float, int]:
    """Return the rational guess for s and the branch whose objective the iteration uses."""
    s_c = math.sqrt(-2.0 * x)
    b_c = 0.5 * ex * (1.0 - erfcx(math.sqrt(-x)))
    v_c = ONE_OVER_SQRT_2PI * ex
    if beta < b_c:
        s_l = s_c - b_c / v_c
        b_l, v_l = black_vega(x, s_l, ex, emx)
        if beta < b_l:
            return lower_guess(beta, x, s_l, b_l), LOWER
        r = r_right(b_l, b_c, s_l, s_c, 1.0 / v_l, 1.0 / v_c, 0.0, False)
        return rc_interp(beta, b_l, b_c, s_l, s_c, 1.0 / v_l, 1.0 / v_c, r), MIDDLE
    s_h = s_c + (ex - b_c) / v_c
    b_h, v_h = black_vega(x, s_h, ex, emx)
    if beta <= b_h:
        r = r_left(b_c, b_h, s_c, s_h, 1.0 / v_c, 1.0 / v_h, 0.0, False)
        return rc_interp(beta, b_c, b_h, s_c, s_h, 1.0 / v_c, 1.0 / v_h, r), MIDDLE
    s = upper_guess(beta, x, s_h, b_h, ex)
    return s, (UPPER if beta > 0.5 * ex else MIDDLE)


@jit
def objective_at(x: float, s: float, ex: float, emx: float, branch: int) -> tuple[float, float]:
    """Return what a step on the branch's objective needs at s: (b, db/ds), or on the upper
    branch (b_max - b, db/ds). This is the expensive half of a step (erfcx/erfc and exp)."""
    if branch == UPPER:
        h = x * (1.0 / s)
        t = 0.5 * s
        return otm_black_gap(x, s, ex, emx), ONE_OVER_SQRT_2PI * math.exp(-0.5 * (h * h + t * t))
    return black_vega(x, s, ex, emx)


@jit
def _objective_terms(
    beta: float,
    ln_beta: float,
    ex: float,
    b: float,
    bp: float,
    b_halley: float,
    b_hh3: float,
    branch: int,
) -> tuple[float, float, float]:
    # Newton step and the Halley / third-order ratios of the branch's objective.
    if branch == UPPER:
        gp = bp / b  # b holds the gap b_max - b on this branch
        hh3 = b_hh3 + gp * (2.0 * gp + 3.0 * b_halley)
        return -math.log((ex - beta) / b) / gp, b_halley + gp, hh3
    if branch == LOWER:
        return lower_terms(ln_beta, log(b), b, bp, b_halley, b_hh3)
    return (beta - b) / bp, b_halley, b_hh3


@inline_jit
def lower_terms(
    ln_beta: float, ln_b: float, b: float, bp: float, b_halley: float, b_hh3: float
) -> tuple[float, float, float]:
    """Return the lower branch's Newton, Halley and third-order terms, given ln b."""
    inv_ln_b = 1.0 / ln_b
    bpob = bp / b
    k = 1.0 + 2.0 * inv_ln_b
    newton = (ln_beta - ln_b) * ln_b / (ln_beta * bpob)
    hh3 = b_hh3 + 2.0 * bpob * bpob * (1.0 + 3.0 * inv_ln_b * (1.0 + inv_ln_b))
    return newton, b_halley - bpob * k, hh3 - 3.0 * b_halley * bpob * k


@inline_jit
def black_ratios(x: float, s: float) -> tuple[float, float]:
    """Return the second and third s-derivatives of b, each over the first, at (x, s)."""
    inv_s = 1.0 / s
    h = x * inv_s
    h_s = h * inv_s
    b_halley = h * h_s - 0.25 * s
    return b_halley, b_halley * b_halley - 3.0 * h_s * h_s - 0.25


@inline_jit
def householder_ds(newton: float, halley: float, hh3: float, s: float, strict: bool) -> float:
    """Return the Householder(3) step from its terms; NaN where it is not finite, or, when
    ``strict``, where the Newton step exceeds s/2; never below -s/2."""
    ds = newton * (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton * INV_3F))
    bad = (not math.isfinite(ds)) | (strict & (not abs(newton) <= 0.5 * s))
    return math.nan if bad else max(-0.5 * s, ds)


@jit
def householder_update(
    beta: float,
    ln_beta: float,
    x: float,
    ex: float,
    s: float,
    b: float,
    bp: float,
    branch: int,
    strict: bool,
) -> float:
    """Return the third-order Householder step from s, given ``objective_at(x, s, ...)``.

    NaN if the objective cannot be evaluated there (b underflowed), or, when ``strict``, if
    the Newton step exceeds s/2: the point is too far for the expansion to mean anything.
    """
    b_halley, b_hh3 = black_ratios(x, s)
    newton, halley, hh3 = _objective_terms(beta, ln_beta, ex, b, bp, b_halley, b_hh3, branch)
    return householder_ds(newton, halley, hh3, s, strict)


@jit
def householder_step(
    beta: float,
    ln_beta: float,
    x: float,
    ex: float,
    emx: float,
    s: float,
    branch: int,
    strict: bool,
) -> float:
    """Return the third-order Householder step for s on the branch's objective."""
    b, bp = objective_at(x, s, ex, emx, branch)
    return householder_update(beta, ln_beta, x, ex, s, b, bp, branch, strict)


@jit
def normalised_vol(beta: float, x: float, ex: float, emx: float) -> float:
    """Return s with b(x, s) = beta for x <= 0 and 0 < beta < exp(x/2)."""
    s, branch = initial_guess(beta, x, ex, emx)
    ln_beta = log(beta)
    ds = householder_step(beta, ln_beta, x, ex, emx, s, branch, False)
    s += ds
    if abs(ds) > REFINE * s:
        s += householder_step(beta, ln_beta, x, ex, emx, s, branch, False)
    return s


@inline_jit
def objective_branch(beta: float, x: float, ex: float, s: float) -> int:
    """Return the objective for polishing a nearby guess s: LBR's split without its guess.

    LBR's lower/middle boundary is b(x, s_c) with s_c = sqrt(-2x); b increases with s, so
    comparing the guess with s_c decides the same way without evaluating b_c.
    """
    if s < math.sqrt(-2.0 * x):
        return LOWER
    return UPPER if beta > 0.5 * ex else MIDDLE


@jit
def refine_start(
    beta: float, x: float, ex: float, emx: float, s0: float
) -> tuple[int, float, float, float]:
    """Return the first half of :func:`refine_vol`: objective, ln beta and objective_at(s0)."""
    branch = objective_branch(beta, x, ex, s0)
    b, bp = objective_at(x, s0, ex, emx, branch)
    return branch, log(beta), b, bp


@jit
def refine_finish(
    beta: float,
    ln_beta: float,
    x: float,
    ex: float,
    emx: float,
    s0: float,
    branch: int,
    b: float,
    bp: float,
) -> float:
    """Return the second half of :func:`refine_vol`, from :func:`refine_start`'s values."""
    ds = householder_update(beta, ln_beta, x, ex, s0, b, bp, branch, True)
    return settle(beta, ln_beta, x, ex, emx, s0, ds, branch)


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


@jit
def refine_vol(beta: float, x: float, ex: float, emx: float, s0: float) -> float:
    """Polish a nearby s0 (the tabulated guess, or last tick's vol) with at most two steps;
    NaN if it does not settle, so the caller falls back to the full solve.

    Split in two halves so the block kernels can run each over many options at a time.
    """
    branch, ln_beta, b, bp = refine_start(beta, x, ex, emx, s0)
    return refine_finish(beta, ln_beta, x, ex, emx, s0, branch, b, bp)
