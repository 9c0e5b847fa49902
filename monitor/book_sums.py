"""One pass over every leg: the gathers and the structure and book sums of ``book.compute``.

At 10,000 books (200,000 legs) the numpy form is ~30 whole-array passes, each a fresh
temporary: ~10 ms a cycle. Compiled (numba, through ``monitor.pricing._jit``), one loop over
the legs does all of it in a fraction of that. Without numba (``VIXMON_PRICING_BACKEND=numpy``)
the numpy form runs. The two sum in a different order (numpy's ``reduceat`` sums pairwise), so
they agree to rounding, not bit for bit: tests/unit/core/test_book_sums.py states the tolerance.

Pure: arrays in, arrays out.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from monitor.pricing._jit import HAVE_NUMBA, jit

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Flags = NDArray[np.bool_]
PRICED = 0


class Instruments(NamedTuple):
    """Per instrument row, what the legs take."""

    mark: F64
    source: NDArray[np.int8]
    mark_ts_ns: I64
    bid: F64
    ask: F64
    delta1: F64
    """Dollar delta for a 1% move, per unit."""
    gamma1: F64
    vega: F64
    theta: F64
    reason: NDArray[np.int8]
    """Why the instrument is unpriced (``book.UNPRICED_REASONS``), 0 where it is priced."""
    stale: Flags


class Legs(NamedTuple):
    """Which instrument each leg holds, how many units, and where it sums to."""

    row: I64
    units: F64
    struct: I64
    book: I64
    is_spx: Flags
    n_structs: int
    n_books: int
    book_start: I64
    """First leg of each book that has legs (a book's legs are contiguous)."""
    book_with_legs: I64


class LegSums(NamedTuple):
    mid: F64
    bid: F64
    ask: F64
    source: NDArray[np.int8]
    mark_ts_ns: I64
    reason: NDArray[np.int8]
    stale: Flags
    value_usd: F64
    delta1_usd: F64
    gamma1_usd: F64
    vega_usd: F64
    theta_usd: F64
    struct_value_usd: F64
    """Structure sums: NaN when any leg is NaN."""
    struct_delta1_usd: F64
    struct_gamma1_usd: F64
    struct_vega_usd: F64
    struct_theta_usd: F64
    struct_stale: Flags
    book_delta_spx_usd: F64
    """Book sums: over the priced legs only."""
    book_delta_vix_usd: F64
    book_gamma_spx_usd: F64
    book_vega_usd: F64
    book_theta_usd: F64
    book_value_usd: F64
    book_unpriced: I64
    book_stale_priced: Flags
    """Whether a priced leg of the book is stale."""


def leg_sums(inst: Instruments, legs: Legs) -> LegSums:
    """Gather every leg's numbers from its instrument and sum them per structure and book."""
    if HAVE_NUMBA:
        return LegSums(*_compiled(*inst, *legs[:-2]))
    return numpy_sums(inst, legs)


def numpy_sums(inst: Instruments, legs: Legs) -> LegSums:
    """The numpy form of ``leg_sums`` (whole-array passes)."""
    r, scale, s, b, n_s, n_b = legs.row, legs.units, legs.struct, legs.book, *legs[5:7]
    mid = inst.mark.take(r)
    reason, stale = inst.reason.take(r), inst.stale.take(r)
    value = mid * scale
    delta1, gamma1, vega, theta = (
        _scaled(x, r, scale) for x in (inst.delta1, inst.gamma1, inst.vega, inst.theta)
    )
    struct_stale = np.zeros(n_s, np.bool_)
    struct_stale[s[stale]] = True
    unpriced = np.flatnonzero(reason)
    spx = legs.is_spx

    def book_sum(values: F64) -> F64:
        if len(unpriced):
            values = values.copy()
            values[unpriced] = 0.0
        return sum_by_book(values, legs.book_start, legs.book_with_legs, n_b)

    stale_priced = np.zeros(n_b, np.bool_)
    stale_priced[b[stale & (reason == PRICED)]] = True
    return LegSums(
        mid=mid,
        bid=inst.bid.take(r),
        ask=inst.ask.take(r),
        source=inst.source.take(r),
        mark_ts_ns=inst.mark_ts_ns.take(r),
        reason=reason,
        stale=stale,
        value_usd=value,
        delta1_usd=delta1,
        gamma1_usd=gamma1,
        vega_usd=vega,
        theta_usd=theta,
        struct_value_usd=_sum_by(s, value, n_s),
        struct_delta1_usd=_sum_by(s, delta1, n_s),
        struct_gamma1_usd=_sum_by(s, gamma1, n_s),
        struct_vega_usd=_sum_by(s, vega, n_s),
        struct_theta_usd=_sum_by(s, theta, n_s),
        struct_stale=struct_stale,
        book_delta_spx_usd=book_sum(np.where(spx, delta1, 0.0)),
        book_delta_vix_usd=book_sum(np.where(spx, 0.0, delta1)),
        book_gamma_spx_usd=book_sum(np.where(spx, gamma1, 0.0)),
        book_vega_usd=book_sum(vega),
        book_theta_usd=book_sum(theta),
        book_value_usd=book_sum(value),
        book_unpriced=np.bincount(b[unpriced], minlength=n_b).astype(np.int64),
        book_stale_priced=stale_priced,
    )


def _scaled(per_instrument: F64, rows: I64, scale: F64) -> F64:
    """Return ``per_instrument[rows] * scale`` with one allocation."""
    out = per_instrument.take(rows)
    out *= scale
    return out


def _sum_by(groups: I64, values: F64, n: int) -> F64:
    """Sum ``values`` per group; a group with any NaN member is NaN (NaN propagates)."""
    return np.asarray(np.bincount(groups, values, minlength=n), np.float64)  # no copy


def sum_by_book(values: F64, book_start: I64, book_with_legs: I64, n_books: int) -> F64:
    """Sum per-leg values per book over contiguous runs (``reduceat``: several times faster
    than ``bincount`` with weights at ~20 legs a book); 0 for a book without legs, NaN
    propagates. ``book_start``: the first leg of each book in ``book_with_legs``."""
    if not len(book_start):
        return np.zeros(n_books)
    sums: F64 = np.add.reduceat(values, book_start)
    if len(book_with_legs) == n_books:
        return sums
    out = np.zeros(n_books)
    out[book_with_legs] = sums
    return out


@jit
def _compiled(
    mark: F64, source: NDArray[np.int8], mark_ts_ns: I64, bid: F64, ask: F64, delta1: F64,
    gamma1: F64, vega: F64, theta: F64, reason: NDArray[np.int8], stale: Flags,
    row: I64, units: F64, struct: I64, book: I64, is_spx: Flags, n_s: int, n_b: int,
) -> Any:  # fmt: skip  (a tuple in LegSums' order)
    n = len(row)
    l_mid, l_bid, l_ask = np.empty(n), np.empty(n), np.empty(n)
    l_source, l_ts = np.empty(n, np.int8), np.empty(n, np.int64)
    l_reason, l_stale = np.empty(n, np.int8), np.empty(n, np.bool_)
    l_value, l_d, l_g, l_v, l_t = np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    s_value, s_d, s_g, s_v, s_t = (
        np.zeros(n_s), np.zeros(n_s), np.zeros(n_s), np.zeros(n_s), np.zeros(n_s)
    )  # fmt: skip
    s_stale = np.zeros(n_s, np.bool_)
    b_dspx, b_dvix, b_gspx, b_v, b_t, b_value = (
        np.zeros(n_b), np.zeros(n_b), np.zeros(n_b), np.zeros(n_b), np.zeros(n_b), np.zeros(n_b)
    )  # fmt: skip
    b_unpriced, b_stale = np.zeros(n_b, np.int64), np.zeros(n_b, np.bool_)
    for i in range(n):
        j, u, si, bi = row[i], units[i], struct[i], book[i]
        value, d, g, v, t = mark[j] * u, delta1[j] * u, gamma1[j] * u, vega[j] * u, theta[j] * u
        l_mid[i], l_bid[i], l_ask[i], l_source[i], l_ts[i] = (
            mark[j], bid[j], ask[j], source[j], mark_ts_ns[j]
        )  # fmt: skip
        l_reason[i], l_stale[i] = reason[j], stale[j]
        l_value[i], l_d[i], l_g[i], l_v[i], l_t[i] = value, d, g, v, t
        s_value[si] += value
        s_d[si] += d
        s_g[si] += g
        s_v[si] += v
        s_t[si] += t
        if stale[j]:
            s_stale[si] = True
        if reason[j] != PRICED:
            b_unpriced[bi] += 1
            continue
        if stale[j]:
            b_stale[bi] = True
        if is_spx[i]:
            b_dspx[bi] += d
            b_gspx[bi] += g
        else:
            b_dvix[bi] += d
        b_v[bi] += v
        b_t[bi] += t
        b_value[bi] += value
    return (
        l_mid, l_bid, l_ask, l_source, l_ts, l_reason, l_stale, l_value, l_d, l_g, l_v, l_t,
        s_value, s_d, s_g, s_v, s_t, s_stale, b_dspx, b_dvix, b_gspx, b_v, b_t, b_value,
        b_unpriced, b_stale,
    )  # fmt: skip


def warm_up() -> None:
    """Load (or compile, once per install) the compiled pass, so no live cycle pays for it."""
    one, row = np.ones(1), np.zeros(1, np.int64)
    flag, code = np.zeros(1, np.bool_), np.zeros(1, np.int8)
    leg_sums(
        Instruments(one, code, row, one, one, one, one, one, one, code, flag),
        Legs(row, one, row, row, flag, 1, 1, row, row),
    )
