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

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor import symbols
from monitor.model import QuoteLike

_NAN = float("nan")
MARK_SOURCES: tuple[str, ...] = ("mid", "last", "settle", "none")
MID, LAST, SETTLE, NONE = range(4)
_EPOCH = dt.date(1970, 1, 1)


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
        for name in ("bid", "ask", "last", "settle", "open_interest"):
            old = getattr(self, name)
            new = np.full(n, np.nan)
            new[: len(old)] = old
            setattr(self, name, new)
        for name in ("ts_ns", "last_ts_ns", "settle_day", "settle_ts_ns"):
            old_i = getattr(self, name)
            new_i = np.zeros(n, np.int64)
            new_i[: len(old_i)] = old_i
            setattr(self, name, new_i)
        dl = np.zeros(n, np.bool_)
        dl[: len(self.delayed)] = self.delayed
        self.delayed = dl

    def apply(self, quotes: Sequence[QuoteLike]) -> int:
        """Apply validated quotes (newest per symbol wins); return how many rows changed."""
        return len(self._apply(quotes)[0])

    def apply_moved(self, quotes: Sequence[QuoteLike]) -> NDArray[np.int64]:
        """Apply validated quotes as ``apply``; return the rows whose bid, ask, last or delayed
        flag changed (a re-stamped identical quote moves nothing)."""
        rows, moved = self._apply(quotes)
        return rows[moved]

    def _apply(self, quotes: Sequence[QuoteLike]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        latest: dict[str, QuoteLike] = {}
        for q in quotes:
            prev = latest.get(q.sym)
            if prev is None or q.ts >= prev.ts:
                latest[q.sym] = q
        if not latest:
            return np.zeros(0, np.int64), np.zeros(0, np.bool_)
        rows = np.fromiter((self.register(s) for s in latest), np.int64, len(latest))
        batch = list(latest.values())
        ts = np.fromiter((q.ts for q in batch), np.int64, len(batch))
        fresh = ts >= self.ts_ns[rows]
        if not fresh.all():
            rows, ts = rows[fresh], ts[fresh]
            batch = [q for q, keep in zip(batch, fresh, strict=True) if keep]
        bid = np.array([_NAN if q.bid is None else q.bid for q in batch], np.float64)
        ask = np.array([_NAN if q.ask is None else q.ask for q in batch], np.float64)
        lasts = np.array([_NAN if q.last is None else q.last for q in batch], np.float64)
        delayed = np.array([q.delayed for q in batch], np.bool_)
        has_last = ~np.isnan(lasts)
        last = np.where(has_last, lasts, self.last[rows])
        moved = ~(_same(self.bid[rows], bid) & _same(self.ask[rows], ask))
        moved |= ~_same(self.last[rows], last) | (self.delayed[rows] != delayed)
        self.bid[rows], self.ask[rows], self.last[rows] = bid, ask, last
        self.last_ts_ns[rows] = np.where(has_last, ts, self.last_ts_ns[rows])
        self._apply_settle(rows, ts, batch)
        self.ts_ns[rows] = ts
        self.delayed[rows] = delayed
        if len(ts):
            self.latest_ts_ns = max(self.latest_ts_ns, int(ts.max()))
        return rows, moved

    def _apply_settle(
        self, rows: NDArray[np.int64], ts: NDArray[np.int64], batch: Sequence[QuoteLike]
    ) -> None:
        """Keep the newest settlement and open interest per row (``None`` keeps the held one)."""
        settle = np.array([_NAN if q.settle is None else q.settle for q in batch], np.float64)
        has = ~np.isnan(settle)
        if has.any():
            r = rows[has]
            self.settle[r] = settle[has]
            self.settle_ts_ns[r] = ts[has]
            self.settle_day[r] = [
                0 if q.settle_date is None else (q.settle_date - _EPOCH).days
                for q, keep in zip(batch, has.tolist(), strict=True)
                if keep
            ]
        oi = np.array(
            [_NAN if q.open_interest is None else q.open_interest for q in batch], np.float64
        )
        has_oi = ~np.isnan(oi)
        if has_oi.any():
            self.open_interest[rows[has_oi]] = oi[has_oi]

    def settle_date(self, row: int) -> dt.date | None:
        """Return the session date of ``row``'s settlement, if the feed sent one."""
        day = int(self.settle_day[row])
        return None if day == 0 else _EPOCH + dt.timedelta(days=day)

    def marks(self, now_ns: int, last_max_age_ns: int) -> Marks:
        """Return every instrument's mark at ``now_ns`` (see the module docstring)."""
        n = len(self.instruments)
        bid, ask, last = self.bid[:n], self.ask[:n], self.last[:n]
        with np.errstate(invalid="ignore"):
            two_sided = (bid >= 0.0) & (ask > 0.0) & (ask >= bid)
            traded = (last > 0.0) & (now_ns - self.last_ts_ns[:n] <= last_max_age_ns)
            settled = self.settle[:n] >= 0.0
        conds = [two_sided, traded & ~two_sided, settled & ~traded & ~two_sided]
        price = np.select(conds, [0.5 * (bid + ask), last, self.settle[:n]], np.nan)
        source = np.select(conds, [MID, LAST, SETTLE], NONE).astype(np.int8)
        ts_ns = np.select(
            conds, [self.ts_ns[:n], self.last_ts_ns[:n], self.settle_ts_ns[:n]], 0
        ).astype(np.int64)
        return Marks(price=price, source=source, ts_ns=ts_ns)

    def view(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Return (bid, ask, last) trimmed to the registered instruments (no copy)."""
        n = len(self.instruments)
        return self.bid[:n], self.ask[:n], self.last[:n]
