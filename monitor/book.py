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

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from monitor.book_sums import Instruments, Legs, leg_sums, sum_by_book
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
    # Derived from the fields above once, here: every cycle's ``compute`` (and the rules) reuse
    # them instead of rebuilding per-leg arrays that depend on the index alone.
    leg_book: NDArray[np.int64] = field(init=False)
    leg_units: F64 = field(init=False)
    """qty x 100 per leg (USD per point of the leg's price)."""
    struct_cost_usd: F64 = field(init=False)
    book_n_legs: NDArray[np.int64] = field(init=False)
    _book_with_legs: NDArray[np.int64] = field(init=False, repr=False)
    _book_start: NDArray[np.int64] = field(init=False, repr=False)
    """First leg of each book that has legs (a book's legs are contiguous)."""

    def __post_init__(self) -> None:
        units = self.leg_qty * CONTRACT_MULTIPLIER
        n_s = len(self.struct_names)
        derived = {
            "leg_book": np.ascontiguousarray(self.struct_book[self.leg_struct], np.int64),
            "leg_units": units,
            "struct_cost_usd": np.bincount(
                self.leg_struct, self.leg_entry * units, minlength=n_s
            ).astype(np.float64),
        }
        derived["book_n_legs"] = np.bincount(
            derived["leg_book"], minlength=len(self.book_names)
        ).astype(np.int64)
        with_legs = np.flatnonzero(derived["book_n_legs"])
        start = np.cumsum(derived["book_n_legs"]) - derived["book_n_legs"]
        derived["_book_with_legs"] = with_legs
        derived["_book_start"] = start[with_legs]
        for name, value in derived.items():
            value.flags.writeable = False  # shared by every cycle's state
            object.__setattr__(self, name, value)

    def sum_by_book(self, leg_values: F64) -> F64:
        """Sum per-leg values per book (0 for a book without legs; NaN propagates)."""
        return sum_by_book(
            leg_values, self._book_start, self._book_with_legs, len(self.book_names)
        )

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
        legs = idx.book_legs(b)  # contiguous: no pass over every leg (called per alert key)
        reasons = self.leg_unpriced[legs.start : legs.stop]
        return [
            (idx.leg_symbol[legs.start + i], UNPRICED_REASONS[int(reasons[i])])
            for i in np.flatnonzero(reasons != PRICED).tolist()
        ]


def unpriced_reason(
    mark: F64, forward: F64, vol: F64, greeks: tuple[F64, ...]
) -> NDArray[np.int8]:
    """Return why each leg is unpriced (``UNPRICED_REASONS``), 0 where it is priced."""
    out = np.zeros(mark.shape, np.int8)
    # the first failing check names the reason: assign the later ones first
    checks = (
        (NO_GREEKS, greeks),
        (NO_VOL, (vol,)),
        (NO_FORWARD, (forward,)),
        (NO_MARK, (mark,)),
    )
    for reason, arrays in checks:
        bad = ~np.isfinite(arrays[0])
        for x in arrays[1:]:
            bad |= ~np.isfinite(x)
        out[bad] = reason
    return out


