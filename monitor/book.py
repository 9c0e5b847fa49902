"""Per-book state from the priced market, vectorized over every leg of every book at once.

``PortfolioIndex`` flattens the portfolio into leg arrays once (per portfolio and instrument set);
``compute`` then reduces leg values and dollar Greeks to structures (condors, layers) and books
with ``np.bincount``: no Python loop per leg in the hot path.

Dollar Greeks per leg (x 100 multiplier x signed quantity):
- ``delta_1pct_usd``: P&L for a 1% move of the leg's underlying (delta_F x F x 1%),
- ``gamma_1pct_usd``: change of ``delta_1pct_usd`` for a further 1% move,
- ``vega_usd``: per 1 vol point, ``theta_usd``: per calendar day.

Each leg is valued at its instrument's mark (``monitor.market``: two-sided mid, else a recent
last trade, else the settlement / previous close) and keeps the mark's source and age. A leg is
*priced* when its mark and its Greeks are all finite; one that is not is named with a reason
(``UNPRICED_REASONS``). Structure numbers are NaN when any of their legs is unpriced (the
structure's value is unknown); **book numbers are sums over the priced legs only**, with the
count of unpriced legs beside them, so no single leg turns a book-level number into NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.market import NONE as MARK_NONE
from monitor.market import Marks
from monitor.model import CONTRACT_MULTIPLIER, Portfolio
from monitor.pricing.valuation import Valuation
from monitor.symbols import Kind

F64 = NDArray[np.float64]
UNPRICED_REASONS: tuple[str, ...] = ("priced", "no_mark", "no_forward", "no_vol", "no_greeks")
PRICED, NO_MARK, NO_FORWARD, NO_VOL, NO_GREEKS = range(5)


@dataclass(frozen=True, slots=True)
class PortfolioIndex:
    book_names: list[str]
    struct_names: list[str]
    struct_kind: list[str]
    struct_book: NDArray[np.int64]
    leg_symbol: list[str]
    leg_row: NDArray[np.int64]
    leg_qty: F64
    leg_entry: F64
    leg_struct: NDArray[np.int64]
    leg_is_spx: NDArray[np.bool_]
    cash_usd: F64

    def book_structs(self, b: int) -> range:
        """Return the structures of book ``b``: ``build`` lists each book's together, in order."""
        lo, hi = np.searchsorted(self.struct_book, (b, b + 1)).tolist()
        return range(lo, hi)

    def book_legs(self, b: int) -> range:
        """Return the legs of book ``b`` (legs follow their structures' order)."""
        structs = self.book_structs(b)
        lo, hi = np.searchsorted(self.leg_struct, (structs.start, structs.stop)).tolist()
        return range(lo, hi)

    @classmethod
    def build(cls, portfolio: Portfolio, rows: dict[str, int]) -> PortfolioIndex:
        """Flatten ``portfolio``; ``rows`` maps every leg symbol to its market row."""
        struct_names: list[str] = []
        struct_kind: list[str] = []
        struct_book: list[int] = []
        legs: list[tuple[str, int, float, int]] = []
        for b, book in enumerate(portfolio.books):
            groups = [("condor", c.name, c.legs) for c in book.condors]
            groups += [("layer", y.name, y.legs) for y in book.layers]
            groups += [("other", o.name, o.legs) for o in book.others]
            for kind, name, group_legs in groups:
                s = len(struct_names)
                struct_names.append(name)
                struct_kind.append(kind)
                struct_book.append(b)
                legs += [(leg.symbol, leg.quantity, leg.entry_price, s) for leg in group_legs]
        return cls(
            book_names=[book.name for book in portfolio.books],
            struct_names=struct_names,
            struct_kind=struct_kind,
            struct_book=np.array(struct_book, np.int64),
            leg_symbol=[leg[0] for leg in legs],
            leg_row=np.array([rows[leg[0]] for leg in legs], np.int64),
            leg_qty=np.array([leg[1] for leg in legs], np.float64),
            leg_entry=np.array([leg[2] for leg in legs], np.float64),
            leg_struct=np.array([leg[3] for leg in legs], np.int64),
            leg_is_spx=np.array([leg[0].startswith("SPX") for leg in legs], np.bool_),
            cash_usd=np.array([book.cash_usd for book in portfolio.books], np.float64),
        )


