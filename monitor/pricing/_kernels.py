"""Per-option scalar pricing, and the price and Greeks kernels looping over them (numba when
present); the implied-vol kernels built from these pieces are in ``_batch.py``.

``_kernels_vec.py`` is the numpy twin of every function here; the two must stay
operation-for-operation identical (tests/unit/pricing/test_pricing_backends.py checks bit
equality).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._jit import inline_jit, jit
from monitor.pricing._lbr import black_vega, normalised_vol, refine_vol
from monitor.pricing._special import ONE_OVER_SQRT_2PI, norm_cdf, norm_cdf_given_pdf
from monitor.pricing._table import table_guess

FloatArray = NDArray[np.float64]
ReasonArray = NDArray[np.int8]

# IvReason values, repeated as plain ints for compiled code.
OK, NO_QUOTE, EXPIRED, BELOW_INTRINSIC, ABOVE_BOUND, BELOW_TICK, BAD_INPUT, NOT_IDENTIFIABLE = (
    0, 1, 2, 3, 4, 5, 6, 7
)  # fmt: skip
TINY = 2.2250738585072014e-308
INTRINSIC_TOLERANCE = 1e-12


@inline_jit
def classify(cp: float, f: float, k: float, t: float, df: float, p: float, tick: float) -> int:
    """Return the IvReason code of one quote before solving: the first check that fails."""
    # Written as selects (lowest priority first) so a loop over quotes has no branches.
    finite = (f < math.inf) & (k < math.inf) & (df < math.inf) & math.isfinite(t)
    valid = (f > 0.0) & (k > 0.0) & (df > 0.0) & finite & ((cp == 1.0) | (cp == -1.0))
    time_value = p - df * max(cp * (f - k), 0.0)
    code = BELOW_TICK if (time_value < tick) | (time_value <= 0.0) else OK
    code = ABOVE_BOUND if p >= df * (f if cp > 0.0 else k) else code
    code = BELOW_INTRINSIC if time_value < -INTRINSIC_TOLERANCE * max(p, 1.0) else code
    code = EXPIRED if not t > 0.0 else code
    code = NO_QUOTE if not ((p > 0.0) & (p < math.inf)) else code
    return code if valid else BAD_INPUT


@inline_jit
def normalise_quote(
    cp: float, f: float, k: float, t: float, df: float, p: float, tick: float
) -> tuple[int, float, float, float]:
    """Return (reason, exp(x), exp(x/2), beta): the quote as a normalised out-of-the-money
    call, NaN unless the reason is OK.

    x = -|ln(F/K)| <= 0 (the caller takes the log of min(F, K) / max(F, K)) and
    beta = time value / (df sqrt(F K)); only OK quotes go on to solve.
    """
    reason = classify(cp, f, k, t, df, p, tick)
    ratio = min(f, k) / max(f, k)
    ex = math.sqrt(ratio)
    beta = (p - df * max(cp * (f - k), 0.0)) / (df * math.sqrt(f * k))
    if reason == OK:
        reason = ABOVE_BOUND if beta >= ex else (BELOW_TICK if beta < TINY else OK)
    nan = math.nan
    ok = reason == OK
    return reason, (ratio if ok else nan), (ex if ok else nan), (beta if ok else nan)


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


@inline_jit
def density_exponent(x: float, s: float) -> tuple[float, float]:
    """Return (d1, -d1^2/2) for x = ln(F/K) and total vol s (the density is its exp)."""
    d1 = x / s + 0.5 * s
    return d1, -0.5 * d1 * d1


@inline_jit
def greeks_at_premium(
    cp: float,
    f: float,
    t: float,
    df: float,
    ln_df: float,
    s: float,
    p: float,
    carry: float,
    spot: bool,
    d1: float,
    e: float,
) -> tuple[float, float, float, float, float, float]:
    """Return the Greeks of a solved quote (s > 0, t > 0) from d1, e = exp(-d1^2/2) and
    ln_df = ln(df): its premium is its model price."""
    sqrt_t = math.sqrt(t)
    vol = s / sqrt_t
    pdf = ONE_OVER_SQRT_2PI * e
    delta = df * cp * norm_cdf_given_pdf(cp * d1, e)
    decay = df * f * pdf * vol / (2.0 * sqrt_t)
    drift = delta * carry * f if spot else 0.0
    theta = (-ln_df / t * p - decay - drift) / 365.0
    rho = (-t * p + (t * f * delta if spot else 0.0)) * 0.01
    return p, delta, df * pdf / (f * s), df * f * pdf * sqrt_t * 0.01, theta, rho


@jit
def otm_value(f: float, k: float, s: float) -> tuple[float, float, float]:
    """Return (time value, phi(d1), ln(F/K)) for s > 0 via the normalised Black function.

    Pricing the time value on its own (intrinsic added exactly) keeps deep ITM premiums
    accurate to the last bits of the intrinsic and deep OTM ones to a few ulps relative.
    """
    lo = min(f, k)
    hi = max(f, k)
    x = math.log(lo / hi)
    b, bp = black_vega(x, s, math.sqrt(lo / hi), math.sqrt(hi / lo))
    return math.sqrt(f) * math.sqrt(k) * b, bp * math.sqrt(k / f), (x if f < k else -x)


@jit
def price_one(cp: float, f: float, k: float, t: float, df: float, vol: float) -> float:
    """Return the discounted Black-76 premium of one option."""
    s = vol * math.sqrt(t if t > 0.0 else 0.0)
    moneyness = cp * (f - k)
    intrinsic = moneyness if moneyness > 0.0 else 0.0
    if s > 0.0:
        return df * (intrinsic + otm_value(f, k, s)[0])
    if s == 0.0:
        return df * intrinsic
    return math.nan


@jit
def greeks_one(
    cp: float, f: float, k: float, t: float, df: float, vol: float, carry: float, spot: bool
) -> tuple[float, float, float, float, float, float]:
    """Return (price, delta, gamma, vega, theta, rho) of one option in the documented units."""
    nan = math.nan
    if math.isnan(cp + f + k + t + df + vol + carry) or vol < 0.0:
        return nan, nan, nan, nan, nan, nan
    tp = t if t > 0.0 else 0.0
    sqrt_t = math.sqrt(tp)
    s = vol * sqrt_t
    moneyness = cp * (f - k)
    value = moneyness if moneyness > 0.0 else 0.0
    if s > 0.0:
        time_value, pdf, x = otm_value(f, k, s)
        value += time_value
        d1 = x / s + 0.5 * s
        delta = df * cp * norm_cdf(cp * d1)
        gamma = df * pdf / (f * s)
        vega = df * f * pdf * sqrt_t
        decay = df * f * pdf * vol / (2.0 * sqrt_t)
    else:
        step = 1.0 if moneyness > 0.0 else (0.5 if moneyness == 0.0 else 0.0)
        delta = df * cp * step
        gamma = 0.0
        vega = 0.0
        decay = 0.0
    price = df * value
    if not tp > 0.0:
        return price, delta, gamma, 0.0, 0.0, 0.0
    drift = delta * carry * f if spot else 0.0
    theta = (-math.log(df) / tp * price - decay - drift) / 365.0
    rho = (-tp * price + (tp * f * delta if spot else 0.0)) * 0.01
    return price, delta, gamma, vega * 0.01, theta, rho


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
    spot: NDArray[np.bool_],
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
