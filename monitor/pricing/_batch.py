"""Implied-vol kernels (and Greeks at the solved vols) that work a block of options per stage.

Solving one quote is a chain of dependent steps: logs for the normalised quote and the table
coordinates, the tabulated guess, erfcx and exp for b(s), a log and divisions for the step, and
exp and erfcx again for the Greeks. Looping option by option, the core mostly waits on that
chain. Here each stage runs over a block of ``BLOCK`` options before the next one starts, and
is itself cut into loops over contiguous work rows: exp and log (``_elementary``'s arithmetic
forms) in loops of their own, the common case (small-t series, lower-branch step, the Greeks)
in branch-free loops, all of which LLVM vectorizes (4 options per AVX2 instruction; helpers
they call are inlined for that), and the rare cases in a last loop that redoes them with the
general scalar code. Position j of the rows is option lo + j; options that are not solved carry
NaN through the arithmetic and are skipped wherever it would cost. On the bench's 30,000-quote
SPX chain this runs ~80-90 ns per option on one core, against ~250 for the per-option stages
it replaced. Every option goes through the float operations of the per-option functions these
stages call (``_kernels``, ``_lbr``, ``_special``: the same functions the numpy backend applies
to whole arrays in ``_kernels_vec``; only exp and log are computed differently), stage by
stage:

1. ``normalise_quote``: classify the quote, reduce it to a normalised out-of-the-money call;
2. start from last tick's vol when one is given, else from ``table_guess``;
3. the objective of the start's branch there (``objective_branch``, ``objective_at``);
4. one Householder(3) step, a second when the first moved more than REFINE (``settle``);
5. ``rescue`` the rare start that did not settle (table, then LBR's full solve);
6. the Greeks at the solved vol: ``density_exponent`` and its exp, then ``greeks_at_premium``.

The two backends therefore agree to rounding, not bit for bit (numpy's exp and log are its
own, chosen per CPU): tests/unit/pricing/test_pricing_backends.py states the tolerance.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._elementary import exp_rows, log_rows
from monitor.pricing._jit import inline_jit, inlined, jit
from monitor.pricing._kernels import (
    NOT_IDENTIFIABLE,
    OK,
    density_exponent,
    greeks_at_premium,
    normalise_quote,
    rescue,
)
from monitor.pricing._lbr import (
    LOWER,
    REFINE,
    SMALL_T,
    UPPER,
    WARM_TOL,
    black_ratios,
    householder_ds,
    householder_update,
    lower_terms,
    objective_at,
    objective_branch,
    settle,
    small_t_series,
)
from monitor.pricing._special import (
    ONE_OVER_SQRT_2,
    ONE_OVER_SQRT_2PI,
    RATIONAL_LO,
    erfcx_rational,
    erfcx_small,
    erfcx_small_exponent,
)
from monitor.pricing._table import catmull_rom, smooth_exp, table_cell, table_sum

# The shared per-option helpers these loops call, bound as numba inlines them (before typing,
# like inline_jit): inlining them as registered overloads would type each one again per use.
normalise_quote = inlined(normalise_quote)
density_exponent = inlined(density_exponent)
greeks_at_premium = inlined(greeks_at_premium)
black_ratios = inlined(black_ratios)
householder_ds = inlined(householder_ds)
lower_terms = inlined(lower_terms)
objective_branch = inlined(objective_branch)
small_t_series = inlined(small_t_series)
erfcx_rational = inlined(erfcx_rational)
erfcx_small = inlined(erfcx_small)
erfcx_small_exponent = inlined(erfcx_small_exponent)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
ReasonArray = NDArray[np.int8]
BoolArray = NDArray[np.bool_]
Work = tuple[FloatArray, BoolArray, BoolArray, IntArray, tuple[FloatArray, IntArray, IntArray]]
Inputs = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]
Outputs = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]

BLOCK = 256
# Rows of the per-block work array; the Greeks stage reuses two the solve no longer needs.
X, EX, EMX, BETA, S0, LN_BETA, B, BP, S, D1, E, H, T, LN_B, DS, EY, DONE, SC, SERIES = range(19)
ROWS = 19
SETTLED, SECOND = 1.0, 2.0  # DONE after the first step: final, or a second step to take
LN_DF = LN_B
# The table stage's scratch: rows the later stages fill. NaN in WA0 marks a start off the grid.
CELL_I, CELL_J, WA0, WA1, WA2, WA3 = LN_BETA, B, BP, S, LN_B, DS
WB0, WB1, WB2, WB3 = EY, DONE, SC, T
NO_START = -1


@jit
def _normalise_block(
    quote: Inputs, tick: float, guess: FloatArray, reason: ReasonArray, work: Work
) -> None:
    """Classify the block's options into ``reason``; fill the rows of the ``queued`` ones (OK)
    with their normalised quotes and starts (NaN elsewhere)."""
    cp, f, k, t, df, p = quote
    w, queued, seeded, _, _ = work
    for j in range(cp.size):
        r, ratio, ex, beta = normalise_quote(cp[j], f[j], k[j], t[j], df[j], p[j], tick)
        reason[j] = r
        queued[j] = r == OK
        w[H, j] = ratio
        w[EX, j] = ex
        w[BETA, j] = beta
        g = guess[j]
        seeded[j] = queued[j] & (g > 0.0) & (g < math.inf)
        w[S0, j] = g * math.sqrt(t[j]) if seeded[j] else math.nan
    log_rows(cp.size, w, H, X, SC)
    for j in range(cp.size):
        w[EMX, j] = 1.0 / w[EX, j]


@jit
def _table_block(n: int, w: FloatArray, seeded: BoolArray, table: FloatArray) -> None:
    # table_guess for the unseeded starts, a loop per step.
    cold = 0
    for j in range(n):
        cold += not seeded[j]
    if cold == 0:
        return
    for j in range(n):
        w[H, j] = -w[X, j]
        q = w[BETA, j] * w[EMX, j]
        w[T, j] = q / (1.0 - q)
    log_rows(n, w, H, D1, SC)
    log_rows(n, w, T, E, SC)
    # table_log_ratio: cell and weights in a loop LLVM vectorizes, the gathers in a plain one.
    for j in range(n):
        a, b, inside = table_cell(w[D1, j], w[E, j])
        i, k = math.floor(a), math.floor(b)
        w[CELL_I, j], w[CELL_J, j] = i, k
        wa, wb = catmull_rom(a - i), catmull_rom(b - k)
        w[WA0, j], w[WA1, j], w[WA2, j], w[WA3, j] = (wa[0] if inside else math.nan), *wa[1:]
        w[WB0, j], w[WB1, j], w[WB2, j], w[WB3, j] = wb
    for j in range(n):
        wa = (w[WA0, j], w[WA1, j], w[WA2, j], w[WA3, j])
        wb = (w[WB0, j], w[WB1, j], w[WB2, j], w[WB3, j])
        w[H, j] = table_sum(table, int(w[CELL_I, j]), int(w[CELL_J, j]), wa, wb)
    for j in range(n):
        w[E, j] = smooth_exp(w[H, j]) * -w[X, j]
    for j in range(n):
        if not seeded[j]:
            w[S0, j] = w[E, j]


@jit
def _evaluate_block(n: int, w: FloatArray, seeded: BoolArray, branch: IntArray) -> None:
    # refine_start: the objective's branch, ln beta, and the objective at the start.
    for j in range(n):
        s0 = w[S0, j]
        live = seeded[j] | ((s0 > 0.0) & (s0 < math.inf))
        branch[j] = objective_branch(w[BETA, j], w[X, j], w[EX, j], s0) if live else NO_START
    log_rows(n, w, BETA, LN_BETA, SC)
    _objective_rows(n, w, branch, S0)


@jit
def _objective_rows(n: int, w: FloatArray, branch: IntArray, at: int) -> None:
    # objective_at(x, s, ..., branch) into rows B, BP for s = w[at] (NO_START skipped): the
    # common case (small-t series, erfcx's small or middle branch) for every option, then
    # objective_at itself for the options outside it.
    for j in range(n):
        s, x = w[at, j], w[X, j]
        h = x * (1.0 / s) if branch[j] == UPPER else x / s
        t = 0.5 * s
        w[H, j] = h
        w[T, j] = t
        w[EY, j] = -0.5 * (h * h + t * t)
    exp_rows(n, w, EY, E, SC)
    for j in range(n):
        y = abs(-ONE_OVER_SQRT_2 * w[H, j])
        w[EY, j] = math.exp(erfcx_small_exponent(y)) if y <= RATIONAL_LO else 1.0
    for j in range(n):
        h, t, e = w[H, j], w[T, j], w[E, j]
        arg = -ONE_OVER_SQRT_2 * h
        y = abs(arg)
        small = erfcx_small(arg, y, w[EY, j])
        r = small if y <= RATIONAL_LO else erfcx_rational(y)
        w[B, j] = ONE_OVER_SQRT_2PI * e * small_t_series(h, t, r)
        w[BP, j] = ONE_OVER_SQRT_2PI * e
        w[SERIES, j] = 1.0 if _series_case(branch[j], h, t) else 0.0
    for j in range(n):
        if branch[j] != NO_START and w[SERIES, j] == 0.0:
            w[B, j], w[BP, j] = objective_at(w[X, j], w[at, j], w[EX, j], w[EMX, j], branch[j])


@inline_jit
def _series_case(branch: int, h: float, t: float) -> bool:
    # black_vega's small-t series with erfcx(-h/sqrt(2)) on its small or middle branch: the
    # argument is >= 0 (h <= 0) and at most 4.
    arg = -ONE_OVER_SQRT_2 * h
    series = (not h + t > 0.85) & (t < SMALL_T) & (h >= -10.0)
    return (branch != UPPER) & series & (arg >= 0.0) & (arg <= 4.0)


@jit
def _lower_step_rows(n: int, w: FloatArray, at: int) -> None:
    # householder_update on the lower branch (strict) from s = w[at] and rows B, BP into DS.
    log_rows(n, w, B, LN_B, SC)
    for j in range(n):
        x, s, b, bp = w[X, j], w[at, j], w[B, j], w[BP, j]
        b_halley, b_hh3 = black_ratios(x, s)
        terms = lower_terms(w[LN_BETA, j], w[LN_B, j], b, bp, b_halley, b_hh3)
        w[DS, j] = householder_ds(terms[0], terms[1], terms[2], s, True)


@jit
def _step_block(n: int, w: FloatArray, work: Work, table: FloatArray) -> None:
    # refine_finish: the lower branch's step for every start; settle: a second lower-branch step
    # (the same loops) where the first was large; the other branches, and rescue, one by one.
    _, queued, seeded, branch, _ = work
    _lower_step_rows(n, w, S0)
    again = 0
    for j in range(n):
        s = w[S0, j] + w[DS, j]
        w[S, j] = s
        lower = (branch[j] == LOWER) & (s > 0.0) & (s < math.inf)
        large = abs(w[DS, j]) > REFINE * s
        w[DONE, j] = (SECOND if large else SETTLED) if lower else 0.0
        again += lower & large
    for j in range(n):
        if w[DONE, j] == 0.0:
            w[S, j] = _finish(w, j, queued[j], seeded[j], branch[j], table)
    if again:
        _second_step(n, w, work, table)


@jit
def _second_step(n: int, w: FloatArray, work: Work, table: FloatArray) -> None:
    # settle's second step for the lower-branch starts marked SECOND, NaN (then rescue) where
    # it does not settle within WARM_TOL: gathered into the spare rows, so the loops run over
    # those starts only (a fifth of a live tick's seeds, say).
    _, queued, seeded, _, (w2, branch2, idx) = work
    m = 0
    for j in range(n):
        if w[DONE, j] == SECOND:
            idx[m] = j
            m += 1
    for q in range(m):
        j = idx[q]
        w2[X, q], w2[EX, q], w2[EMX, q] = w[X, j], w[EX, j], w[EMX, j]
        w2[LN_BETA, q], w2[S, q] = w[LN_BETA, j], w[S, j]
        branch2[q] = LOWER
    _objective_rows(m, w2, branch2, S)
    _lower_step_rows(m, w2, S)
    for q in range(m):
        j = idx[q]
        ds = w2[DS, q]
        s = w2[S, q] + ds
        s = s if abs(ds) <= WARM_TOL * s else math.nan
        if queued[j] and not (s > 0.0 and s < math.inf):
            s = rescue(w[BETA, j], w[X, j], w[EX, j], w[EMX, j], seeded[j], table)
        w[S, j] = s


@jit
def _finish(w: FloatArray, j: int, queued: bool, seeded: bool, br: int, table: FloatArray) -> float:
    # refine_finish and rescue for a start the lower-branch loops do not cover.
    beta, x, ex, emx, s0 = w[BETA, j], w[X, j], w[EX, j], w[EMX, j], w[S0, j]
    s = math.nan
    if br != NO_START:
        ds = w[DS, j]
        if br != LOWER:
            ds = householder_update(beta, w[LN_BETA, j], x, ex, s0, w[B, j], w[BP, j], br, True)
        s = settle(beta, w[LN_BETA, j], x, ex, emx, s0, ds, br)
    if queued and not (s > 0.0 and s < math.inf):
        s = rescue(beta, x, ex, emx, seeded, table)
    return s


@jit
def _solve_block(
    quote: Inputs,
    tick: float,
    guess: FloatArray,
    table: FloatArray,
    reason: ReasonArray,
    vol: FloatArray,
    work: Work,
) -> None:
    """Solve one block (arrays sliced to it): reason and vol for each option; ``w[S]`` holds
    the solved total vols; NaN vol and NOT_IDENTIFIABLE where none was found."""
    w, queued, seeded, branch, _ = work
    t = quote[3]
    n = t.size
    _normalise_block(quote, tick, guess, reason, work)
    _table_block(n, w, seeded, table)
    _evaluate_block(n, w, seeded, branch)
    _step_block(n, w, work, table)
    for j in range(n):
        s = w[S, j]
        v = s / math.sqrt(t[j])  # for every option, so the loop has no branch
        vol[j] = v if (s > 0.0) & (s < math.inf) else math.nan
    for j in range(n):
        s = w[S, j]
        if queued[j] and not (s > 0.0 and s < math.inf):
            reason[j] = NOT_IDENTIFIABLE


@jit
def new_work() -> Work:
    """Return one block's scratch space: work rows, queued and seeded flags, branches, and
    spare rows, branches and positions for the starts that take a second step."""
    spare = (np.empty((ROWS, BLOCK)), np.empty(BLOCK, dtype=np.int64), np.empty(BLOCK, np.int64))
    return (
        np.empty((ROWS, BLOCK)),
        np.empty(BLOCK, dtype=np.bool_),
        np.empty(BLOCK, dtype=np.bool_),
        np.empty(BLOCK, dtype=np.int64),
        spare,
    )


@jit
def iv_kernel(
    cp: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    df: FloatArray,
    p: FloatArray,
    tick: float,
    guess: FloatArray,
    table: FloatArray,
    vol: FloatArray,
    reason: ReasonArray,
) -> None:
    """Fill ``vol`` and ``reason`` for 1-D contiguous inputs of equal length (guess NaN: none)."""
    work = new_work()
    for lo in range(0, cp.size, BLOCK):
        b = slice(lo, min(lo + BLOCK, cp.size))
        quote = (cp[b], f[b], k[b], t[b], df[b], p[b])
        _solve_block(quote, tick, guess[b], table, reason[b], vol[b], work)


@jit
def _greeks_block(
    w: FloatArray,
    quote: Inputs,
    carry: FloatArray,
    spot: BoolArray,
    reason: ReasonArray,
    out: Outputs,
) -> None:
    """Fill the Greeks of the block's options at their solved total vols ``w[S]``, NaN for
    those that did not solve."""
    cp, f, k, t, df, p = quote
    n = cp.size
    for j in range(n):
        x = w[X, j]
        w[D1, j], w[H, j] = density_exponent(x if f[j] < k[j] else -x, w[S, j])
        w[T, j] = df[j]
    exp_rows(n, w, H, E, SC)
    log_rows(n, w, T, LN_DF, SC)
    price, delta, gamma, vega, theta, rho = out
    for j in range(n):
        s, d1, e, ln_df = w[S, j], w[D1, j], w[E, j], w[LN_DF, j]
        g = greeks_at_premium(cp[j], f[j], t[j], df[j], ln_df, s, p[j], carry[j], spot[j], d1, e)
        ok = reason[j] == OK
        price[j], delta[j], gamma[j] = _or_nan(ok, g[0]), _or_nan(ok, g[1]), _or_nan(ok, g[2])
        vega[j], theta[j], rho[j] = _or_nan(ok, g[3]), _or_nan(ok, g[4]), _or_nan(ok, g[5])


@inline_jit
def _or_nan(ok: bool, value: float) -> float:
    return value if ok else math.nan


@jit
def iv_greeks_block(
    cp: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    df: FloatArray,
    p: FloatArray,
    tick: float,
    guess: FloatArray,
    table: FloatArray,
    carry: FloatArray,
    spot: BoolArray,
    vol: FloatArray,
    reason: ReasonArray,
    price: FloatArray,
    delta: FloatArray,
    gamma: FloatArray,
    vega: FloatArray,
    theta: FloatArray,
    rho: FloatArray,
    lo: int,
    hi: int,
    work: Work,
) -> None:
    """Solve options lo..hi (at most BLOCK) and fill the Greeks at their vols, NaN where none."""
    b = slice(lo, hi)
    quote = (cp[b], f[b], k[b], t[b], df[b], p[b])
    _solve_block(quote, tick, guess[b], table, reason[b], vol[b], work)
    out = (price[b], delta[b], gamma[b], vega[b], theta[b], rho[b])
    _greeks_block(work[0], quote, carry[b], spot[b], reason[b], out)


@jit
def iv_greeks_kernel(
    cp: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    df: FloatArray,
    p: FloatArray,
    tick: float,
    guess: FloatArray,
    table: FloatArray,
    carry: FloatArray,
    spot: BoolArray,
    vol: FloatArray,
    reason: ReasonArray,
    price: FloatArray,
    delta: FloatArray,
    gamma: FloatArray,
    vega: FloatArray,
    theta: FloatArray,
    rho: FloatArray,
) -> None:
    """Solve the vols and fill the Greeks at them in one pass (NaN Greeks where vol is NaN)."""
    work = new_work()
    for lo in range(0, cp.size, BLOCK):
        hi = min(lo + BLOCK, cp.size)
        iv_greeks_block(
            cp, f, k, t, df, p, tick, guess, table, carry, spot, vol, reason,
            price, delta, gamma, vega, theta, rho, lo, hi, work,
        )  # fmt: skip