@dataclass(frozen=True, slots=True)
class PortfolioState:
    """Everything per leg, structure and book at one instant (arrays aligned to the index)."""

    index: PortfolioIndex
    now_ns: int
    leg_bid: F64
    leg_ask: F64
    leg_mid: F64
    """The leg's mark (named ``mid`` for its history: see ``leg_mark_source``)."""
    leg_mark_source: NDArray[np.int8]
    """``monitor.market.MARK_SOURCES`` index per leg."""
    leg_mark_ts_ns: NDArray[np.int64]
    leg_unpriced: NDArray[np.int8]
    """``UNPRICED_REASONS`` index per leg (0: priced)."""
    leg_stale: NDArray[np.bool_]
    leg_value_usd: F64
    leg_delta_1pct_usd: F64
    leg_gamma_1pct_usd: F64
    leg_vega_usd: F64
    leg_theta_usd: F64
    struct_value_usd: F64
    struct_cost_usd: F64
    struct_gain_ratio: F64
    struct_stale: NDArray[np.bool_]
    struct_delta_1pct_usd: F64
    struct_gamma_1pct_usd: F64
    struct_vega_usd: F64
    struct_theta_usd: F64
    book_delta_spx_1pct_usd: F64
    book_delta_vix_1pct_usd: F64
    book_gamma_spx_1pct_usd: F64
    book_vega_usd: F64
    book_theta_usd: F64
    book_value_usd: F64
    book_unpriced_legs: NDArray[np.int64]
    book_stale: NDArray[np.bool_]
    """A priced leg's mark is stale, or no leg of the book is priced: book rules are unknown."""

    @property
    def leg_priced(self) -> NDArray[np.bool_]:
        out: NDArray[np.bool_] = self.leg_unpriced == PRICED
        return out

    def unpriced(self, b: int) -> list[tuple[str, str]]:
        """Return (symbol, reason) of every unpriced leg of book ``b``."""
        idx = self.index
        owner = idx.struct_book[idx.leg_struct]
        return [
            (idx.leg_symbol[i], UNPRICED_REASONS[int(self.leg_unpriced[i])])
            for i in np.flatnonzero((owner == b) & (self.leg_unpriced != PRICED)).tolist()
        ]


def _sum_priced(groups: NDArray[np.int64], values: F64, priced: NDArray[np.bool_], n: int) -> F64:
    """Sum ``values`` per group over the priced members only (never NaN)."""
    return np.bincount(groups, np.where(priced, values, 0.0), minlength=n).astype(np.float64)


def unpriced_reason(
    mark: F64, forward: F64, vol: F64, greeks: tuple[F64, ...]
) -> NDArray[np.int8]:
    """Return why each leg is unpriced (``UNPRICED_REASONS``), 0 where it is priced."""
    ok_greeks = np.logical_and.reduce([np.isfinite(g) for g in greeks])
    return np.select(
        [~np.isfinite(mark), ~np.isfinite(forward), ~np.isfinite(vol), ~ok_greeks],
        [NO_MARK, NO_FORWARD, NO_VOL, NO_GREEKS],
        PRICED,
    ).astype(np.int8)


def _sum_by(groups: NDArray[np.int64], values: F64, n: int) -> F64:
    """Sum ``values`` per group; a group with any NaN member is NaN."""
    clean = np.where(np.isnan(values), 0.0, values)
    total = np.bincount(groups, clean, minlength=n)
    bad = np.bincount(groups, np.isnan(values).astype(np.float64), minlength=n)
    return np.where(bad > 0, np.nan, total)


