"""The latest quote per instrument, in contiguous float64 arrays indexed by instrument.

Instruments are registered the first time a quote (or a portfolio leg) names them; ``version``
changes whenever the instrument set grows, so the pricing universe is rebuilt only then. A quote
older than the one already held for its instrument is ignored (feeds can interleave).

The mark (:meth:`MarketState.marks`) is the one price every consumer values an instrument at,
chosen in this order, and it says which it is (``MARK_SOURCES``):

1. ``mid``: the mid of a two-sided quote (0 <= bid <= ask, ask > 0; a 0.0 bid is a side);
2. ``last``: else the last trade, when the quote that carried it is at most ``last_max_age_ns``
   old;
3. ``settle``: else the settlement (futures) or previous close (options, indices) the feed sent;
4. ``none``: no price at all (NaN).

Its age is measured from the event time of the quote that carried the chosen price. ``null``
sides, lasts and settlements keep nothing from before except the last trade and the settlement,
which persist until a newer one arrives.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress

import numpy as np
from numpy.typing import NDArray

from monitor import symbols
from monitor.model import QuoteLike

_NAN = float("nan")
MARK_SOURCES: tuple[str, ...] = ("mid", "last", "settle", "none")
MID, LAST, SETTLE, NONE = range(4)
_EPOCH = dt.date(1970, 1, 1)
_ARRAYS = (
    "bid", "ask", "last", "ts_ns", "delayed", "last_ts_ns", "settle", "settle_day",
    "settle_ts_ns", "open_interest",
)  # fmt: skip
"""MarketState's per-row arrays."""


@dataclass(frozen=True, slots=True)
class Marks:
    """Per registered instrument: the mark, where it came from (``MARK_SOURCES``), its as-of."""

    price: NDArray[np.float64]
    source: NDArray[np.int8]
    ts_ns: NDArray[np.int64]

    def source_name(self, row: int) -> str:
        return MARK_SOURCES[int(self.source[row])]


