"""erfc, the normal CDF and its inverse, in scalar (compilable) and vectorized numpy forms.

Both forms run the same float operations in the same order, so the numba kernels and the numpy
fallback agree to the last bit. The rational approximations are W. J. Cody's (Math. Comp. 23,
1969; netlib specfun CALERF) for erfc and Wichura's AS241 (Appl. Statist. 37, 1988) for the
inverse normal CDF: both are accurate to about 1e-16 relative.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._jit import inline_jit, jit

FloatArray = NDArray[np.float64]

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


@inline_jit
def _erfc_small(x: float, y: float) -> float:
    ysq = y * y if y > _XSMALL else 0.0
    xnum = _A[4] * ysq
    xden = ysq
    for i in range(3):
        xnum = (xnum + _A[i]) * ysq
        xden = (xden + _B[i]) * ysq
    return 1.0 - x * (xnum + _A[3]) / (xden + _B[3])


@jit
def _gauss_tail(y: float) -> float:
    # exp(-y^2) split as exp(-ysq^2) exp(-del) keeps full relative accuracy (Cody).
    ysq = math.floor(y * 16.0) / 16.0
    delta = (y - ysq) * (y + ysq)
    return math.exp(-ysq * ysq) * math.exp(-delta)


@jit
def _erfc_mid(y: float) -> float:
    xnum = _C[8] * y
    xden = y
    for i in range(7):
        xnum = (xnum + _C[i]) * y
        xden = (xden + _D[i]) * y
    return (xnum + _C[7]) / (xden + _D[7]) * _gauss_tail(y)


@jit
def _erfc_large(y: float) -> float:
    if y >= _XBIG:
        return 0.0
    ysq = 1.0 / (y * y)
    xnum = _P[5] * ysq
    xden = ysq
    for i in range(4):
        xnum = (xnum + _P[i]) * ysq
        xden = (xden + _Q[i]) * ysq
    return (_SQRPI - ysq * (xnum + _P[4]) / (xden + _Q[4])) / y * _gauss_tail(y)


@jit
def erfc(x: float) -> float:
    """Return the complementary error function of a float."""
    y = abs(x)
    if y <= _THRESH:
        return _erfc_small(x, y)
    r = _erfc_mid(y) if y <= 4.0 else _erfc_large(y)
    return 2.0 - r if x < 0.0 else r


@inline_jit
def _erfcx_large(y: float) -> float:
    if y >= _XHUGE:
        return _SQRPI / y
    ysq = 1.0 / (y * y)
    xnum = _P[5] * ysq
    xden = ysq
    for i in range(4):
        xnum = (xnum + _P[i]) * ysq
        xden = (xden + _Q[i]) * ysq
    return (_SQRPI - ysq * (xnum + _P[4]) / (xden + _Q[4])) / y


@inline_jit
def _erfcx_mid(y: float) -> float:
    xnum = _C[8] * y
    xden = y
    for i in range(7):
        xnum = (xnum + _C[i]) * y
        xden = (xden + _D[i]) * y
    return (xnum + _C[7]) / (xden + _D[7])


RATIONAL_LO = _THRESH
"""erfcx(y) for RATIONAL_LO < y <= 4 is one rational function (:func:`erfcx_rational`)."""


@inline_jit
def erfcx_rational(y: float) -> float:
    """Return erfcx(y) for RATIONAL_LO < y <= 4: Cody's middle rational, no exponential."""
    return _erfcx_mid(y)


@inline_jit
def erfcx_small_exponent(y: float) -> float:
    """Return the exponent whose exp :func:`erfcx_small` needs for y = |x| <= RATIONAL_LO."""
    return y * y if y > _XSMALL else 0.0


@inline_jit
def erfcx_small(x: float, y: float, e: float) -> float:
    """Return erfcx(x) for y = |x| <= RATIONAL_LO, given e = exp(erfcx_small_exponent(y))."""
    return _erfc_small(x, y) * e


@jit
def erfcx(x: float) -> float:
    """Return the scaled complementary error function exp(x^2) erfc(x)."""
    y = abs(x)
    if y <= _THRESH:
        return erfcx_small(x, y, math.exp(erfcx_small_exponent(y)))
    r = _erfcx_mid(y) if y <= 4.0 else _erfcx_large(y)
    if x >= 0.0:
        return r
    if x < _XNEG:
        return math.inf
    return 2.0 / _gauss_tail(y) - r


