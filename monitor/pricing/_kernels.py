"""Per-option pricing, written once for a float (compiled kernels) or an array (numpy), and the
compiled price and Greeks kernels looping over it; the implied-vol kernels built from these
pieces are in ``_batch.py``, their numpy counterparts in ``_kernels_vec.py``.

Every function here is branch-free (:func:`select` chooses), so the numpy backend calls the
same functions on whole arrays that the compiled loops call per option.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._jit import jit, select, shared, shared_inline
from monitor.pricing._lbr import black_vega, normalised_vol, refine_vol
from monitor.pricing._special import ONE_OVER_SQRT_2PI, norm_cdf, norm_cdf_given_pdf
from monitor.pricing._table import table_guess

Real = Any  # a float in compiled code (one option), a float64 array on the numpy path
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
ReasonArray = NDArray[np.int8]
Three = tuple[Real, Real, Real]
Six = tuple[Real, Real, Real, Real, Real, Real]

# IvReason values, repeated as plain ints for compiled code.
OK, NO_QUOTE, EXPIRED, BELOW_INTRINSIC, ABOVE_BOUND, BELOW_TICK, BAD_INPUT, NOT_IDENTIFIABLE = (
    0, 1, 2, 3, 4, 5, 6, 7
)  # fmt: skip
TINY = 2.2250738585072014e-308
INTRINSIC_TOLERANCE = 1e-12


@shared_inline
def classify(cp: Real, f: Real, k: Real, t: Real, df: Real,
             p: Real, tick: float) -> Real:  # fmt: skip
    """Return the IvReason code of each quote before solving: the first check that fails."""
    # Selects, lowest priority first: a loop over quotes has no branches.
    finite = (f < np.inf) & (k < np.inf) & (df < np.inf) & np.isfinite(t)
    valid = (f > 0.0) & (k > 0.0) & (df > 0.0) & finite & ((cp == 1.0) | (cp == -1.0))
    time_value = p - df * np.maximum(cp * (f - k), 0.0)
    code = select((time_value < tick) | (time_value <= 0.0), BELOW_TICK, OK)
    code = select(p >= df * select(cp > 0.0, f, k), ABOVE_BOUND, code)
    code = select(time_value < -INTRINSIC_TOLERANCE * np.maximum(p, 1.0), BELOW_INTRINSIC, code)
    code = select(np.logical_not(t > 0.0), EXPIRED, code)
    code = select(np.logical_not((p > 0.0) & (p < np.inf)), NO_QUOTE, code)
    return select(valid, code, BAD_INPUT)


@shared_inline
def normalise_quote(
    cp: Real,
    f: Real,
    k: Real,
    t: Real,
    df: Real,
    p: Real,
    tick: float,
) -> tuple[Real, Real, Real, FloatArray]:
    """Return (reason, exp(x), exp(x/2), beta): the quote as a normalised out-of-the-money
    call, NaN unless the reason is OK.

    x = -|ln(F/K)| <= 0 (the caller takes the log of min(F, K) / max(F, K)) and
    beta = time value / (df sqrt(F K)); only OK quotes go on to solve.
    """
    reason = classify(cp, f, k, t, df, p, tick)
    ratio = np.minimum(f, k) / np.maximum(f, k)
    ex = np.sqrt(ratio)
    beta = (p - df * np.maximum(cp * (f - k), 0.0)) / (df * np.sqrt(f * k))
    solvable = select(beta >= ex, ABOVE_BOUND, select(beta < TINY, BELOW_TICK, OK))
    reason = select(reason == OK, solvable, reason)
    ok = reason == OK
    return reason, select(ok, ratio, np.nan), select(ok, ex, np.nan), select(ok, beta, np.nan)


@jit
def rescue(beta: float, x: float, ex: float, emx: float, seeded: bool, table: FloatArray) -> float:
    """Return s when polishing the start did not settle: the tabulated guess if the start was
    a seed, then LBR's full solve."""
    s = math.nan
    if seeded:
        s0 = table_guess(beta, x, emx, table)
        if s0 > 0.0 and s0 < math.inf:
            s = refine_vol(beta, x, ex, emx, s0)
    if not (s > 0.0 and s < math.inf):
        s = normalised_vol(beta, x, ex, emx)
    return s


@shared_inline
def density_exponent(x: Real, s: Real) -> tuple[Real, FloatArray]:
    """Return (d1, -d1^2/2) for x = ln(F/K) and total vol s (the density is its exp)."""
    d1 = x / s + 0.5 * s
    return d1, -0.5 * d1 * d1


