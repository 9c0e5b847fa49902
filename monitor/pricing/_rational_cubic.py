"""Rational cubic interpolation (Delbourgo & Gregory) with convexity-preserving control, as
"Let's Be Rational" uses it for its initial guesses; scalar (compilable) and vectorized twins.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._jit import jit

FloatArray = NDArray[np.float64]

DBL_EPSILON = 2.220446049250313e-16
DBL_MAX = 1.7976931348623157e308
MAX_R = 2.0 / (DBL_EPSILON * DBL_EPSILON)
MIN_R = -(1.0 - 1.4901161193847656e-08)


@jit
def rc_interp(
    x: float, x_l: float, x_r: float, y_l: float, y_r: float, d_l: float, d_r: float, r: float
) -> float:
    """Rational cubic interpolation (Delbourgo & Gregory) with control parameter ``r``."""
    h = x_r - x_l
    if abs(h) <= 0.0:
        return 0.5 * (y_l + y_r)
    t = (x - x_l) / h
    if r >= MAX_R:
        return y_r * t + y_l * (1.0 - t)
    omt = 1.0 - t
    t2 = t * t
    omt2 = omt * omt
    num = y_r * t2 * t + (r * y_r - h * d_r) * t2 * omt + (r * y_l + h * d_l) * t * omt2
    return (num + y_l * omt2 * omt) / (1.0 + (r - 3.0) * t * omt)


@jit
def nan_max(a: float, b: float) -> float:
    """Return max(a, b) propagating NaN like numpy.maximum (Python's max does not)."""
    if a != a or b != b:
        return a + b
    return a if a >= b else b


@jit
def _r_from(num: float, den: float) -> float:
    if num == 0.0:
        return 0.0
    if den == 0.0:
        return MAX_R if num > 0.0 else MIN_R
    return num / den


@jit
def _r_min(d_l: float, d_r: float, s: float, prefer_shape: bool) -> float:
    monotonic = d_l * s >= 0.0 and d_r * s >= 0.0
    convex = d_l <= s and s <= d_r
    concave = d_l >= s and s >= d_r
    if not monotonic and not convex and not concave:
        return MIN_R
    r1 = -DBL_MAX
    r2 = -DBL_MAX
    if monotonic:
        if s != 0.0:
            r1 = (d_r + d_l) / s
        elif prefer_shape:
            r1 = MAX_R
    if convex or concave:
        s_m_d_l = s - d_l
        d_r_m_s = d_r - s
        if s_m_d_l != 0.0 and d_r_m_s != 0.0:
            d_r_m_d_l = d_r - d_l
            r2 = nan_max(abs(d_r_m_d_l / d_r_m_s), abs(d_r_m_d_l / s_m_d_l))
        elif prefer_shape:
            r2 = MAX_R
    elif monotonic and prefer_shape:
        r2 = MAX_R
    return nan_max(MIN_R, nan_max(r1, r2))


@jit
def r_left(
    x_l: float, x_r: float, y_l: float, y_r: float, d_l: float, d_r: float, d2_l: float, pref: bool
) -> float:
    """Return the convexity-preserving control parameter matching the left second derivative."""
    h = x_r - x_l
    slope = (y_r - y_l) / h
    r = _r_from(0.5 * h * d2_l + (d_r - d_l), slope - d_l)
    return nan_max(r, _r_min(d_l, d_r, slope, pref))


@jit
def r_right(
    x_l: float, x_r: float, y_l: float, y_r: float, d_l: float, d_r: float, d2_r: float, pref: bool
) -> float:
    """Return the convexity-preserving control parameter matching the right second derivative."""
    h = x_r - x_l
    slope = (y_r - y_l) / h
    r = _r_from(0.5 * h * d2_r + (d_r - d_l), d_r - slope)
    return nan_max(r, _r_min(d_l, d_r, slope, pref))


# ---- vectorized twins ------------------------------------------------------------------------


def rc_interp_v(
    x: FloatArray,
    x_l: FloatArray,
    x_r: FloatArray,
    y_l: FloatArray,
    y_r: FloatArray,
    d_l: FloatArray,
    d_r: FloatArray,
    r: FloatArray,
) -> FloatArray:
    """Rational cubic interpolation elementwise."""
    h = x_r - x_l
    t = (x - x_l) / h
    omt = 1.0 - t
    t2 = t * t
    omt2 = omt * omt
    num = y_r * t2 * t + (r * y_r - h * d_r) * t2 * omt + (r * y_l + h * d_l) * t * omt2
    cubic = (num + y_l * omt2 * omt) / (1.0 + (r - 3.0) * t * omt)
    linear = y_r * t + y_l * (1.0 - t)
    out: FloatArray = np.where(
        np.abs(h) <= 0.0, 0.5 * (y_l + y_r), np.where(r >= MAX_R, linear, cubic)
    )
    return out


def _r_from_v(num: FloatArray, den: FloatArray) -> FloatArray:
    out: FloatArray = np.where(
        num == 0.0, 0.0, np.where(den == 0.0, np.where(num > 0.0, MAX_R, MIN_R), num / den)
    )
    return out


def _r_min_v(d_l: FloatArray, d_r: FloatArray, s: FloatArray, prefer_shape: bool) -> FloatArray:
    monotonic = (d_l * s >= 0.0) & (d_r * s >= 0.0)
    convex = (d_l <= s) & (s <= d_r)
    concave = (d_l >= s) & (s >= d_r)
    r1 = np.where(monotonic & (s != 0.0), (d_r + d_l) / s, -DBL_MAX)
    if prefer_shape:
        r1 = np.where(monotonic & (s == 0.0), MAX_R, r1)
    s_m_d_l = s - d_l
    d_r_m_s = d_r - s
    d_r_m_d_l = d_r - d_l
    ratio_ok = (s_m_d_l != 0.0) & (d_r_m_s != 0.0)
    ratio = np.maximum(np.abs(d_r_m_d_l / d_r_m_s), np.abs(d_r_m_d_l / s_m_d_l))
    shaped = convex | concave
    r2 = np.where(shaped & ratio_ok, ratio, -DBL_MAX)
    if prefer_shape:
        r2 = np.where((shaped & ~ratio_ok) | (~shaped & monotonic), MAX_R, r2)
    out: FloatArray = np.where(~monotonic & ~shaped, MIN_R, np.maximum(MIN_R, np.maximum(r1, r2)))
    return out


def r_left_v(
    x_l: FloatArray,
    x_r: FloatArray,
    y_l: FloatArray,
    y_r: FloatArray,
    d_l: FloatArray,
    d_r: FloatArray,
    d2_l: FloatArray,
    pref: bool,
) -> FloatArray:
    """Return the left-fitted convexity-preserving control parameter elementwise."""
    h = x_r - x_l
    slope = (y_r - y_l) / h
    r = _r_from_v(0.5 * h * d2_l + (d_r - d_l), slope - d_l)
    out: FloatArray = np.maximum(r, _r_min_v(d_l, d_r, slope, pref))
    return out


def r_right_v(
    x_l: FloatArray,
    x_r: FloatArray,
    y_l: FloatArray,
    y_r: FloatArray,
    d_l: FloatArray,
    d_r: FloatArray,
    d2_r: FloatArray,
    pref: bool,
) -> FloatArray:
    """Return the right-fitted convexity-preserving control parameter elementwise."""
    h = x_r - x_l
    slope = (y_r - y_l) / h
    r = _r_from_v(0.5 * h * d2_r + (d_r - d_l), d_r - slope)
    out: FloatArray = np.maximum(r, _r_min_v(d_l, d_r, slope, pref))
    return out
