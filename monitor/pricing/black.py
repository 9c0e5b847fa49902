"""Black-76 prices, Greeks and implied volatility, vectorized over whole chains.

Every function prices on the forward ``F`` and discounts with ``df = exp(-r T)``:

    V = df * cp * (F * N(cp * d1) - K * N(cp * d2)),  d1 = (ln(F/K) + s^2/2) / s,  s = vol * sqrt(T)

``cp`` is +1.0 for calls and -1.0 for puts. All arguments broadcast, scalars included. SPX options
use the index forward (implied from put-call parity), VIX options use the VX future of the same
expiry: one formula serves both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray
from scipy.special import ndtr

from monitor.pricing.reasons import IvReason

FloatArray = NDArray[np.float64]
ReasonArray = NDArray[np.int8]
ArrayLike = npt.ArrayLike

CONTRACT_MULTIPLIER = 100.0
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))


@dataclass(frozen=True, slots=True)
class Greeks:
    """Analytic Black-76 Greeks of one contract per unit of underlying (not yet x100).

    - ``delta``: dV/dF. The SPX forward moves one for one in percent with spot, so the dollar
      delta of a position per 1% index move is ``delta * F * 0.01 * 100 * quantity``.
    - ``gamma``: d2V/dF2, per point of forward.
    - ``vega``: dV/dvol per one vol point (0.01).
    - ``theta``: value change per calendar day (dV/dt / 365), negative for a long option.
    - ``rho``: dV/dr per one percentage point (0.01) of the rate.
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray


def _f64(a: ArrayLike) -> FloatArray:
    return np.asarray(a, dtype=np.float64)


def _intrinsic(cp: FloatArray, forward: FloatArray, strike: FloatArray) -> FloatArray:
    return np.maximum(cp * (forward - strike), 0.0)


def price(
    cp: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    df: ArrayLike,
    vol: ArrayLike,
) -> FloatArray:
    """Return the discounted Black-76 premium; zero time or zero vol gives discounted intrinsic."""
    cp_, f, k, t, d, v = (_f64(a) for a in (cp, forward, strike, t_years, df, vol))
    s = v * np.sqrt(np.maximum(t, 0.0))
    live = s > 0.0
    s_safe = np.where(live, s, 1.0)
    d1 = np.log(f / k) / s_safe + 0.5 * s_safe
    value = cp_ * (f * ndtr(cp_ * d1) - k * ndtr(cp_ * (d1 - s_safe)))
    out: FloatArray = d * np.where(live, np.maximum(value, 0.0), _intrinsic(cp_, f, k))
    return out


def greeks(
    cp: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    df: ArrayLike,
    vol: ArrayLike,
    *,
    carry: ArrayLike = 0.0,
    spot_based: ArrayLike = False,
) -> Greeks:
    """Return price and analytic Greeks (see :class:`Greeks` for units).

    With ``spot_based`` False (VIX options on the VX future) theta holds the forward fixed and
    rho moves only the discount factor. With ``spot_based`` True (SPX, whose forward is
    ``S * exp(carry * T)``) theta holds the spot fixed, so the forward drifts at ``carry`` (r - q),
    and rho lets the forward move with the rate, as in Black-Scholes-Merton.
    """
    cp_, f, k, t, d, v = (_f64(a) for a in (cp, forward, strike, t_years, df, vol))
    b = _f64(carry)
    spot = np.asarray(spot_based, dtype=bool)
    t_pos = np.maximum(t, 0.0)
    sqrt_t = np.sqrt(t_pos)
    s = v * sqrt_t
    live = s > 0.0
    s_safe = np.where(live, s, 1.0)
    d1 = np.log(f / k) / s_safe + 0.5 * s_safe
    n1 = ndtr(cp_ * d1)
    value = np.where(
        live,
        np.maximum(cp_ * (f * n1 - k * ndtr(cp_ * (d1 - s_safe))), 0.0),
        _intrinsic(cp_, f, k),
    )
    pdf = np.where(live, np.exp(-0.5 * d1 * d1) / _SQRT_2PI, 0.0)
    itm = cp_ * (f - k) > 0.0
    delta = d * cp_ * np.where(live, n1, np.where(itm, 1.0, 0.0))
    gamma = d * pdf / (f * s_safe)
    vega_raw = d * f * pdf * sqrt_t
    decay = np.where(t_pos > 0.0, d * f * pdf * v / (2.0 * np.where(live, sqrt_t, 1.0)), 0.0)
    rate = np.where(t_pos > 0.0, -np.log(d) / np.where(t_pos > 0.0, t_pos, 1.0), 0.0)
    price_ = d * value
    theta_year = rate * price_ - decay - np.where(spot, delta * b * f, 0.0)
    rho = -t_pos * price_ + np.where(spot, t_pos * f * delta, 0.0)
    return Greeks(
        price=price_,
        delta=delta,
        gamma=gamma,
        vega=vega_raw * 0.01,
        theta=theta_year / 365.0,
        rho=rho * 0.01,
    )