@shared_inline
def greeks_at_premium(
    cp: Real,
    f: Real,
    t: Real,
    df: Real,
    ln_df: Real,
    s: Real,
    p: Real,
    carry: Real,
    spot: Real,
    d1: Real,
    e: Real,
) -> Six:
    """Return the Greeks of a solved quote (s > 0, t > 0) from d1, e = exp(-d1^2/2) and
    ln_df = ln(df): its premium is its model price."""
    sqrt_t = np.sqrt(t)
    vol = s / sqrt_t
    pdf = ONE_OVER_SQRT_2PI * e
    delta = df * cp * norm_cdf_given_pdf(cp * d1, e)
    decay = df * f * pdf * vol / (2.0 * sqrt_t)
    drift = select(spot, delta * carry * f, 0.0)
    theta = (-ln_df / t * p - decay - drift) / 365.0
    rho = (-t * p + select(spot, t * f * delta, 0.0)) * 0.01
    return p, delta, df * pdf / (f * s), df * f * pdf * sqrt_t * 0.01, theta, rho


@shared
def otm_value(f: Real, k: Real, s: Real) -> Three:
    """Return (time value, phi(d1), ln(F/K)) for s > 0 via the normalised Black function.

    Pricing the time value on its own (intrinsic added exactly) keeps deep ITM premiums
    accurate to the last bits of the intrinsic and deep OTM ones to a few ulps relative.
    """
    lo = np.minimum(f, k)
    hi = np.maximum(f, k)
    x = np.log(lo / hi)
    b, bp = black_vega(x, s, np.sqrt(lo / hi), np.sqrt(hi / lo))
    return np.sqrt(f) * np.sqrt(k) * b, bp * np.sqrt(k / f), select(f < k, x, -x)


@shared
def price_one(cp: Real, f: Real, k: Real, t: Real, df: Real,
              vol: Real) -> Real:  # fmt: skip
    """Return the discounted Black-76 premium; discounted intrinsic at zero vol or time."""
    s = vol * np.sqrt(select(t > 0.0, t, 0.0))
    moneyness = cp * (f - k)
    intrinsic = select(moneyness > 0.0, moneyness, 0.0)
    with_time = df * (intrinsic + otm_value(f, k, s)[0])
    return select(s > 0.0, with_time, select(s == 0.0, df * intrinsic, np.nan))


@shared
def greeks_one(
    cp: Real,
    f: Real,
    k: Real,
    t: Real,
    df: Real,
    vol: Real,
    carry: Real,
    spot: Real,
) -> Six:
    """Return (price, delta, gamma, vega, theta, rho) in the documented units."""
    bad = np.isnan(cp + f + k + t + df + vol + carry) | (vol < 0.0)
    tp = select(t > 0.0, t, 0.0)
    sqrt_t = np.sqrt(tp)
    s = vol * sqrt_t
    live = s > 0.0
    moneyness = cp * (f - k)
    time_value, pdf, x = otm_value(f, k, s)
    step = select(moneyness > 0.0, 1.0, select(moneyness == 0.0, 0.5, 0.0))
    price = df * (select(moneyness > 0.0, moneyness, 0.0) + select(live, time_value, 0.0))
    delta = df * cp * select(live, norm_cdf(cp * (x / s + 0.5 * s)), step)
    gamma = select(live, df * pdf / (f * s), 0.0)
    vega = select(live, df * f * pdf * sqrt_t, 0.0)
    decay = select(live, df * f * pdf * vol / (2.0 * sqrt_t), 0.0)
    drift = select(spot, delta * carry * f, 0.0)
    theta = (-np.log(df) / tp * price - decay - drift) / 365.0
    rho = (-tp * price + select(spot, tp * f * delta, 0.0)) * 0.01
    running = tp > 0.0  # at expiry only price and delta remain
    vega = select(running, vega * 0.01, 0.0)
    theta = select(running, theta, 0.0)
    rho = select(running, rho, 0.0)
    nan = np.nan
    return (select(bad, nan, price), select(bad, nan, delta), select(bad, nan, gamma),
            select(bad, nan, vega), select(bad, nan, theta), select(bad, nan, rho))  # fmt: skip


# Array kernels: serial loops that release the GIL, so black.py can split large arrays across
# threads while small calls (a single option, a few legs) pay no threading overhead.


@jit
def price_kernel(
    cp: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    df: FloatArray,
    vol: FloatArray,
    out: FloatArray,
) -> None:
    """Fill ``out`` with premiums; all arrays 1-D contiguous of equal length."""
    for i in range(cp.size):
        out[i] = price_one(cp[i], f[i], k[i], t[i], df[i], vol[i])


@jit
def greeks_kernel(
    cp: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    df: FloatArray,
    vol: FloatArray,
    carry: FloatArray,
    spot: BoolArray,
    price: FloatArray,
    delta: FloatArray,
    gamma: FloatArray,
    vega: FloatArray,
    theta: FloatArray,
    rho: FloatArray,
) -> None:
    """Fill the six Greek arrays at the given vols."""
    for i in range(cp.size):
        g = greeks_one(cp[i], f[i], k[i], t[i], df[i], vol[i], carry[i], spot[i])
        price[i], delta[i], gamma[i], vega[i], theta[i], rho[i] = g