def compute(
    index: PortfolioIndex,
    val: Valuation,
    bid: F64,
    ask: F64,
    quote_ts_ns: NDArray[np.int64],
    now_ns: int,
    *,
    mark_max_age_ns: int,
    market_stale: bool,
    marks: Marks | None = None,
) -> PortfolioState:
    """Value every leg, structure and book; mark legs without a fresh usable mark stale.

    ``marks`` defaults to the valuation's mid (two-sided, else last for indices and futures).
    """
    r = index.leg_row
    scale = index.leg_qty * CONTRACT_MULTIPLIER
    if marks is None:
        mid = val.mid[r]
        source = np.where(np.isnan(mid), MARK_NONE, 0).astype(np.int8)
        mark_ts = quote_ts_ns[r]
    else:
        mid, source, mark_ts = marks.price[r], marks.source[r], marks.ts_ns[r]
    fwd = val.forward[r]
    stale = np.isnan(mid) | (now_ns - quote_ts_ns[r] > mark_max_age_ns) | market_stale
    leg_value = mid * scale
    delta1 = val.delta[r] * fwd * 0.01 * scale
    gamma1 = val.gamma[r] * (fwd * 0.01) ** 2 * scale
    vega = val.vega[r] * scale
    theta = val.theta[r] * scale
    n_s = len(index.struct_names)
    s = index.leg_struct
    value = _sum_by(s, leg_value, n_s)
    cost = np.bincount(s, index.leg_entry * scale, minlength=n_s).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(cost != 0, (value - cost) / np.abs(cost), np.nan)
    struct_stale = np.bincount(s, stale.astype(np.float64), minlength=n_s) > 0
    n_b = len(index.book_names)
    b = index.struct_book[s]
    spx = index.leg_is_spx
    is_option = val.universe.kind[r] == int(Kind.OPTION)
    vol = np.where(is_option, val.vol[r], 0.0)
    reason = unpriced_reason(mid, fwd, vol, (delta1, gamma1, vega, theta))
    priced = reason == PRICED
    n_priced = np.bincount(b, priced.astype(np.float64), minlength=n_b)
    n_legs = np.bincount(b, minlength=n_b)
    book_stale = (np.bincount(b, (priced & stale).astype(np.float64), minlength=n_b) > 0) | (
        (n_priced == 0) & (n_legs > 0)
    )
    book_stale |= market_stale

    def book_sum(values: F64) -> F64:
        return _sum_priced(b, values, priced, n_b)

    return PortfolioState(
        index=index,
        now_ns=now_ns,
        leg_bid=bid[r],
        leg_ask=ask[r],
        leg_mid=mid,
        leg_mark_source=source,
        leg_mark_ts_ns=mark_ts,
        leg_unpriced=reason,
        leg_stale=stale,
        leg_value_usd=leg_value,
        leg_delta_1pct_usd=delta1,
        leg_gamma_1pct_usd=gamma1,
        leg_vega_usd=vega,
        leg_theta_usd=theta,
        struct_value_usd=value,
        struct_cost_usd=cost,
        struct_gain_ratio=gain,
        struct_stale=struct_stale,
        struct_delta_1pct_usd=_sum_by(s, delta1, n_s),
        struct_gamma_1pct_usd=_sum_by(s, gamma1, n_s),
        struct_vega_usd=_sum_by(s, vega, n_s),
        struct_theta_usd=_sum_by(s, theta, n_s),
        book_delta_spx_1pct_usd=book_sum(np.where(spx, delta1, 0.0)),
        book_delta_vix_1pct_usd=book_sum(np.where(spx, 0.0, delta1)),
        book_gamma_spx_1pct_usd=book_sum(np.where(spx, gamma1, 0.0)),
        book_vega_usd=book_sum(vega),
        book_theta_usd=book_sum(theta),
        book_value_usd=book_sum(leg_value) + index.cash_usd,
        book_unpriced_legs=(n_legs - n_priced).astype(np.int64),
        book_stale=np.asarray(book_stale, np.bool_),
    )