def _same(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Element-wise equality where NaN equals NaN (no quote stays no quote)."""
    same: NDArray[np.bool_] = (a == b) | (np.isnan(a) & np.isnan(b))
    return same


def _floats(values: Sequence[float | None]) -> NDArray[np.float64]:
    """Return ``values`` as float64 with None as NaN (numpy converts None so, in C)."""
    n = len(values)
    # a field no quote carries (no trades, no settlements) is common: skip converting its Nones
    if n and values[0] is None and values.count(None) == n:
        return np.full(n, _NAN)
    return np.fromiter(values, np.float64, n)


def _distinct(rows: NDArray[np.int64]) -> bool:
    """Whether no row repeats (sorting is cheaper than a set of Python ints)."""
    s = np.sort(rows)
    return bool((s[1:] != s[:-1]).all())


def _any_extras(batch: Sequence[QuoteLike]) -> bool:
    """Whether any quote is delayed or carries a settlement or open interest.

    Live quotes rarely do: one pass proving it is cheaper than building those three fields.
    """
    return bool(
        [q for q in batch if q.delayed or q.settle is not None or q.open_interest is not None]
    )


class Lineage:
    """The identity of a market's instrument registry (``MarketState.lineage``)."""


class MarketState:
    def __init__(self, capacity: int = 1024) -> None:
        self.index: dict[str, int] = {}
        self.instruments: list[symbols.Instrument] = []
        self.version = 0
        self.bid: NDArray[np.float64] = np.full(capacity, np.nan)
        self.ask: NDArray[np.float64] = np.full(capacity, np.nan)
        self.last: NDArray[np.float64] = np.full(capacity, np.nan)
        self.ts_ns: NDArray[np.int64] = np.zeros(capacity, np.int64)
        self.delayed: NDArray[np.bool_] = np.zeros(capacity, np.bool_)
        self.last_ts_ns: NDArray[np.int64] = np.zeros(capacity, np.int64)
        self.settle: NDArray[np.float64] = np.full(capacity, np.nan)
        self.settle_day: NDArray[np.int64] = np.zeros(capacity, np.int64)
        """Days since 1970-01-01 of the settlement's session (0: none)."""
        self.settle_ts_ns: NDArray[np.int64] = np.zeros(capacity, np.int64)
        self.open_interest: NDArray[np.float64] = np.full(capacity, np.nan)
        self.latest_ts_ns = 0
        self.lineage = Lineage()
        """Shared by this market and its snapshots, whose instruments are this one's first
        ones: a cache of the instrument set is valid for every market of a lineage at one
        ``version``."""
        self._frozen: tuple[int, dict[str, int], list[symbols.Instrument]] | None = None

    def __len__(self) -> int:
        return len(self.instruments)

    def register(self, symbol: str) -> int:
        """Return the row of ``symbol``, adding it (parsing must succeed) if new."""
        row = self.index.get(symbol)
        if row is not None:
            return row
        inst = symbols.parse(symbol)
        row = len(self.instruments)
        if row >= len(self.bid):
            self._grow()
        self.index[symbol] = row
        self.instruments.append(inst)
        self.version += 1
        return row

    def register_all(self, syms: Iterable[str]) -> None:
        for sym in syms:
            self.register(sym)

    def _grow(self) -> None:
        n = len(self.bid) * 2
        for name in _ARRAYS:
            old = getattr(self, name)
            new = np.full(n, np.nan if old.dtype.kind == "f" else 0, old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def apply(self, quotes: Sequence[QuoteLike]) -> int:
        """Apply validated quotes (newest per symbol wins); return how many rows changed."""
        return len(self._apply(quotes)[0])

    def apply_moved(self, quotes: Sequence[QuoteLike]) -> NDArray[np.int64]:
        """Apply validated quotes as ``apply``; return the rows whose bid, ask, last or delayed
        flag changed (a re-stamped identical quote moves nothing)."""
        rows, moved = self._apply(quotes)
        return rows[moved]

    def _apply(self, quotes: Sequence[QuoteLike]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        if not quotes:
            return np.zeros(0, np.int64), np.zeros(0, np.bool_)
        batch, rows = self._newest_per_row(quotes)
        ts = np.fromiter([q.ts for q in batch], np.int64, len(batch))
        fresh = ts >= self.ts_ns[rows]
        if not fresh.all():
            rows, ts = rows[fresh], ts[fresh]
            batch = list(compress(batch, fresh.tolist()))
        extras = _any_extras(batch)
        moved = self._apply_prices(rows, ts, batch, extras)
        if extras:
            self._apply_settle(rows, ts, batch)
        self.ts_ns[rows] = ts
        if len(ts):
            self.latest_ts_ns = max(self.latest_ts_ns, int(ts.max()))
        return rows, moved

    def _newest_per_row(
        self, quotes: Sequence[QuoteLike]
    ) -> tuple[Sequence[QuoteLike], NDArray[np.int64]]:
        """Return the newest quote per row (ties: the later one) with its row, rows in the order
        their symbols first appear."""
        rows = self._rows(quotes)
        rows_a = np.fromiter(rows, np.int64, len(rows))
        if _distinct(rows_a):  # the common case: every quote is its row's newest
            return quotes, rows_a
        winner: dict[int, int] = {}  # row -> index of its newest quote, in first-seen order
        for i, q in enumerate(quotes):
            j = winner.get(rows[i])
            if j is None or q.ts >= quotes[j].ts:
                winner[rows[i]] = i
        return [quotes[i] for i in winner.values()], np.fromiter(winner, np.int64, len(winner))

    def _rows(self, quotes: Sequence[QuoteLike]) -> list[int]:
        """Return each quote's row, registering unknown symbols in the order they appear."""
        index = self.index
        try:
            # a plain subscript is the cheapest lookup; new instruments are rare after startup
            return [index[q.sym] for q in quotes]
        except KeyError:
            pass  # registered outside the handler: a bad symbol's error stands alone
        return [self.register(q.sym) for q in quotes]

    def _apply_prices(
        self,
        rows: NDArray[np.int64],
        ts: NDArray[np.int64],
        batch: Sequence[QuoteLike],
        extras: bool,
    ) -> NDArray[np.bool_]:
        """Store sides, last and delay flag; return which rows moved (NaN equals NaN).
        ``extras``: some quote may be delayed (else none is)."""
        n = len(batch)
        bid = _floats([q.bid for q in batch])
        ask = _floats([q.ask for q in batch])
        lasts = _floats([q.last for q in batch])
        if extras:
            delayed = np.fromiter([q.delayed for q in batch], np.bool_, n)
        else:
            delayed = np.zeros(n, np.bool_)
        held_last = self.last[rows]
        has_last = ~np.isnan(lasts)
        last = np.where(has_last, lasts, held_last)  # no last keeps the held trade
        same = _same(self.bid[rows], bid) & _same(self.ask[rows], ask) & _same(held_last, last)
        moved: NDArray[np.bool_] = ~same | (self.delayed[rows] != delayed)
        self.bid[rows], self.ask[rows], self.last[rows] = bid, ask, last
        self.delayed[rows] = delayed
        if has_last.any():
            self.last_ts_ns[rows[has_last]] = ts[has_last]
        return moved

    def _apply_settle(
        self, rows: NDArray[np.int64], ts: NDArray[np.int64], batch: Sequence[QuoteLike]
    ) -> None:
        """Keep the newest settlement and open interest per row (``None`` keeps the held one)."""
        settle = _floats([q.settle for q in batch])
        has = ~np.isnan(settle)
        if has.any():
            r = rows[has]
            self.settle[r] = settle[has]
            self.settle_ts_ns[r] = ts[has]
            self.settle_day[r] = [
                0 if q.settle_date is None else (q.settle_date - _EPOCH).days
                for q in compress(batch, has.tolist())
            ]
        oi = _floats([q.open_interest for q in batch])
        has_oi = ~np.isnan(oi)
        if has_oi.any():
            self.open_interest[rows[has_oi]] = oi[has_oi]

    def settle_date(self, row: int) -> dt.date | None:
        """Return the session date of ``row``'s settlement, if the feed sent one."""
        day = int(self.settle_day[row])
        return None if day == 0 else _EPOCH + dt.timedelta(days=day)

    def marks(
        self, now_ns: int, last_max_age_ns: int, rows: NDArray[np.int64] | None = None
    ) -> Marks:
        """Return every instrument's mark at ``now_ns`` (see the module docstring).

        ``rows``: only those rows' marks are taken, the others are ``none`` (NaN), for a
        reader of those rows alone (a partial evaluation: its legs and the market-wide
        instruments); the arrays still span every instrument.
        """
        n = len(self.instruments)
        take: slice | NDArray[np.int64] = slice(0, n) if rows is None else rows
        bid, ask, last = self.bid[take], self.ask[take], self.last[take]
        with np.errstate(invalid="ignore"):
            two_sided = (bid >= 0.0) & (ask > 0.0) & (ask >= bid)
            traded = (last > 0.0) & (now_ns - self.last_ts_ns[take] <= last_max_age_ns)
            settled = self.settle[take] >= 0.0
        conds = [two_sided, traded & ~two_sided, settled & ~traded & ~two_sided]
        price = np.select(conds, [0.5 * (bid + ask), last, self.settle[take]], np.nan)
        source = np.select(conds, [MID, LAST, SETTLE], NONE).astype(np.int8)
        ts_ns = np.select(
            conds, [self.ts_ns[take], self.last_ts_ns[take], self.settle_ts_ns[take]], 0
        ).astype(np.int64)
        if rows is None:
            return Marks(price=price, source=source, ts_ns=ts_ns)
        out = Marks(np.full(n, np.nan), np.full(n, NONE, np.int8), np.zeros(n, np.int64))
        out.price[rows], out.source[rows], out.ts_ns[rows] = price, source, ts_ns
        return out

    def view(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Return (bid, ask, last) trimmed to the registered instruments (no copy)."""
        n = len(self.instruments)
        return self.bid[:n], self.ask[:n], self.last[:n]

    def snapshot(self) -> MarketState:
        """Return a read-only copy of what is held now, for a reader that must not see later
        quotes nor new instruments (a full cycle's rules, which run in stages while quotes keep
        being applied at their pauses: ``Engine.evaluate_stages``)."""
        out = copy.copy(self)
        if self._frozen is None or self._frozen[0] != self.version:
            # the instrument set changes rarely: snapshots of one version share one copy
            self._frozen = (self.version, dict(self.index), list(self.instruments))
        _, out.index, out.instruments = self._frozen
        for name in _ARRAYS:
            setattr(out, name, getattr(self, name).copy())
        return out
