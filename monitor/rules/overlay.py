"""What a book's hedging has made, split across its condors: the break-evens' overlay (pure).

- The open hedge P&L: each hedge layer at what it would fetch now (``exit_value_usd``: the bid
  of a long leg, the ask of a short one, else the leg's mark) minus its entry cost.
- The realized P&L: the ledger's entries (``monitor.positions.ledger``) booked strictly after a
  condor was opened; an entry counts only for the condors open when it was booked.

Both are split across a book's condors in proportion to their maximum loss at expiry
(``share_by_loss``), so a book's condors share its hedge the way they share its risk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from monitor.book import PortfolioIndex, PortfolioState

if TYPE_CHECKING:
    from monitor.positions.ledger import Ledger
    from monitor.rules.breakeven import Condors, Prepared

F64 = NDArray[np.float64]


def share_by_loss(cd: Condors, prep: Prepared, book_usd: F64, live: NDArray[np.bool_]) -> F64:
    """Split each book's amount across its ``live`` condors in proportion to maximum loss."""
    loss = np.where(live, prep.max_loss_usd + 1e-9, 0.0)
    total = np.bincount(cd.book, loss, minlength=len(book_usd))[cd.book]
    with np.errstate(invalid="ignore", divide="ignore"):
        out: F64 = np.where(total > 0, book_usd[cd.book] * loss / total, 0.0)
    return out


def exit_value_usd(state: PortfolioState) -> F64:
    """Return each structure's value at the touch: longs at the bid, shorts at the ask.

    A missing side falls back to the leg's mark; NaN when neither exists.
    """
    idx = state.index
    side = np.where(idx.leg_qty > 0, state.leg_bid, state.leg_ask)
    px = np.where(np.isfinite(side), side, state.leg_mid)
    legs = idx.leg_units * px  # leg_units: qty x CONTRACT_MULTIPLIER, precomputed
    n_s = len(idx.struct_names)
    if not np.isinf(legs).any():
        # a plain sum already makes a structure with a NaN leg NaN: one pass, not three
        out: F64 = np.bincount(idx.leg_struct, legs, minlength=n_s).astype(np.float64, copy=False)
        return out
    bad = np.bincount(idx.leg_struct, np.isnan(legs).astype(np.float64), minlength=n_s) > 0
    total = np.bincount(idx.leg_struct, np.nan_to_num(legs), minlength=n_s)
    return np.where(bad, np.nan, total)


def hedge_share(cd: Condors, prep: Prepared, state: PortfolioState) -> F64:
    """Split each book's open hedge P&L (layers at the touch) across its condors by max loss."""
    idx = state.index
    n_b = len(idx.book_names)
    layer = prep.is_layer
    pnl = np.where(layer, exit_value_usd(state) - state.struct_cost_usd, 0.0)
    stale = layer & (state.struct_stale | np.isnan(pnl))
    hedge: F64 = np.bincount(idx.struct_book, np.where(stale, 0.0, pnl), minlength=n_b).astype(
        np.float64
    )
    hedge_bad = np.bincount(idx.struct_book, stale.astype(np.float64), minlength=n_b) > 0
    share = share_by_loss(cd, prep, hedge, np.ones(len(cd), np.bool_))
    return np.where(hedge_bad[cd.book], np.nan, share)


def realized_share(
    cd: Condors, prep: Prepared, index: PortfolioIndex, ledger: Ledger | None
) -> F64:
    """Return each condor's share of its book's realized P&L booked after it was opened."""
    out = np.zeros(len(cd))
    if ledger is None or not ledger.entries or not len(cd):
        return out
    names = [index.struct_names[int(s)] for s in cd.struct]
    books = [index.book_names[int(b)] for b in cd.book]
    opened = np.array(
        [
            p.opened_ns if (p := ledger.position(b, n)) is not None else np.iinfo(np.int64).max
            for b, n in zip(books, names, strict=True)
        ],
        np.int64,
    )
    n_b = len(index.book_names)
    for e in ledger.entries:
        if e.book not in index.book_names:
            continue
        book_usd = np.zeros(n_b)
        book_usd[index.book_names.index(e.book)] = e.realized_usd
        out += share_by_loss(cd, prep, book_usd, opened < e.ts_ns)
    return out
