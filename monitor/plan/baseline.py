"""The vega baseline: the book's net vega target, set once and moved only on purpose.

Per book (by name), a baseline is set

- at the first valid cycle (fresh marks, a finite net vega) when the book has none,
- by an explicit command (``vixmon baseline set BOOK [VALUE]``, ``POST /api/v1/baseline``):
  a value, or the book's net vega at that moment,
- by executing a plan: when a portfolio change removes exactly the plan's harvest and adds
  exactly its roll, the baseline becomes the plan's ``vega_after_roll_usd`` (the target the
  trader accepted with it; equal to the old baseline within a contract when ``binding`` is
  ``"vega"``).

Nothing else moves it: a session change, a restart (the app stores baselines in Redis) or any
other position change keeps it; a book removed from the portfolio keeps its stored baseline
should it come back. Every baseline says where it came from (``describe``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
from numpy.typing import NDArray

NS = 1_000_000_000
NEW_YORK = ZoneInfo("America/New_York")
Source = Literal["first_valid_cycle", "command", "plan"]
F64 = NDArray[np.float64]
Trade = dict[str, int]
"""Signed contracts per symbol a plan changes (harvest negative for a long leg sold)."""


class VegaBaseline(msgspec.Struct, frozen=True, kw_only=True):
    value_usd: float
    source: Source
    set_ns: int
    detail: str = ""

    def describe(self) -> str:
        """Return where the baseline came from, for alert texts."""
        when = dt.datetime.fromtimestamp(self.set_ns / NS, NEW_YORK).strftime("%Y-%m-%d %H:%M ET")
        how = {
            "first_valid_cycle": "set at the first valid cycle",
            "command": "set by command",
            "plan": "moved by executing a plan",
        }[self.source]
        return f"{how}, {when}" + (f" ({self.detail})" if self.detail else "")


ENCODER = msgspec.json.Encoder()
DECODER = msgspec.json.Decoder(VegaBaseline)


@dataclass(slots=True)
class PlannedTrade:
    trade: Trade
    vega_after_roll_usd: float
    summary: str


@dataclass(slots=True)
class VegaBaselines:
    by_book: dict[str, VegaBaseline] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    """Books whose baseline changed since the last ``drain`` (to persist)."""
    planned: dict[str, PlannedTrade] = field(default_factory=dict)
    """The last plan shown per book, to recognize its execution."""
    positions: dict[str, Trade] = field(default_factory=dict)
    """Contracts per symbol per book at the last portfolio seen."""
    _version: int = field(default=0, init=False, repr=False, compare=False)
    """Bumped by every change of ``by_book`` (made through ``set`` and ``load`` only)."""
    _table: tuple[list[str], int, F64, NDArray[np.bool_]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    """(book names, version, baseline per book, has one per book) of the last ``values``."""

    def values(self, books: Iterable[str]) -> F64:
        """Return the baseline per book name (NaN: none yet)."""
        return self._lookup(books)[0].copy()

    def _lookup(self, books: Iterable[str]) -> tuple[F64, NDArray[np.bool_]]:
        """Return (baseline, has one) per book; memoized per book list (a portfolio index's
        names) until a baseline changes, so a steady cycle makes no pass over 10,000 names."""
        t = self._table
        if t is not None and t[0] is books and t[1] == self._version and len(t[2]) == len(t[0]):
            return t[2], t[3]
        got = [self.by_book.get(n) for n in books]
        vals = np.array([math.nan if b is None else b.value_usd for b in got], np.float64)
        has = np.array([b is not None for b in got], np.bool_)
        if isinstance(books, list):
            self._table = (books, self._version, vals, has)
        return vals, has

    def get(self, book: str) -> VegaBaseline | None:
        return self.by_book.get(book)

    def set(
        self, book: str, value_usd: float, source: Source, now_ns: int, detail: str = ""
    ) -> None:
        self.by_book[book] = VegaBaseline(
            value_usd=value_usd, source=source, set_ns=now_ns, detail=detail
        )
        self.changed.add(book)
        self._version += 1

    def fill(self, books: list[str], vega: F64, valid: NDArray[np.bool_], now_ns: int) -> None:
        """Set the baseline of every book that has none from this cycle's valid net vega."""
        _, has = self._lookup(books)
        for b in np.flatnonzero(~has & valid & np.isfinite(vega)).tolist():
            name = books[b]
            if name not in self.by_book:  # a name listed twice: its first valid entry wins
                self.set(name, float(vega[b]), "first_valid_cycle", now_ns)

    def load(self, stored: Mapping[str, VegaBaseline]) -> None:
        """Adopt the stored baselines (a restart): they win over anything taken since."""
        self.by_book.update(stored)
        self.changed -= set(stored)
        self._version += 1

    def drain(self) -> dict[str, VegaBaseline]:
        out = {b: self.by_book[b] for b in self.changed if b in self.by_book}
        self.changed.clear()
        return out

    def note_plan(self, book: str, planned: PlannedTrade) -> None:
        self.planned[book] = planned

    def observe_positions(self, positions: Mapping[str, Trade], now_ns: int) -> list[str]:
        """Compare the books' contracts with the last portfolio; a change that is exactly the
        last plan's trade moves that book's baseline. Return the books so moved."""
        moved = []
        for book, now in positions.items():
            before = self.positions.get(book)
            plan = self.planned.get(book)
            if before is None or plan is None or now == before:
                continue
            diff = {s: now.get(s, 0) - before.get(s, 0) for s in set(now) | set(before)}
            if {s: q for s, q in diff.items() if q} == {s: q for s, q in plan.trade.items() if q}:
                self.set(book, plan.vega_after_roll_usd, "plan", now_ns, plan.summary)
                del self.planned[book]
                moved.append(book)
        self.positions = {b: dict(p) for b, p in positions.items()}
        return moved
