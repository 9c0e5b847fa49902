"""erfc, erfcx, the normal CDF and its inverse, for a float (compiled) or an array (numpy).

The rational approximations are W. J. Cody's (Math. Comp. 23, 1969; netlib specfun CALERF)
for erfc and Wichura's AS241 (Appl. Statist. 37, 1988) for the inverse normal CDF: both are
accurate to about 1e-16 relative. Each region's formula is written once (``_jit.shared``);
the public functions choose the region per option in compiled code and by index subsets on
arrays (``_jit.scalar_form``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from monitor.pricing._jit import scalar_form, select, shared, shared_inline

Real = Any  # a float in compiled code (one option), a float64 array on the numpy path

ONE_OVER_SQRT_2 = 0.7071067811865475244008443621048490392848359376887
ONE_OVER_SQRT_2PI = 0.3989422804014326779399460599343818684758586311649

_A = (3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947,
      0.185777706184603153)  # fmt: skip
_B = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_C = (0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131,
      881.95222124176909, 1712.04761263407058, 2051.07837782607147, 1230.33935479799725,
      2.15311535474403846e-8)  # fmt: skip
_D = (15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019,
      3290.79923573345963, 4362.61909014324716, 3439.36767414372164,
      1230.33935480374942)  # fmt: skip
_P = (0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766,
      6.58749161529837803e-4, 0.0163153871373020978)  # fmt: skip
_Q = (2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191,
      0.00233520497626869185)  # fmt: skip
_SQRPI = 0.56418958354775628695
_THRESH = 0.46875
_XSMALL = 1.11e-16
_XBIG = 26.543
_XHUGE = 6.71e7
_XNEG = -26.628

# AS241 (PPND16): numerator and denominator coefficients, highest order first.
_AN = (2.5090809287301226727e3, 3.3430575583588128105e4, 6.7265770927008700853e4,
       4.5921953931549871457e4, 1.3731693765509461125e4, 1.9715909503065514427e3,
       1.3314166789178437745e2, 3.3871328727963666080e0)  # fmt: skip
_AD = (5.2264952788528545610e3, 2.8729085735721942674e4, 3.9307895800092710610e4,
       2.1213794301586595867e4, 5.3941960214247511077e3, 6.8718700749205790830e2,
       4.2313330701600911252e1, 1.0)  # fmt: skip
_CN = (7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
       1.27045825245236838258e0, 3.64784832476320460504e0, 5.76949722146069140550e0,
       4.63033784615654529590e0, 1.42343711074968357734e0)  # fmt: skip
_CD = (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
       1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e0,
       2.05319162663775882187e0, 1.0)  # fmt: skip
_EN = (2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
       2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e0,
       5.46378491116411436990e0, 6.65790464350110377720e0)  # fmt: skip
_ED = (2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
       7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
       5.99832206555887937690e-1, 1.0)  # fmt: skip


# ---- the formulas, one per region (y = |x|) ---------------------------------------------------


@shared_inline
def _erfc_small(x: Real, y: Real) -> Real:
    # Cody's loops written out: numba warned about inlining helpers that loop.
    z = select(y > _XSMALL, y * y, 0.0)
    xnum = (((_A[4] * z + _A[0]) * z + _A[1]) * z + _A[2]) * z
    xden = (((z + _B[0]) * z + _B[1]) * z + _B[2]) * z
    return 1.0 - x * (xnum + _A[3]) / (xden + _B[3])


@shared
def _gauss_tail(y: Real) -> Real:
    # exp(-y^2) split as exp(-ysq^2) exp(-del) keeps full relative accuracy (Cody).
    ysq = np.floor(y * 16.0) / 16.0
    delta = (y - ysq) * (y + ysq)
    return np.exp(-ysq * ysq) * np.exp(-delta)


@shared_inline
def _erfcx_mid(y: Real) -> Real:
    xnum = _C[8] * y
    xnum = (((((((xnum + _C[0]) * y + _C[1]) * y + _C[2]) * y + _C[3]) * y + _C[4]) * y + _C[5])
            * y + _C[6]) * y  # fmt: skip
    xden = (((((((y + _D[0]) * y + _D[1]) * y + _D[2]) * y + _D[3]) * y + _D[4]) * y + _D[5])
            * y + _D[6]) * y  # fmt: skip
    return (xnum + _C[7]) / (xden + _D[7])


@shared_inline
def _erfcx_large(y: Real) -> Real:
    z = 1.0 / (y * y)
    xnum = (((_P[5] * z + _P[0]) * z + _P[1]) * z + _P[2]) * z + _P[3]
    xden = (((z + _Q[0]) * z + _Q[1]) * z + _Q[2]) * z + _Q[3]
    r = (_SQRPI - z * (xnum * z + _P[4]) / (xden * z + _Q[4])) / y
    return select(y >= _XHUGE, _SQRPI / y, r)


def _erfcx_tail_one(y: Real) -> Real:
    return _erfcx_mid(y) if y <= 4.0 else _erfcx_large(y)


@scalar_form(_erfcx_tail_one, inline=True)
def _erfcx_tail(y: Real) -> Real:
    # erfcx(y) for y > RATIONAL_LO: Cody's middle rational up to 4, the asymptotic one beyond.
    return select(y <= 4.0, _erfcx_mid(y), _erfcx_large(y))


@shared
def _erfc_tail(x: Real, y: Real) -> Real:
    r = select(y >= _XBIG, 0.0, _erfcx_tail(y) * _gauss_tail(y))
    return select(x < 0.0, 2.0 - r, r)


@shared
def _erfcx_negative(x: Real, y: Real, r: Real) -> Real:
    # erfcx(x) for x < -RATIONAL_LO from r = erfcx(|x|): 2 exp(x^2) - r, inf once that overflows.
    return select(x >= 0.0, r, select(x < _XNEG, np.inf, 2.0 / _gauss_tail(y) - r))


RATIONAL_LO = _THRESH
"""erfcx(y) for RATIONAL_LO < y <= 4 is one rational function (:func:`erfcx_rational`)."""


erfcx_rational = _erfcx_mid
"""erfcx(y) for RATIONAL_LO < y <= 4: Cody's middle rational, no exponential."""


