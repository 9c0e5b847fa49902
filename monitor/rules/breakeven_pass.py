"""The break-even solve of every condor in one compiled pass (``breakeven._solve``'s numbers).

Per condor: the P&L at expiry on its exact grid plus the hedge overlay, the roots on either
side of the grid's highest node, the smile's vol at each root and the roots' distances in
sigma. The numpy form (``breakeven._solve``) takes ~40 whole-array passes over 30,000 condors
(~8 ms a cycle at 10,000 books); compiled, one loop does it. Without numba the numpy form runs.
The two agree to rounding (tests/unit/rules/test_rules_breakeven_pass.py states it).

Pure: arrays in, arrays out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._jit import HAVE_NUMBA, jit, select
from monitor.pricing.valuation import Valuation

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class Smiles:
    """Every chain's smile of a valuation as flat arrays (what the compiled pass reads)."""

    def __init__(self, val: Valuation) -> None:
        smiles = val.smiles
        sizes = np.array([len(s.log_moneyness) for s in smiles], np.int64)
        self.start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.log_moneyness = _concat([s.log_moneyness for s in smiles])
        self.total_variance = _concat([s.total_variance for s in smiles])
        self.forward = np.array([s.forward for s in smiles], np.float64)
        self.t_years = np.array([s.t_years for s in smiles], np.float64)
        self.chain_forward = np.asarray(val.chain_forward, np.float64)
        self.chain_t_years = np.asarray(val.chain_t_years, np.float64)


def _concat(parts: list[F64]) -> F64:
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)


def solve(
    nodes: F64, pnl: F64, overlay_usd: F64, chain: I64, smiles: Smiles
) -> tuple[F64, F64, F64]:
    """Return (lower, upper, distance in sigma (rows x 2)); ``chain``: each row's valuation
    chain (-1: none). Requires numba (``HAVE_NUMBA``)."""
    out: Any = _compiled(
        np.ascontiguousarray(nodes), np.ascontiguousarray(pnl),
        np.nan_to_num(np.asarray(overlay_usd, np.float64)), np.asarray(chain, np.int64),
        smiles.start, smiles.log_moneyness, smiles.total_variance, smiles.forward,
        smiles.t_years, smiles.chain_forward, smiles.chain_t_years,
    )  # fmt: skip
    return out[0], out[1], out[2]


AVAILABLE = HAVE_NUMBA


@jit
def _smile_iv(
    k: float, c: int, start: I64, lm: F64, tv: F64, fwd: F64, t: F64
) -> float:  # pragma: no cover - compiled
    """``Smile.iv`` of chain ``c`` at strike ``k``; NaN at a non-finite strike."""
    if not math.isfinite(k):
        return math.nan
    lo, hi = start[c], start[c + 1]
    if hi == lo or not t[c] > 0.0 or not math.isfinite(fwd[c]):
        return math.nan
    q = k / fwd[c]
    if not q >= 0.0:
        return math.nan
    x = -math.inf if q == 0.0 else math.log(q)
    return math.sqrt(_interp(x, lm, tv, lo, hi) / t[c])


@jit
def _interp(x: float, xp: F64, fp: F64, lo: int, hi: int) -> Any:  # pragma: no cover
    """``np.interp(x, xp[lo:hi], fp[lo:hi])`` for one finite or infinite ``x``, with numpy's
    formula (a binary search, flat beyond the ends; numba's own np.interp costs a pass over
    the grid per call)."""
    if x <= xp[lo]:
        return fp[lo]
    if x >= xp[hi - 1]:
        return fp[hi - 1]
    # branch-free search for the last a with xp[a] <= x (here xp[lo] < x < xp[hi - 1]): a
    # data-dependent branch per step mispredicts half the time
    a, n = lo, hi - lo
    while n > 1:
        half = n // 2
        a = select(xp[a + half] <= x, a + half, a)
        n -= half
    if xp[a] == x:
        return fp[a]
    slope = (fp[a + 1] - fp[a]) / (xp[a + 1] - xp[a])
    out = slope * (x - xp[a]) + fp[a]
    if math.isnan(out):
        out = slope * (x - xp[a + 1]) + fp[a + 1]
        if math.isnan(out) and fp[a] == fp[a + 1]:
            out = fp[a]
    return out


@jit
def _compiled(
    nodes: F64, pnl: F64, overlay: F64, chain: I64, start: I64, lm: F64, tv: F64,
    s_fwd: F64, s_t: F64, c_fwd: F64, c_t: F64,
) -> Any:  # pragma: no cover - compiled  # fmt: skip
    n, m = pnl.shape
    lower, upper = np.empty(n), np.empty(n)
    dist = np.empty((n, 2))
    p = np.empty(m)
    for i in range(n):
        for j in range(m):
            p[j] = pnl[i, j] + overlay[i]
        top = 0
        for j in range(1, m):
            if p[j] > p[top]:
                top = j
        if p[top] < 0.0:  # no profit zone
            lower[i] = upper[i] = math.nan
            dist[i, 0] = dist[i, 1] = -math.inf
            continue
        lo = -1
        for j in range(top):
            if p[j] < 0.0:
                lo = j
        hi = -1
        for j in range(m - 1, top, -1):
            if p[j] < 0.0:
                hi = j
        if lo >= 0:
            b = min(lo + 1, m - 1)
            x0, x1, y0, y1 = nodes[i, lo], nodes[i, b], p[lo], p[b]
            lower[i] = x0 + (0.0 - y0) * (x1 - x0) / (y1 - y0)
        else:
            lower[i] = -math.inf
        if hi >= 1:
            x0, x1, y0, y1 = nodes[i, hi - 1], nodes[i, hi], p[hi - 1], p[hi]
            upper[i] = x0 + (0.0 - y0) * (x1 - x0) / (y1 - y0)
        else:
            upper[i] = math.inf
        c = chain[i]
        if c < 0:
            fwd, t, iv_lo, iv_hi = math.nan, math.nan, math.nan, math.nan
        else:
            fwd, t = c_fwd[c], c_t[c]
            iv_lo = _smile_iv(lower[i], c, start, lm, tv, s_fwd, s_t)
            iv_hi = _smile_iv(upper[i], c, start, lm, tv, s_fwd, s_t)
        root_t = math.sqrt(t) if t >= 0.0 else math.nan
        dist[i, 0] = math.inf if lower[i] == -math.inf else _ratio(fwd / lower[i], iv_lo * root_t)
        dist[i, 1] = math.inf if upper[i] == math.inf else _ratio(upper[i] / fwd, iv_hi * root_t)
    return lower, upper, dist


@jit
def _ratio(q: float, scale: float) -> float:  # pragma: no cover - compiled
    """``log(q) / scale`` as numpy computes it (NaN below 0, -inf at 0, IEEE division)."""
    if not q >= 0.0:
        return math.nan
    return (-math.inf if q == 0.0 else math.log(q)) / scale