@jit
def norm_cdf(z: float) -> float:
    """Return the standard normal CDF."""
    return 0.5 * erfc(-z * ONE_OVER_SQRT_2)


@inline_jit
def norm_cdf_given_pdf(z: float, e: float) -> float:
    """Return N(z) given e = exp(-z^2 / 2), which the caller has for the density anyway.

    Cody's erfc is erfcx's rational times exp(-y^2), y = |z|/sqrt(2); reusing e spares the two
    exponentials of its accurate split (e carries the rounding of z^2, ~1e-15 relative in the
    tail, immaterial for a delta).
    """
    y = abs(z) * ONE_OVER_SQRT_2
    if y <= _THRESH:
        return 0.5 * _erfc_small(-z * ONE_OVER_SQRT_2, y)
    tail = 0.5 * (_erfcx_mid(y) if y <= 4.0 else _erfcx_large(y)) * e
    return 1.0 - tail if z > 0.0 else tail


@jit
def _ratio8(r: float, num: tuple[float, ...], den: tuple[float, ...]) -> float:
    n = num[0]
    d = den[0]
    for i in range(1, 8):
        n = n * r + num[i]
        d = d * r + den[i]
    return n / d


@jit
def inv_norm_cdf(u: float) -> float:
    """Return the standard normal quantile (AS241); -inf at 0, +inf at 1."""
    if u <= 0.0:
        return math.log(u) if u == 0.0 else math.nan
    if u >= 1.0:
        return -math.log(1.0 - u) if u == 1.0 else math.nan
    q = u - 0.5
    if abs(q) <= 0.425:
        return q * _ratio8(0.180625 - q * q, _AN, _AD)
    r = math.sqrt(-math.log(u if q < 0.0 else 1.0 - u))
    ret = _ratio8(r - 1.6, _CN, _CD) if r < 5.0 else _ratio8(r - 5.0, _EN, _ED)
    return -ret if q < 0.0 else ret


# ---- vectorized twins: same operations, same order -------------------------------------------


def _gauss_tail_v(y: FloatArray) -> FloatArray:
    ysq = np.floor(y * 16.0) / 16.0
    delta = (y - ysq) * (y + ysq)
    out: FloatArray = np.exp(-ysq * ysq) * np.exp(-delta)
    return out


def _erfc_small_v(x: FloatArray, y: FloatArray) -> FloatArray:
    ysq = np.where(y > _XSMALL, y * y, 0.0)
    xnum = _A[4] * ysq
    xden = ysq
    for i in range(3):
        xnum = (xnum + _A[i]) * ysq
        xden = (xden + _B[i]) * ysq
    out: FloatArray = 1.0 - x * (xnum + _A[3]) / (xden + _B[3])
    return out


def _erfc_mid_v(y: FloatArray) -> FloatArray:
    xnum = _C[8] * y
    xden = y
    for i in range(7):
        xnum = (xnum + _C[i]) * y
        xden = (xden + _D[i]) * y
    out: FloatArray = (xnum + _C[7]) / (xden + _D[7]) * _gauss_tail_v(y)
    return out


def _erfc_large_v(y: FloatArray) -> FloatArray:
    ysq = 1.0 / (y * y)
    xnum = _P[5] * ysq
    xden = ysq
    for i in range(4):
        xnum = (xnum + _P[i]) * ysq
        xden = (xden + _Q[i]) * ysq
    tail = (_SQRPI - ysq * (xnum + _P[4]) / (xden + _Q[4])) / y * _gauss_tail_v(y)
    out: FloatArray = np.where(y >= _XBIG, 0.0, tail)
    return out


def erfc_v(x: FloatArray) -> FloatArray:
    """Return erfc elementwise, bit-identical to :func:`erfc`."""
    x = np.asarray(x, dtype=np.float64)
    y = np.abs(x)
    out = np.empty_like(x)
    small = y <= _THRESH
    mid = ~small & (y <= 4.0)
    large = ~small & ~mid
    with np.errstate(all="ignore"):
        for mask, kind in ((small, 0), (mid, 1), (large, 2)):
            idx = np.flatnonzero(mask)
            if idx.size == 0:
                continue
            yy = y[idx]
            if kind == 0:
                out[idx] = _erfc_small_v(x[idx], yy)
                continue
            r = _erfc_mid_v(yy) if kind == 1 else _erfc_large_v(yy)
            out[idx] = np.where(x[idx] < 0.0, 2.0 - r, r)
    return out


