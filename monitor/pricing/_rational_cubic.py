"""Rational cubic interpolation (Delbourgo & Gregory) with convexity-preserving control, as
"Let's Be Rational" uses it for its initial guesses; for a float (compiled) or an array.

Written branch-free (every case computed, then :func:`select`), so one source serves both
backends: it runs only on LBR's full solve, where the spare arithmetic costs nothing that
matters. ``np.maximum`` propagates NaN, as the choice of the control parameter needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from monitor.pricing._jit import select, shared

Real = Any  # a float in compiled code (one option), a float64 array on the numpy path

DBL_EPSILON = 2.220446049250313e-16
DBL_MAX = 1.7976931348623157e308
MAX_R = 2.0 / (DBL_EPSILON * DBL_EPSILON)
MIN_R = -(1.0 - 1.4901161193847656e-08)


@shared
def rc_interp(
    x: Real,
    x_l: Real,
    x_r: Real,
    y_l: Real,
    y_r: Real,
    d_l: Real,
    d_r: Real,
    r: Real,
) -> Real:
    """Rational cubic interpolation (Delbourgo & Gregory) with control parameter ``r``."""
    h = x_r - x_l
    t = (x - x_l) / h
    omt = 1.0 - t
    t2 = t * t
    omt2 = omt * omt
    num = y_r * t2 * t + (r * y_r - h * d_r) * t2 * omt + (r * y_l + h * d_l) * t * omt2
    cubic = (num + y_l * omt2 * omt) / (1.0 + (r - 3.0) * t * omt)
    linear = y_r * t + y_l * (1.0 - t)
    return select(np.abs(h) <= 0.0, 0.5 * (y_l + y_r), select(r >= MAX_R, linear, cubic))


@shared
def _r_from(num: Real, den: Real) -> Real:
    by_sign = select(num > 0.0, MAX_R, MIN_R)
    return select(num == 0.0, 0.0, select(den == 0.0, by_sign, num / den))


@shared
def _r_min(d_l: Real, d_r: Real, s: Real, prefer_shape: bool) -> Real:
    monotonic = (d_l * s >= 0.0) & (d_r * s >= 0.0)
    shaped = ((d_l <= s) & (s <= d_r)) | ((d_l >= s) & (s >= d_r))  # convex or concave
    r1 = select(monotonic & (s != 0.0), (d_r + d_l) / s, -DBL_MAX)
    r1 = select(prefer_shape & monotonic & (s == 0.0), MAX_R, r1)
    s_m_d_l = s - d_l
    d_r_m_s = d_r - s
    d_r_m_d_l = d_r - d_l
    ratio_ok = (s_m_d_l != 0.0) & (d_r_m_s != 0.0)
    ratio = np.maximum(np.abs(d_r_m_d_l / d_r_m_s), np.abs(d_r_m_d_l / s_m_d_l))
    r2 = select(shaped & ratio_ok, ratio, -DBL_MAX)
    no_ratio = shaped & np.logical_not(ratio_ok)
    r2 = select(prefer_shape & (no_ratio | (np.logical_not(shaped) & monotonic)), MAX_R, r2)
    return select(np.logical_not(monotonic | shaped), MIN_R, np.maximum(MIN_R, np.maximum(r1, r2)))


@shared
def r_fit(
    x_l: Real,
    x_r: Real,
    y_l: Real,
    y_r: Real,
    d_l: Real,
    d_r: Real,
    d2: Real,
    at_left: bool,
    prefer_shape: bool,
) -> Real:
    """Return the convexity-preserving control parameter matching the second derivative ``d2``
    at the left end of the interval (``at_left``) or at its right end."""
    h = x_r - x_l
    slope = (y_r - y_l) / h
    r = _r_from(0.5 * h * d2 + (d_r - d_l), select(at_left, slope - d_l, d_r - slope))
    return np.maximum(r, _r_min(d_l, d_r, slope, prefer_shape))