@shared_inline
def erfcx_small_exponent(y: Real) -> Real:
    """Return the exponent whose exp :func:`erfcx_small` needs for y = |x| <= RATIONAL_LO."""
    return select(y > _XSMALL, y * y, 0.0)


@shared_inline
def erfcx_small(x: Real, y: Real, e: Real) -> Real:
    """Return erfcx(x) for y = |x| <= RATIONAL_LO, given e = exp(erfcx_small_exponent(y))."""
    return _erfc_small(x, y) * e


@shared
def _ratio8(r: Real, num: tuple[float, ...], den: tuple[float, ...]) -> Real:
    n = ((((((num[0] * r + num[1]) * r + num[2]) * r + num[3]) * r + num[4]) * r + num[5]) * r
         + num[6]) * r + num[7]  # fmt: skip
    d = ((((((den[0] * r + den[1]) * r + den[2]) * r + den[3]) * r + den[4]) * r + den[5]) * r
         + den[6]) * r + den[7]  # fmt: skip
    return n / d


@shared
def _quantile_central(q: Real) -> Real:
    return q * _ratio8(0.180625 - q * q, _AN, _AD)


@shared
def _quantile_tail(u: Real, q: Real) -> Real:
    r = np.sqrt(-np.log(select(q < 0.0, u, 1.0 - u)))
    ret = select(r < 5.0, _ratio8(r - 1.6, _CN, _CD), _ratio8(r - 5.0, _EN, _ED))
    return select(q < 0.0, -ret, ret)


@shared_inline
def _norm_cdf_small(z: Real, e: Real, y: Real) -> Real:
    return 0.5 * _erfc_small(-z * ONE_OVER_SQRT_2, y)


@shared_inline
def _norm_cdf_tail(z: Real, e: Real, y: Real) -> Real:
    tail = 0.5 * _erfcx_tail(y) * e
    return select(z > 0.0, 1.0 - tail, tail)


