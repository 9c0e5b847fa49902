"""A tabulated initial guess for the normalised-Black inverse, good to ~5e-5 relative.

LBR's rational guesses (``_lbr.initial_guess``) cover every input but are typically a few
percent off, so most quotes need two Householder steps, and the guess itself costs more than a
step. Where options actually trade (total vol ``s`` from 1e-4 to about 6, up to ~7 standard
deviations out of the money) this table does better: a bicubic (Catmull-Rom) interpolation in

    v = ln(-x),   u = ln(w / (1 - w)) - v  with w = beta / b_max,   value = ln(s / -x)

These coordinates keep the value smooth at both ends. For small s Black tends to Bachelier,
where s/|x| depends on beta/|x| alone: u -> ln(beta/|x|) and the value stops depending on v.
Near the upper bound, ln(w / (1 - w)) ~ s^2/8, so the value grows like ln(u)/2. With a 0.25
step the guess is within 5e-5 of the solution everywhere inside the grid, one Householder(3)
step then lands within rounding. Off the grid (|x| < 3e-9 or > 7.4, i.e. a strike within a
hair of the forward or beyond 1600x/1600th of it; more than ~7 standard deviations out; s
beyond 40) the guess is NaN and the caller falls back to LBR.

The grid is solved once per process with LBR itself (``table()``) and passed to the kernels as
an argument, so the numba and numpy paths read the same numbers and no compiled kernel carries
data in its cache.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._elementary import estrin13
from monitor.pricing._jit import inline_jit, jit
from monitor.pricing._lbr import normalised_vol

FloatArray = NDArray[np.float64]

STEP = 0.25
INV_STEP = 1.0 / STEP
U_MIN, U_MAX = -34.0, 12.0
V_MIN, V_MAX = -20.0, 2.5
N_U = round((U_MAX - U_MIN) / STEP) + 1
N_V = round((V_MAX - V_MIN) / STEP) + 1
S_MAX = 40.0
_table: FloatArray | None = None


def table() -> FloatArray:
    """Return the guess table (N_U x N_V, C-contiguous), solving it on first use (~30 ms)."""
    global _table
    if _table is None:
        _table = _build()
    return _table


def _build() -> FloatArray:
    u = U_MIN + STEP * np.arange(N_U)
    v = V_MIN + STEP * np.arange(N_V)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    with np.errstate(all="ignore"):
        x = -np.exp(vv)
        e = np.exp(uu + vv)
        w = e / (1.0 + e)  # beta / b_max, inverting u's definition
        ex = np.exp(0.5 * x)
        beta = w * ex
        ok = (w < 1.0) & (beta > 1e-300)
        s = np.full(x.shape, np.nan)
        s[ok] = normalised_vol(beta[ok], x[ok], ex[ok], 1.0 / ex[ok])
        out = np.log(s) - vv
    # NaN nodes poison every interpolation that touches them: the caller then falls back.
    out[~(s <= S_MAX)] = np.nan
    return np.ascontiguousarray(out)


@inline_jit
def smooth_exp(v: float) -> float:
    """Return exp(v) to ~1e-13 relative for |v| < 20, without libm or range reduction (the
    guess need not be exact): exp(v / 32) by its Taylor series, squared five times."""
    p = estrin13(v * (1.0 / 32.0))
    for _ in range(5):
        p = p * p
    return p


@inline_jit
def _row(tab: FloatArray, i: int, j: int, w0: float, w1: float, w2: float, w3: float) -> float:
    out: float = w0 * tab[i, j - 1] + w1 * tab[i, j] + w2 * tab[i, j + 1] + w3 * tab[i, j + 2]
    return out


@jit
def table_guess(beta: float, x: float, emx: float, tab: FloatArray) -> float:
    """Return the tabulated guess for s with b(x, s) = beta (x < 0), NaN outside the grid."""
    w = beta * emx
    return smooth_exp(table_log_ratio(math.log(-x), math.log(w / (1.0 - w)), tab)) * -x


@inline_jit
def table_log_ratio(v: float, logit: float, tab: FloatArray) -> float:
    """Return the interpolated ln(s / -x) at v = ln(-x) and logit = ln(w / (1 - w)), NaN
    outside the grid: :func:`table_guess` without its logs and exp."""
    a, b, inside = table_cell(v, logit)
    i = math.floor(a)
    j = math.floor(b)
    wa = catmull_rom(a - i)
    wb = catmull_rom(b - j)
    out = table_sum(tab, int(i), int(j), wa, wb)
    return out if inside else math.nan


@inline_jit
def table_cell(v: float, logit: float) -> tuple[float, float, bool]:
    """Return the grid coordinates (a, b) and whether the 4 x 4 nodes around them exist;
    outside, coordinates of a cell inside (the loads stay in bounds without a branch)."""
    a = (logit - v - U_MIN) * INV_STEP
    b = (v - V_MIN) * INV_STEP
    inside = (a >= 1.0) & (a < N_U - 2) & (b >= 1.0) & (b < N_V - 2)
    return (a if inside else 1.0), (b if inside else 1.0), inside


@inline_jit
def catmull_rom(p: float) -> tuple[float, float, float, float]:
    """Return the Catmull-Rom weights of the four nodes around fraction p of a cell."""
    p2 = p * p
    w0 = (p2 - 0.5 * p) - 0.5 * p2 * p
    w1 = (1.0 - 2.5 * p2) + 1.5 * p2 * p
    w2 = (0.5 * p + 2.0 * p2) - 1.5 * p2 * p
    return w0, w1, w2, 0.5 * p2 * p - 0.5 * p2


@inline_jit
def table_sum(
    tab: FloatArray,
    i: int,
    j: int,
    wa: tuple[float, float, float, float],
    wb: tuple[float, float, float, float],
) -> float:
    """Return the bicubic sum over the 4 x 4 nodes around cell (i, j)."""
    r0 = _row(tab, i - 1, j, wb[0], wb[1], wb[2], wb[3])
    r1 = _row(tab, i, j, wb[0], wb[1], wb[2], wb[3])
    r2 = _row(tab, i + 1, j, wb[0], wb[1], wb[2], wb[3])
    r3 = _row(tab, i + 2, j, wb[0], wb[1], wb[2], wb[3])
    out: float = wa[0] * r0 + wa[1] * r1 + wa[2] * r2 + wa[3] * r3
    return out


def table_guess_v(beta: FloatArray, x: FloatArray, emx: FloatArray, tab: FloatArray) -> FloatArray:
    """Return :func:`table_guess` elementwise (to rounding: numpy's exp and log)."""
    out = np.full(x.shape, np.nan)
    with np.errstate(all="ignore"):
        v = np.log(-x)
        w = beta * emx
        a = (np.log(w / (1.0 - w)) - v - U_MIN) * INV_STEP
        b = (v - V_MIN) * INV_STEP
        k = np.flatnonzero((a >= 1.0) & (a < N_U - 2) & (b >= 1.0) & (b < N_V - 2))
        a, b = a[k], b[k]
        i = a.astype(np.int64)
        j = b.astype(np.int64)
        p = a - i
        q = b - j
        p2 = p * p
        q2 = q * q
        wa = ((p2 - 0.5 * p) - 0.5 * p2 * p, (1.0 - 2.5 * p2) + 1.5 * p2 * p,
              (0.5 * p + 2.0 * p2) - 1.5 * p2 * p, 0.5 * p2 * p - 0.5 * p2)  # fmt: skip
        wb = ((q2 - 0.5 * q) - 0.5 * q2 * q, (1.0 - 2.5 * q2) + 1.5 * q2 * q,
              (0.5 * q + 2.0 * q2) - 1.5 * q2 * q, 0.5 * q2 * q - 0.5 * q2)  # fmt: skip
        flat = tab.reshape(-1)
        rows = []
        for di in range(-1, 3):
            at = (i + di) * N_V + j
            rows.append(wb[0] * flat[at - 1] + wb[1] * flat[at] + wb[2] * flat[at + 1]
                        + wb[3] * flat[at + 2])  # fmt: skip
        acc = wa[0] * rows[0] + wa[1] * rows[1] + wa[2] * rows[2] + wa[3] * rows[3]
        out[k] = np.exp(acc) * -x[k]
    return out
