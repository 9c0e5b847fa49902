"""exp and log in plain arithmetic, so the compiled block kernels' loops over them vectorize.

libm's exp and log are calls, which LLVM cannot vectorize: a loop over a block of options spends
~6 ns per call, one option at a time. These compute the same functions from float operations
alone, to within ~2 ulps (tests/unit/pricing/test_pricing_elementary.py); the numpy backend
uses numpy's own exp and log, which are vectorized already:

- ``exp``: a = k ln2 + r with |r| <= ln2/2, exp(r) by its Taylor series to r^13, times 2^k;
- ``log``: y = m 2^k with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh((m - 1)/(m + 1)) by its
  series to the 21st power, plus k ln2.

Outside the range where that holds (exp's result not a normal number, log of a zero, negative,
subnormal, infinite or NaN argument) they defer to libm, so every special value comes out as
before. They work in place over rows of the block work array (the splitting of the float into
exponent and mantissa done on an integer view of the rows).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._jit import inline_jit, jit

FloatArray = NDArray[np.float64]

LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00
SHIFTER = 6755399441055744.0  # 1.5 * 2^52: adding and subtracting it rounds to an integer
EXP_LO, EXP_HI = -708.0, 709.0  # exp(a) is a normal number in between
SQRT2 = 1.4142135623730951
DBL_MIN = 2.2250738585072014e-308
MANTISSA = 0x000FFFFFFFFFFFFF
ONE_BITS = 0x3FF0000000000000
SHIFTER_BITS = 0x4338000000000000
TWO52 = 4503599627370496.0
TWO52_BITS = 0x4330000000000000
C3, C4, C5, C6, C7 = 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0
C8, C9, C10, C11 = 1.0 / 40320.0, 1.0 / 362880.0, 1.0 / 3628800.0, 1.0 / 39916800.0
C12, C13 = 1.0 / 479001600.0, 1.0 / 6227020800.0
A1, A2, A3, A4, A5 = 1.0 / 3.0, 1.0 / 5.0, 1.0 / 7.0, 1.0 / 9.0, 1.0 / 11.0
A6, A7, A8, A9, A10 = 1.0 / 13.0, 1.0 / 15.0, 1.0 / 17.0, 1.0 / 19.0, 1.0 / 21.0


@inline_jit
def exp_parts(a: float) -> tuple[float, float, bool]:
    """Return (exp(r), k, in range) with a = k ln2 + r; exp(a) = exp(r) 2^k when in range."""
    ok = (a >= EXP_LO) & (a <= EXP_HI)
    a = a if ok else 0.0
    k = (a * INV_LN2 + SHIFTER) - SHIFTER
    r = (a - k * LN2_HI) - k * LN2_LO
    return estrin13(r), k, ok


@inline_jit
def estrin13(r: float) -> float:
    """Return the Taylor series of exp(r) to r^13, in Estrin's order: depth 4, not 14 (the loops
    over a block overlap fewer long chains than the core has room for)."""
    r2 = r * r
    r4 = r2 * r2
    q0 = r + (0.5 + r * C3) * r2
    q1 = (C4 + r * C5) + (C6 + r * C7) * r2
    q2 = (C8 + r * C9) + (C10 + r * C11) * r2
    q3 = C12 + r * C13
    return 1.0 + ((q0 + q1 * r4) + (q2 + q3 * r4) * (r4 * r4))


@inline_jit
def log_parts(m: float, k: float, y: float) -> float:
    """Return ln y from y = m 2^k (1 <= m < 2); NaN unless y is positive, normal and finite."""
    big = m > SQRT2
    m = 0.5 * m if big else m
    k = k + 1.0 if big else k
    z = (m - 1.0) / (m + 1.0)
    out = k * LN2_HI + (2.0 * z * atanh_series(z * z) + k * LN2_LO)
    return out if (y >= DBL_MIN) & (y < math.inf) else math.nan


@inline_jit
def atanh_series(u: float) -> float:
    """Return atanh(z) / z = sum u^i / (2i + 1) to u^10 (u = z^2 <= 0.03), in Estrin's order."""
    u2 = u * u
    u4 = u2 * u2
    q0 = u * A1 + (A2 + u * A3) * u2
    q1 = (A4 + u * A5) + (A6 + u * A7) * u2
    q2 = (A8 + u * A9) + A10 * u2
    return 1.0 + ((q0 + q1 * u4) + q2 * (u4 * u4))


@jit
def exp_rows(n: int, w: FloatArray, src: int, dst: int, scratch: int) -> None:
    """Set w[dst, :n] = exp(w[src, :n]); ``scratch`` is a third row it may overwrite."""
    bits = w.view(np.int64)
    for j in range(n):
        p, k, ok = exp_parts(w[src, j])
        w[dst, j] = p if ok else math.nan
        w[scratch, j] = k + SHIFTER  # k in the low bits: no float-to-int conversion (AVX2 has none)
    for j in range(n):
        bits[scratch, j] = (bits[scratch, j] - SHIFTER_BITS + 1023) << 52
    for j in range(n):
        w[dst, j] = w[dst, j] * w[scratch, j]
    for j in range(n):
        if w[dst, j] != w[dst, j]:
            w[dst, j] = math.exp(w[src, j])


@jit
def log_rows(n: int, w: FloatArray, src: int, dst: int, scratch: int) -> None:
    """Set w[dst, :n] = ln(w[src, :n]); ``scratch`` is a third row it may overwrite."""
    bits = w.view(np.int64)
    for j in range(n):
        y = bits[src, j]
        bits[dst, j] = (y & MANTISSA) | ONE_BITS
        bits[scratch, j] = ((y >> 52) & 0x7FF) | TWO52_BITS  # 2^52 + biased exponent
    for j in range(n):
        k = w[scratch, j] - (TWO52 + 1023.0)
        w[dst, j] = log_parts(w[dst, j], k, w[src, j])
    for j in range(n):
        if w[dst, j] != w[dst, j]:
            w[dst, j] = math.log(w[src, j])