def _erfcx_mid_v(y: FloatArray) -> FloatArray:
    xnum = _C[8] * y
    xden = y
    for i in range(7):
        xnum = (xnum + _C[i]) * y
        xden = (xden + _D[i]) * y
    out: FloatArray = (xnum + _C[7]) / (xden + _D[7])
    return out


def _erfcx_large_v(y: FloatArray) -> FloatArray:
    ysq = 1.0 / (y * y)
    xnum = _P[5] * ysq
    xden = ysq
    for i in range(4):
        xnum = (xnum + _P[i]) * ysq
        xden = (xden + _Q[i]) * ysq
    r = (_SQRPI - ysq * (xnum + _P[4]) / (xden + _Q[4])) / y
    out: FloatArray = np.where(y >= _XHUGE, _SQRPI / y, r)
    return out


def erfcx_v(x: FloatArray) -> FloatArray:
    """Return exp(x^2) erfc(x) elementwise, bit-identical to :func:`erfcx`."""
    x = np.asarray(x, dtype=np.float64)
    y = np.abs(x)
    out = np.empty_like(x)
    small = y <= _THRESH
    mid = ~small & (y <= 4.0)
    large = ~small & ~mid
    with np.errstate(all="ignore"):
        idx = np.flatnonzero(small)
        ys = y[idx]
        out[idx] = _erfc_small_v(x[idx], ys) * np.exp(np.where(ys > _XSMALL, ys * ys, 0.0))
        for mask, fn in ((mid, _erfcx_mid_v), (large, _erfcx_large_v)):
            idx = np.flatnonzero(mask)
            yy = y[idx]
            r = fn(yy)
            xx = x[idx]
            neg = np.where(xx < _XNEG, np.inf, 2.0 / _gauss_tail_v(yy) - r)
            out[idx] = np.where(xx >= 0.0, r, neg)
    return out


def norm_cdf_v(z: FloatArray) -> FloatArray:
    """Return the normal CDF elementwise, bit-identical to :func:`norm_cdf`."""
    out: FloatArray = 0.5 * erfc_v(-np.asarray(z, dtype=np.float64) * ONE_OVER_SQRT_2)
    return out


def norm_cdf_given_pdf_v(z: FloatArray, e: FloatArray) -> FloatArray:
    """Return N(z) elementwise given e = exp(-z^2 / 2), bit-identical to the scalar form."""
    y = np.abs(z) * ONE_OVER_SQRT_2
    out = np.empty_like(z)
    with np.errstate(all="ignore"):
        small = y <= _THRESH
        idx = np.flatnonzero(small)
        out[idx] = 0.5 * _erfc_small_v(-z[idx] * ONE_OVER_SQRT_2, y[idx])
        mid = ~small & (y <= 4.0)
        for mask, fn in ((mid, _erfcx_mid_v), (~small & ~mid, _erfcx_large_v)):
            idx = np.flatnonzero(mask)
            tail = 0.5 * fn(y[idx]) * e[idx]
            out[idx] = np.where(z[idx] > 0.0, 1.0 - tail, tail)
    return out


def _ratio8_v(r: FloatArray, num: tuple[float, ...], den: tuple[float, ...]) -> FloatArray:
    n = np.full_like(r, num[0])
    d = np.full_like(r, den[0])
    for i in range(1, 8):
        n = n * r + num[i]
        d = d * r + den[i]
    out: FloatArray = n / d
    return out


def inv_norm_cdf_v(u: FloatArray) -> FloatArray:
    """Return the normal quantile elementwise, bit-identical to :func:`inv_norm_cdf`."""
    u = np.asarray(u, dtype=np.float64)
    out = np.full_like(u, np.nan)
    q = u - 0.5
    with np.errstate(all="ignore"):
        out[u == 0.0] = -np.inf
        out[u == 1.0] = np.inf
        inside = (u > 0.0) & (u < 1.0)
        central = inside & (np.abs(q) <= 0.425)
        idx = np.flatnonzero(central)
        qc = q[idx]
        out[idx] = qc * _ratio8_v(0.180625 - qc * qc, _AN, _AD)
        idx = np.flatnonzero(inside & ~central)
        qt = q[idx]
        r = np.sqrt(-np.log(np.where(qt < 0.0, u[idx], 1.0 - u[idx])))
        near = r < 5.0
        ret = np.where(near, _ratio8_v(r - 1.6, _CN, _CD), _ratio8_v(r - 5.0, _EN, _ED))
        out[idx] = np.where(qt < 0.0, -ret, ret)
    return out
