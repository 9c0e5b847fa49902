"""Net vega in vol points, the measure the hedging method balances.

A condor leg's vega is its SPX option vega (USD per point of SPX implied vol). A VIX call hedges
that vega through its underlying: its exposure is its delta to the VX future of its expiry,
USD per VX point (delta x 100 x quantity), one VX point read as one vol point. The book's net
vega is the sum of both; it is what the ``greeks`` rule limits and keeps near its baseline, and
what the roll plan (``monitor.plan``) sizes new calls to restore. (``vixmon_book_vega_usd`` keeps
the raw sum of option vegas, VIX options' in points of their own implied vol.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.book import PortfolioIndex, PortfolioState
from monitor.model import CONTRACT_MULTIPLIER
from monitor.pricing.valuation import Valuation

F64 = NDArray[np.float64]


def _sum(groups: NDArray[np.int64], values: F64, n: int) -> F64:
    """Sum per group; a group with a NaN member is NaN (a plain sum propagates it)."""
    out: F64 = np.bincount(groups, values, minlength=n).astype(np.float64, copy=False)
    return out


@dataclass(frozen=True, slots=True)
class NetVega:
    leg: F64
    struct: F64
    book: F64


def per_contract(val: Valuation, rows: NDArray[np.int64]) -> F64:
    """Return a VIX option's net vega per contract: delta to its VX future x 100."""
    out: F64 = val.delta[rows] * CONTRACT_MULTIPLIER
    return out


def net_vega(state: PortfolioState, val: Valuation) -> NetVega:
    idx = state.index
    vix = per_contract(val, idx.leg_row) * idx.leg_qty
    leg = np.where(idx.leg_is_spx, state.leg_vega_usd, vix)
    n_s = len(idx.struct_names)
    return NetVega(
        leg=leg,
        struct=_sum(idx.leg_struct, leg, n_s),
        # Over priced legs only: one unpriced leg never blanks the book (monitor.book).
        # (contiguous per book: reduceat, several times faster than a weighted bincount)
        book=idx.sum_by_book(np.where(state.leg_priced & np.isfinite(leg), leg, 0.0)),
    )


def leg_units(index: PortfolioIndex) -> list[str]:
    """Return each leg's vega unit: ``spx_vega`` (SPX option vega) or ``vix_delta_x100``."""
    return [leg_unit(spx) for spx in index.leg_is_spx.tolist()]


def leg_unit(is_spx: bool) -> str:
    """Return one leg's vega unit (see ``leg_units``)."""
    return "spx_vega" if is_spx else "vix_delta_x100"