def _by_region(y: Real, small: Any, rest: Any, *args: Real) -> Real:
    # The array form of "small(*args, y) if y <= RATIONAL_LO else rest(*args, y)".
    shape = np.shape(y)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    flat = [np.broadcast_to(a, shape).reshape(-1) for a in args]
    out = np.empty(y.shape)
    near = y <= _THRESH
    with np.errstate(all="ignore"):
        for fn, i in ((small, np.flatnonzero(near)), (rest, np.flatnonzero(~near))):
            out[i] = fn(*(a[i] for a in flat), y[i])
    return out.reshape(shape)


# ---- the public functions: a branch per float, a subset per region on arrays ------------------


def _erfc_one(x: float) -> Real:
    # _erfc_tail with its selects as branches: per option, the exponentials only where used.
    y = abs(x)
    if y <= _THRESH:
        return _erfc_small(x, y)
    r = 0.0 if y >= _XBIG else _erfcx_tail(y) * _gauss_tail(y)
    return 2.0 - r if x < 0.0 else r


@scalar_form(_erfc_one)
def erfc(x: Real) -> Real:
    """Return the complementary error function."""
    x = np.asarray(x, dtype=np.float64)
    return _by_region(np.abs(x), _erfc_small, _erfc_tail, x)


@shared
def _erfcx_near(x: Real, y: Real) -> Real:
    return erfcx_small(x, y, np.exp(erfcx_small_exponent(y)))


@shared
def _erfcx_far(x: Real, y: Real) -> Real:
    return _erfcx_negative(x, y, _erfcx_tail(y))


def _erfcx_one(x: float) -> Real:
    y = abs(x)
    if y <= _THRESH:
        return _erfcx_near(x, y)
    r = _erfcx_tail(y)
    return r if x >= 0.0 else _erfcx_negative(x, y, r)  # exp(x^2) only for x < 0


@scalar_form(_erfcx_one)
def erfcx(x: Real) -> Real:
    """Return the scaled complementary error function exp(x^2) erfc(x)."""
    x = np.asarray(x, dtype=np.float64)
    return _by_region(np.abs(x), _erfcx_near, _erfcx_far, x)


@shared
def norm_cdf(z: Real) -> Real:
    """Return the standard normal CDF."""
    return 0.5 * erfc(-z * ONE_OVER_SQRT_2)


def _norm_cdf_given_pdf_one(z: float, e: float) -> Real:
    y = abs(z) * ONE_OVER_SQRT_2
    return _norm_cdf_small(z, e, y) if y <= _THRESH else _norm_cdf_tail(z, e, y)


@scalar_form(_norm_cdf_given_pdf_one, inline=True)
def norm_cdf_given_pdf(z: Real, e: Real) -> Real:
    """Return N(z) given e = exp(-z^2 / 2), which the caller has for the density anyway.

    Cody's erfc is erfcx's rational times exp(-y^2), y = |z|/sqrt(2); reusing e spares the two
    exponentials of its accurate split (e carries the rounding of z^2, ~1e-15 relative in the
    tail, immaterial for a delta).
    """
    z = np.asarray(z, dtype=np.float64)
    return _by_region(np.abs(z) * ONE_OVER_SQRT_2, _norm_cdf_small, _norm_cdf_tail, z, e)


def _inv_norm_cdf_one(u: float) -> Real:
    if u <= 0.0:
        return math.log(u) if u == 0.0 else math.nan
    if u >= 1.0:
        return -math.log(1.0 - u) if u == 1.0 else math.nan
    q = u - 0.5
    if abs(q) <= 0.425:
        return _quantile_central(q)
    return _quantile_tail(u, q)


@scalar_form(_inv_norm_cdf_one)
def inv_norm_cdf(u: Real) -> Real:
    """Return the standard normal quantile (AS241); -inf at 0, +inf at 1, NaN outside."""
    u = np.asarray(u, dtype=np.float64)
    out = np.full_like(u, np.nan)
    q = u - 0.5
    with np.errstate(all="ignore"):
        out[u == 0.0] = -np.inf
        out[u == 1.0] = np.inf
        inside = (u > 0.0) & (u < 1.0)
        central = inside & (np.abs(q) <= 0.425)
        i = np.flatnonzero(central)
        out[i] = _quantile_central(q[i])
        i = np.flatnonzero(inside & ~central)
        out[i] = _quantile_tail(u[i], q[i])
    return out
