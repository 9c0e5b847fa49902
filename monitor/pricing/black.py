"""Black-76 prices, Greeks and implied volatility, vectorized over whole chains.

Every function prices on the forward ``F`` and discounts with ``df = exp(-r T)``:

    V = df * cp * (F * N(cp * d1) - K * N(cp * d2)),  d1 = ln(F/K) / s + s/2,  s = vol * sqrt(T)

``cp`` is +1.0 for calls and -1.0 for puts. All arguments broadcast, scalars included. SPX
options use the index forward (implied from put-call parity), VIX options the VX future of the
same expiry: one formula serves both. Work runs in numba kernels when numba is installed (large
calls shared by ``THREADS`` threads), else in a numpy path built from the same per-option
functions (``backend()`` says which). The two agree to rounding, not bit for bit: the same
reason codes, vols within 1e-12, prices and Greeks within 1e-12 relative (numpy's exp and log
differ from libm's in the last bit, and differently per CPU; test_pricing_backends.py).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from monitor.pricing import _batch as batch
from monitor.pricing import _kernels as nb
from monitor.pricing import _kernels_vec as vec
from monitor.pricing._jit import HAVE_NUMBA
from monitor.pricing._table import table

FloatArray = NDArray[np.float64]
ReasonArray = NDArray[np.int8]
ArrayLike = npt.ArrayLike

CONTRACT_MULTIPLIER = 100.0
PARALLEL_MIN = 4096
"""Calls on fewer options run on the caller's thread; larger ones are shared across threads."""
CHUNK = 2048
"""Fewest options per work item when a call is shared. A call is cut into about four items per
thread, so a thread whose core is busy with something else simply takes fewer of them, while
handing one out (slicing the arrays, numba's dispatch: ~20 us) stays well under 1%."""
THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
"""Threads a large call may use (the caller's included); 1 keeps everything on the caller."""
_pool: ThreadPoolExecutor | None = None
_warm = False


