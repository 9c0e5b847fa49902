"""Forwards per expiry: put-call parity (Cboe's VIX white-paper strike), futures, carry.

Parity: at the strike where |call mid - put mid| is smallest, ``F = K + (C - P) / df``. Using
that one strike (the most balanced, usually the most liquid) is the white paper's method and
keeps bid-ask noise out of the forward.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MIN_PARITY_PAIRS = 3
"""Fewer strikes quoted two-sided on both the call and the put make a chain "too thin"."""


def parity_forward(
    strikes: npt.ArrayLike,
    call_mid: npt.ArrayLike,
    put_mid: npt.ArrayLike,
    df: float,
    *,
    min_pairs: int = MIN_PARITY_PAIRS,
) -> float:
    """Return one chain's parity forward, or NaN when fewer than ``min_pairs`` pairs quote."""
    k, c, p = (np.asarray(a, dtype=np.float64) for a in (strikes, call_mid, put_mid))
    chain = np.zeros(k.size, dtype=np.int64)
    out = chain_parity_forwards(chain, k, c, p, np.array([df]), 1, min_pairs=min_pairs)
    return float(out[0])


def chain_parity_forwards(
    pair_chain: IntArray,
    strike: FloatArray,
    call_mid: FloatArray,
    put_mid: FloatArray,
    chain_df: FloatArray,
    n_chains: int,
    *,
    min_pairs: int = MIN_PARITY_PAIRS,
) -> FloatArray:
    """Return the parity forward of every chain at once (NaN for thin chains).

    Inputs are per (chain, strike) pair, ``pair_chain`` sorted ascending; no per-option loop.
    """
    with np.errstate(invalid="ignore"):
        valid = (call_mid > 0.0) & (put_mid > 0.0) & np.isfinite(call_mid + put_mid)
    gap = np.where(valid, np.abs(call_mid - put_mid), np.inf)
    counts = np.bincount(pair_chain, weights=valid, minlength=n_chains)
    forwards = np.full(n_chains, np.nan)
    if gap.size == 0:
        return forwards
    starts = np.searchsorted(pair_chain, np.arange(n_chains))
    has_pairs = starts < np.append(starts[1:], pair_chain.size)
    best = np.full(n_chains, np.inf)
    best[has_pairs] = np.minimum.reduceat(gap, starts[has_pairs])
    at_best = np.flatnonzero(valid & (gap == best[pair_chain]))
    chains, first = np.unique(pair_chain[at_best], return_index=True)
    i = at_best[first]
    forwards[chains] = strike[i] + (call_mid[i] - put_mid[i]) / chain_df[chains]
    forwards[counts < min_pairs] = np.nan
    return forwards


def carry_forward(
    spot: npt.ArrayLike, rate: npt.ArrayLike, dividend_yield: npt.ArrayLike, t_years: npt.ArrayLike
) -> FloatArray:
    """Return spot * exp((r - q) T), the fallback forward of a thin index chain."""
    s, r, q, t = (np.asarray(a, dtype=np.float64) for a in (spot, rate, dividend_yield, t_years))
    out: FloatArray = s * np.exp((r - q) * t)
    return out
