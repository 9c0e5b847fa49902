"""The latest quote per instrument, in contiguous float64 arrays indexed by instrument.

Instruments are registered the first time a quote (or a portfolio leg) names them; ``version``
changes whenever the instrument set grows, so the pricing universe is rebuilt only then. A quote
older than the one already held for its instrument is ignored (feeds can interleave).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from monitor import symbols
from monitor.model import QuoteLike

_NAN = float("nan")


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
        for name in ("bid", "ask", "last"):
            old = getattr(self, name)
            new = np.full(n, np.nan)
            new[: len(old)] = old
            setattr(self, name, new)
        ts = np.zeros(n, np.int64)
        ts[: len(self.ts_ns)] = self.ts_ns
        self.ts_ns = ts
        dl = np.zeros(n, np.bool_)
        dl[: len(self.delayed)] = self.delayed
        self.delayed = dl

    def apply(self, quotes: Sequence[QuoteLike]) -> int:
        """Apply validated quotes (newest per symbol wins); return how many rows changed."""
        latest: dict[str, QuoteLike] = {}
        for q in quotes:
            prev = latest.get(q.sym)
            if prev is None or q.ts >= prev.ts:
                latest[q.sym] = q
        if not latest:
            return 0
        rows = np.fromiter((self.register(s) for s in latest), np.int64, len(latest))
        batch = list(latest.values())
        ts = np.fromiter((q.ts for q in batch), np.int64, len(batch))
        fresh = ts >= self.ts_ns[rows]
        if not fresh.all():
            rows, ts = rows[fresh], ts[fresh]
            batch = [q for q, keep in zip(batch, fresh, strict=True) if keep]
        self.bid[rows] = [_NAN if q.bid is None else q.bid for q in batch]
        self.ask[rows] = [_NAN if q.ask is None else q.ask for q in batch]
        lasts = np.array([_NAN if q.last is None else q.last for q in batch])
        self.last[rows] = np.where(np.isnan(lasts), self.last[rows], lasts)
        self.ts_ns[rows] = ts
        self.delayed[rows] = [q.delayed for q in batch]
        if len(ts):
            self.latest_ts_ns = max(self.latest_ts_ns, int(ts.max()))
        return len(rows)

    def view(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Return (bid, ask, last) trimmed to the registered instruments (no copy)."""
        n = len(self.instruments)
        return self.bid[:n], self.ask[:n], self.last[:n]