@dataclass(frozen=True, slots=True)
class Greeks:
    """Analytic Black-76 Greeks of one contract per unit of underlying (not yet x100).

    - ``price``: discounted premium.
    - ``delta``: dV/dF. The SPX forward moves with spot in percent, so a position's dollar
      delta per 1% index move is ``delta * F * 0.01 * 100 * quantity``
      (:func:`dollar_delta_per_pct`). For VIX options F is the VX future of the expiry.
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


def backend() -> str:
    """Return "numba" or "numpy": which implementation the public functions run."""
    return "numba" if HAVE_NUMBA else "numpy"


def _flat(*args: ArrayLike) -> tuple[tuple[int, ...], list[FloatArray]]:
    # Kernels always see writeable, contiguous 1-D float64 arrays: one compiled specialization,
    # loaded by warm_up(), never a fresh compile on a live tick.
    arrays = [np.asarray(a, dtype=np.float64) for a in args]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    return shape, [_contiguous(a, shape) for a in arrays]


def _contiguous(a: NDArray[Any], shape: tuple[int, ...]) -> NDArray[Any]:
    if a.shape != shape:
        return np.broadcast_to(a, shape).reshape(-1).copy()
    flat = np.ascontiguousarray(a.reshape(-1))
    return flat if flat.flags.writeable else flat.copy()


def _spot(spot_based: ArrayLike, shape: tuple[int, ...]) -> NDArray[np.bool_]:
    return _contiguous(np.asarray(spot_based, dtype=bool), shape)


def _run(kernel: Callable[..., None], n: int, *args: Any) -> None:
    """Run a GIL-free kernel over [0, n): on the caller's thread, or, for large n, in slices
    that THREADS threads (the caller's one of them) take from a shared counter.

    1-D array arguments are the per-option ones and get sliced; the guess table is 2-D.
    """
    threads = min(THREADS, n // (PARALLEL_MIN // 2))
    if threads <= 1:
        kernel(*args)
        return
    size = max(CHUNK, -(-n // (4 * threads)))
    chunks = itertools.count()  # next() is atomic under the GIL; kernels run without it

    def work() -> None:
        for c in chunks:
            lo, hi = c * size, min(n, (c + 1) * size)
            if lo >= n:
                return
            kernel(*(a[lo:hi] if isinstance(a, np.ndarray) and a.ndim == 1 else a for a in args))

    pending = [_executor().submit(work) for _ in range(threads - 1)]
    work()
    for future in pending:
        future.result()


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(
            max_workers=max(1, THREADS - 1), thread_name_prefix="vixmon-pricing"
        )
    return _pool


def _empty_greeks(n: int) -> tuple[FloatArray, ...]:
    return tuple(np.empty(n) for _ in range(6))


def _greeks_from(rows: tuple[FloatArray, ...] | FloatArray, shape: tuple[int, ...]) -> Greeks:
    p, d, g, v, th, rh = (rows[i].reshape(shape) for i in range(6))
    return Greeks(price=p, delta=d, gamma=g, vega=v, theta=th, rho=rh)


def price(
    cp: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    df: ArrayLike,
    vol: ArrayLike,
) -> FloatArray:
    """Return the discounted Black-76 premium; zero time or zero vol gives discounted intrinsic."""
    shape, (c, f, k, t, d, v) = _flat(cp, forward, strike, t_years, df, vol)
    if HAVE_NUMBA:
        out = np.empty(c.size)
        _run(nb.price_kernel, c.size, c, f, k, t, d, v, out)
    else:
        out = vec.price_v(c, f, k, t, d, v)
    result: FloatArray = out.reshape(shape)
    return result


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
    """Return price and analytic Greeks (see :class:`Greeks` for units); NaN vol gives NaN.

    With ``spot_based`` False (VIX options on the VX future) theta holds the forward fixed and
    rho moves only the discount factor. With ``spot_based`` True (SPX, whose forward is
    ``S * exp(carry * T)``) theta holds the spot fixed, so the forward drifts at ``carry``
    (r - q), and rho lets the forward move with the rate, as in Black-Scholes-Merton.
    """
    shape, (c, f, k, t, d, v, b) = _flat(cp, forward, strike, t_years, df, vol, carry)
    spot = _spot(spot_based, shape)
    if HAVE_NUMBA:
        rows: tuple[FloatArray, ...] | FloatArray = _empty_greeks(c.size)
        _run(nb.greeks_kernel, c.size, c, f, k, t, d, v, b, spot, *rows)
    else:
        rows = vec.greeks_v(c, f, k, t, d, v, b, spot)
    return _greeks_from(rows, shape)


def implied_vol(
    cp: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    df: ArrayLike,
    premium: ArrayLike,
    *,
    tick: float = 0.05,
    guess: ArrayLike | None = None,
) -> tuple[FloatArray, ReasonArray]:
    """Return the Black-76 implied vol per option and an :class:`IvReason` code per option.

    Invalid inputs never raise and never give 0: the vol is NaN and the code says why (bad
    input, no quote, expired, below intrinsic, at or above the no-arbitrage bound, time value
    under ``tick``, or not identifiable at double precision). ``guess`` (e.g. last tick's vols,
    NaN where unknown) lets unchanged-ish quotes converge in one polishing step; a guess that
    does not settle falls back to the full solve, so it never changes what is found.
    """
    shape, (c, f, k, t, d, p, g) = _flat(cp, forward, strike, t_years, df, premium, _no(guess))
    if HAVE_NUMBA:
        vol = np.empty(c.size)
        reason = np.empty(c.size, dtype=np.int8)
        _run(batch.iv_kernel, c.size, c, f, k, t, d, p, float(tick), g, table(), vol, reason)
    else:
        vol, reason = vec.iv_v(c, f, k, t, d, p, float(tick), g, table())
    _flag_unidentifiable(c, f, k, t, d, p, vol, reason)
    return vol.reshape(shape), reason.reshape(shape)


IDENTIFIABLE_VOL_TOLERANCE = 1e-6
"""An OK vol must be pinned by the premium to within this (absolute vol, 0.0001 vol points)."""


def _flag_unidentifiable(
    c: FloatArray, f: FloatArray, k: FloatArray, t: FloatArray, d: FloatArray, p: FloatArray,
    vol: FloatArray, reason: ReasonArray,
) -> NDArray[np.intp]:
    """Turn OK solves whose vol the premium cannot pin down at double precision into
    NOT_IDENTIFIABLE with a NaN vol (in place); return their positions.

    The time value is ``p - df * intrinsic``: its rounding is about eps * (p + df * max(F, K))
    in the money and eps * p out of it. Divided by the vega (dV/dvol) at the solved vol, that is
    how far the vol may be off from rounding alone; beyond ``IDENTIFIABLE_VOL_TOLERANCE`` the
    vol is not identifiable. A positive ``tick`` already rejects nearly all of these (as
    BELOW_TICK); with ``tick = 0`` this check is what catches them.
    """
    ok = np.flatnonzero(reason == 0)
    if ok.size == 0:
        return ok
    fo, ko, to, do_, po, vo = f[ok], k[ok], t[ok], d[ok], p[ok], vol[ok]
    with np.errstate(all="ignore"):
        s = vo * np.sqrt(to)
        d1 = np.log(fo / ko) / s + 0.5 * s
        vega = do_ * fo * np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI * np.sqrt(to)
        itm = c[ok] * (fo - ko) > 0.0
        rounding = _EPS * (po + np.where(itm, do_ * np.maximum(fo, ko), 0.0))
        bad = ~(rounding <= IDENTIFIABLE_VOL_TOLERANCE * vega)
    out = ok[bad]
    reason[out] = nb.NOT_IDENTIFIABLE
    vol[out] = np.nan
    return out


_EPS = float(np.finfo(np.float64).eps)
_INV_SQRT_2PI = 0.3989422804014327


def implied_vol_and_greeks(
    cp: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    df: ArrayLike,
    premium: ArrayLike,
    *,
    tick: float = 0.05,
    carry: ArrayLike = 0.0,
    spot_based: ArrayLike = False,
    guess: ArrayLike | None = None,
) -> tuple[FloatArray, ReasonArray, Greeks]:
    """Solve the implied vol and return it, its reason codes and the Greeks at it, in one pass.

    Same vols and codes as :func:`implied_vol`; the Greeks match :func:`greeks` at those vols
    (to rounding: the premium itself serves as the price). NaN Greeks where the vol is NaN.
    """
    arrays = (cp, forward, strike, t_years, df, premium, carry, _no(guess))
    shape, (c, f, k, t, d, p, b, g) = _flat(*arrays)
    spot = _spot(spot_based, shape)
    if HAVE_NUMBA:
        vol = np.empty(c.size)
        reason = np.empty(c.size, dtype=np.int8)
        rows: tuple[FloatArray, ...] | FloatArray = _empty_greeks(c.size)
        args = (c, f, k, t, d, p, float(tick), g, table(), b, spot, vol, reason, *rows)
        _run(batch.iv_greeks_kernel, c.size, *args)
    else:
        vol, reason, rows = vec.iv_greeks_v(c, f, k, t, d, p, float(tick), g, table(), b, spot)
    bad = _flag_unidentifiable(c, f, k, t, d, p, vol, reason)
    if bad.size:
        for row in range(6):
            rows[row][bad] = np.nan
    return vol.reshape(shape), reason.reshape(shape), _greeks_from(rows, shape)


def _no(guess: ArrayLike | None) -> ArrayLike:
    return np.nan if guess is None else guess


def position_greeks(
    g: Greeks, quantity: ArrayLike, multiplier: float = CONTRACT_MULTIPLIER
) -> Greeks:
    """Scale per-contract Greeks to a position's dollar Greeks (x multiplier x signed quantity).

    price becomes market value in USD, delta USD per point of forward, gamma USD per point
    squared, vega USD per vol point, theta USD per calendar day, rho USD per rate point.
    """
    scale = np.asarray(quantity, dtype=np.float64) * multiplier
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
    d, f, q = (np.asarray(a, dtype=np.float64) for a in (delta, forward, quantity))
    out: FloatArray = d * f * 0.01 * multiplier * q
    return out


def warm_up() -> None:
    """Load (or compile, once per install) every kernel, so no live tick pays for it."""
    global _warm
    if _warm:
        return
    _warm = True
    one = np.ones(1)
    price(one, 100.0, 100.0, 0.1, 1.0, 0.2)
    greeks(one, 100.0, 100.0, 0.1, 1.0, 0.2)
    implied_vol(one, 100.0, 100.0, 0.1, 1.0, 2.5)
    implied_vol_and_greeks(one, 100.0, 100.0, 0.1, 1.0, 2.5)