class _Instruments(NamedTuple):
    """What ``compute`` reads per instrument row (all of them, or a partial's few)."""

    mark: F64
    source: NDArray[np.int8]
    mark_ts_ns: NDArray[np.int64]
    quote_ts_ns: NDArray[np.int64]
    bid: F64
    ask: F64
    forward: F64
    vol: F64
    """The option's implied vol; 0 for an index or a future (which have none)."""
    delta: F64
    gamma: F64
    vega: F64
    theta: F64

    @classmethod
    def of(
        cls, val: Valuation, bid: F64, ask: F64, quote_ts_ns: NDArray[np.int64], marks: Marks | None
    ) -> _Instruments:
        if marks is None:  # the valuation's mid, dated by the quote
            mark = val.mid
            marks = Marks(mark, np.where(np.isnan(mark), MARK_NONE, 0).astype(np.int8), quote_ts_ns)
        vol = np.where(val.universe.kind == int(Kind.OPTION), val.vol, 0.0)
        return cls(
            marks.price, marks.source, marks.ts_ns, quote_ts_ns, bid, ask, val.forward, vol,
            val.delta, val.gamma, val.vega, val.theta,
        )  # fmt: skip

    def subset(self, rows: NDArray[np.int64]) -> _Instruments:
        return _Instruments._make(x.take(rows) for x in self)


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
    # Per instrument first (the universe is several times smaller than the legs), then one
    # gather each: fewer and smaller temporaries, whose page faults dominate at 200k legs. A
    # partial evaluation's few legs work on their own instruments alone instead.
    r, inst = index.leg_row, _Instruments.of(val, bid, ask, quote_ts_ns, marks)
    if 4 * len(r) < len(val.forward):
        used, inverse = np.unique(r, return_inverse=True)
        r, inst = inverse.astype(np.int64), inst.subset(used)
    fwd_i = inst.forward
    delta1_i = inst.delta * fwd_i * 0.01
    gamma1_i = inst.gamma * (fwd_i * 0.01) ** 2
    # a leg's Greeks are its instrument's times qty x 100: finite together (barring overflow)
    reason_i = unpriced_reason(
        inst.mark, fwd_i, inst.vol, (delta1_i, gamma1_i, inst.vega, inst.theta)
    )
    stale_i = np.isnan(inst.mark) | (now_ns - inst.quote_ts_ns > mark_max_age_ns) | market_stale
    n_s, n_b = len(index.struct_names), len(index.book_names)
    sums = leg_sums(
        Instruments(
            inst.mark, inst.source, inst.mark_ts_ns, inst.bid, inst.ask, delta1_i, gamma1_i,
            inst.vega, inst.theta, reason_i, stale_i,
        ),
        Legs(
            r, index.leg_units, index.leg_struct, index.leg_book, index.leg_is_spx, n_s, n_b,
            index._book_start, index._book_with_legs,
        ),
    )  # fmt: skip
    cost = index.struct_cost_usd
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = sums.struct_value_usd - cost
        gain /= np.abs(cost)
    gain[cost == 0] = np.nan
    n_legs = index.book_n_legs
    book_stale = sums.book_stale_priced | ((sums.book_unpriced == n_legs) & (n_legs > 0))
    book_stale |= market_stale
    return PortfolioState(
        index=index,
        now_ns=now_ns,
        leg_bid=sums.bid,
        leg_ask=sums.ask,
        leg_mid=sums.mid,
        leg_mark_source=sums.source,
        leg_mark_ts_ns=sums.mark_ts_ns,
        leg_unpriced=sums.reason,
        leg_stale=sums.stale,
        leg_value_usd=sums.value_usd,
        leg_delta_1pct_usd=sums.delta1_usd,
        leg_gamma_1pct_usd=sums.gamma1_usd,
        leg_vega_usd=sums.vega_usd,
        leg_theta_usd=sums.theta_usd,
        struct_value_usd=sums.struct_value_usd,
        struct_cost_usd=cost,
        struct_gain_ratio=gain,
        struct_stale=sums.struct_stale,
        struct_delta_1pct_usd=sums.struct_delta1_usd,
        struct_gamma_1pct_usd=sums.struct_gamma1_usd,
        struct_vega_usd=sums.struct_vega_usd,
        struct_theta_usd=sums.struct_theta_usd,
        book_delta_spx_1pct_usd=sums.book_delta_spx_usd,
        book_delta_vix_1pct_usd=sums.book_delta_vix_usd,
        book_gamma_spx_1pct_usd=sums.book_gamma_spx_usd,
        book_vega_usd=sums.book_vega_usd,
        book_theta_usd=sums.book_theta_usd,
        book_value_usd=sums.book_value_usd + index.cash_usd,
        book_unpriced_legs=sums.book_unpriced,
        book_stale=np.asarray(book_stale, np.bool_),
    )