def position_greeks(
    g: Greeks, quantity: ArrayLike, multiplier: float = CONTRACT_MULTIPLIER
) -> Greeks:
    """Scale per-contract Greeks to a position's dollar Greeks (x multiplier x signed quantity).

    price becomes market value in USD, delta USD per point of forward, gamma USD per point
    squared, vega USD per vol point, theta USD per calendar day, rho USD per rate point.
    """
    scale = _f64(quantity) * multiplier
    return Greeks(
        price=g.price * scale,
        delta=g.delta * scale,
        gamma=g.gamma * scale,
        vega=g.vega * scale,
        theta=g.theta * scale,
        rho=g.rho * scale,
    )


def dollar_delta_per_pct(
    delta: ArrayLike,
    forward: ArrayLike,
    quantity: ArrayLike,
    multiplier: float = CONTRACT_MULTIPLIER,
) -> FloatArray:
    """Return USD gained for a 1% rise of the underlying: delta * F * 0.01 * multiplier * qty."""
    out: FloatArray = _f64(delta) * _f64(forward) * 0.01 * multiplier * _f64(quantity)
    return out


def implied_vol(
    cp: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    df: ArrayLike,
    premium: ArrayLike,
    *,
    tick: float = 0.05,
) -> tuple[FloatArray, ReasonArray]:
    """Return the Black-76 implied vol per option and an :class:`IvReason` code per option.

    Invalid inputs never raise: the vol is NaN and the code says why (no quote, expired, below
    intrinsic, at or above the no-arbitrage bound, time value under ``tick``, bad input).
    """
    cp_, f, k, t, d, p = np.broadcast_arrays(
        *(_f64(a) for a in (cp, forward, strike, t_years, df, premium))
    )
    reason = np.zeros(cp_.shape, dtype=np.int8)
    bad = ~((f > 0) & (k > 0) & (d > 0) & np.isfinite(f) & np.isfinite(k) & np.isfinite(d))
    bad |= ~np.isin(cp_, (1.0, -1.0)) | np.isnan(t)
    undiscounted = p / np.where(d > 0, d, 1.0)
    intrinsic = _intrinsic(cp_, f, k)
    time_value = undiscounted - intrinsic
    bound = np.where(cp_ > 0, f, k)
    conds = (
        (bad, IvReason.BAD_INPUT),
        (~(p > 0) | ~np.isfinite(p), IvReason.NO_QUOTE),
        (~(t > 0), IvReason.EXPIRED),
        (time_value < -1e-12 * np.maximum(undiscounted, 1.0), IvReason.BELOW_INTRINSIC),
        (undiscounted >= bound, IvReason.ABOVE_BOUND),
        ((time_value * d < tick) | (time_value <= 0), IvReason.BELOW_TICK),
    )
    for mask, code in reversed(conds):
        reason[mask] = code
    ok = reason == IvReason.OK
    vol = np.full(cp_.shape, np.nan)
    if np.any(ok):
        vol[ok] = _solve_placeholder(cp_[ok], f[ok], k[ok], t[ok], undiscounted[ok])
    return vol, reason


def _solve_placeholder(
    cp: FloatArray, f: FloatArray, k: FloatArray, t: FloatArray, target: FloatArray
) -> FloatArray:
    lo = np.full(cp.shape, -20.0)
    hi = np.full(cp.shape, 4.0)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        above = price(cp, f, k, t, 1.0, np.exp(mid)) > target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    out: FloatArray = np.exp(0.5 * (lo + hi))
    return out
