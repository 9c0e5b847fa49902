"""The realized P&L ledger: what leaving a position earned, kept per book across restarts.

The portfolio file says what is held *now*; the ledger remembers what was held before and what
closing it realized, so a harvested hedge layer's gain still counts once the layer is gone.

``reconcile(ledger, portfolio, now_ns, touch)`` compares the portfolio with the positions the
ledger last saw, structure by structure ((book, name)) and leg by leg (symbol):

- a leg whose quantity shrank, or that is gone, or whose sign flipped, is *realized* for the
  closed quantity at ``quantity x 100 x (exit price - entry price)``;
- the exit price is, in this order: the price the trader gives in the portfolio
  (``[[books.exits]]``: structure, symbol, price), the last touch the engine saw (the bid to sell
  a long leg, the ask to buy back a short one: the price the harvest advisory sells at), or, with
  neither (a change made while vixmon was stopped), the entry price: the entry is kept with
  ``source = "unpriced"`` and 0 USD until the trader gives the price, which then re-prices it;
- a structure seen for the first time is *opened* now (``opened_ns``); added size realizes
  nothing. Structures are identified by (book, name): renaming one closes it and opens another.

The first reconcile of an empty ledger only records the positions (nothing was closed), as
opened at 0 (before the ledger existed). Later, broker fills (issue #15) can append entries with
``record``. Everything here is pure: the caller
passes the time and the prices, and persists the returned ledger (``monitor.positions.store``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Literal

import msgspec

from monitor.model import CONTRACT_MULTIPLIER, Book, Portfolio

if TYPE_CHECKING:
    from monitor.book import PortfolioState

Source = Literal["given", "marks", "unpriced", "fill"]
Kind = Literal["condor", "layer", "other"]
Touch = Callable[[str, int], float | None]
"""(symbol, signed quantity being closed) -> the price to close it at now, or None."""


class Held(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    quantity: int
    entry_price: float


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """One structure as the ledger last saw it."""

    book: str
    name: str
    kind: Kind
    legs: list[Held]
    opened_ns: int
    """When the ledger first saw it (0: at its first reconcile, opened before the ledger)."""


class Realization(msgspec.Struct, frozen=True, kw_only=True):
    """A closed quantity of one leg, at one price."""

    book: str
    structure: str
    kind: Kind
    symbol: str
    quantity: int
    """Signed as the position was: +2 is two long contracts sold, -2 two shorts bought back."""
    entry_price: float
    exit_price: float
    source: Source
    ts_ns: int

    @property
    def realized_usd(self) -> float:
        return self.quantity * CONTRACT_MULTIPLIER * (self.exit_price - self.entry_price)


class Ledger(msgspec.Struct, frozen=True, kw_only=True):
    seeded: bool = False
    """False until the first reconcile recorded the positions."""
    positions: list[Position] = msgspec.field(default_factory=list)
    entries: list[Realization] = msgspec.field(default_factory=list)

    def position(self, book: str, name: str) -> Position | None:
        return next((p for p in self.positions if p.book == book and p.name == name), None)

    def realized_usd(self, book: str, after_ns: int = -1) -> float:
        """Return the book's realized P&L of entries strictly after ``after_ns``."""
        return sum(e.realized_usd for e in self.entries if e.book == book and e.ts_ns > after_ns)


ENCODER = msgspec.json.Encoder()
DECODER = msgspec.json.Decoder(Ledger)


def _structures(book: Book) -> Iterable[tuple[str, Kind, dict[str, Held]]]:
    for c in book.condors:
        yield c.name, "condor", _legs(c.legs)
    for y in book.layers:
        yield y.name, "layer", _legs(y.legs)
    for o in book.others:
        yield o.name, "other", _legs(o.legs)


def _legs(legs: Iterable[object]) -> dict[str, Held]:
    """Aggregate legs per symbol (quantity-weighted entry price)."""
    out: dict[str, Held] = {}
    for leg in legs:
        sym, qty, px = leg.symbol, leg.quantity, leg.entry_price  # type: ignore[attr-defined]
        prev = out.get(sym)
        if prev is None:
            out[sym] = Held(symbol=sym, quantity=qty, entry_price=px)
            continue
        total = prev.quantity + qty
        entry = (prev.quantity * prev.entry_price + qty * px) / total if total else px
        out[sym] = Held(symbol=sym, quantity=total, entry_price=entry)
    return out


def closed_quantity(old: int, new: int) -> int:
    """Return the signed quantity of ``old`` that a change to ``new`` closes."""
    if old == 0:
        return 0
    if new == 0 or (new > 0) != (old > 0):
        return old
    return old - new if abs(new) < abs(old) else 0


def given_exits(portfolio: Portfolio) -> dict[tuple[str, str, str], float]:
    """Return the exit prices the trader wrote in the portfolio, by (book, structure, symbol)."""
    return {(b.name, x.structure, x.symbol): x.price for b in portfolio.books for x in b.exits}


def reconcile(
    ledger: Ledger, portfolio: Portfolio, now_ns: int, touch: Touch | None = None
) -> tuple[Ledger, list[Realization]]:
    """Return the ledger after ``portfolio`` replaced its positions, and the new realizations."""
    given = given_exits(portfolio)
    seen = {(p.book, p.name): p for p in ledger.positions}
    positions: list[Position] = []
    new: list[Realization] = []
    for book in portfolio.books:
        for name, kind, legs in _structures(book):
            old = seen.pop((book.name, name), None)
            # what the first reconcile finds was opened before the ledger existed: at 0, so every
            # later realization counts for it whatever clock (wall or a replay's) stamps them
            opened = old.opened_ns if old is not None else (now_ns if ledger.seeded else 0)
            if old is not None and ledger.seeded:
                new += _closes(old, legs, now_ns, given, touch)
            positions.append(
                Position(book=book.name, name=name, kind=kind, legs=list(legs.values()),
                         opened_ns=opened)
            )  # fmt: skip
    if ledger.seeded:
        for gone in seen.values():  # removed structures: every leg closes
            new += _closes(gone, {}, now_ns, given, touch)
    entries = _reprice([*ledger.entries, *new], given)
    return Ledger(seeded=True, positions=positions, entries=entries), new


def _closes(
    old: Position,
    legs: Mapping[str, Held],
    now_ns: int,
    given: Mapping[tuple[str, str, str], float],
    touch: Touch | None,
) -> list[Realization]:
    out = []
    for leg in old.legs:
        held = legs.get(leg.symbol)
        qty = closed_quantity(leg.quantity, 0 if held is None else held.quantity)
        if not qty:
            continue
        price, source = _exit_price(old, leg.symbol, qty, given, touch)
        out.append(
            Realization(
                book=old.book,
                structure=old.name,
                kind=old.kind,
                symbol=leg.symbol,
                quantity=qty,
                entry_price=leg.entry_price,
                exit_price=leg.entry_price if price is None else price,
                source=source,
                ts_ns=now_ns,
            )
        )
    return out


def _exit_price(
    old: Position,
    symbol: str,
    qty: int,
    given: Mapping[tuple[str, str, str], float],
    touch: Touch | None,
) -> tuple[float | None, Source]:
    price = given.get((old.book, old.name, symbol))
    if price is not None:
        return price, "given"
    price = touch(symbol, qty) if touch is not None else None
    if price is not None and price == price:  # not NaN
        return price, "marks"
    return None, "unpriced"


def _reprice(
    entries: list[Realization], given: Mapping[tuple[str, str, str], float]
) -> list[Realization]:
    """Apply a given exit price to the latest realization of that leg (the one it describes)."""
    latest: dict[tuple[str, str, str], int] = {}
    for i, e in enumerate(entries):
        latest[(e.book, e.structure, e.symbol)] = i
    out = list(entries)
    for key, i in latest.items():
        price = given.get(key)
        e = out[i]
        if price is not None and e.source != "fill" and e.exit_price != price:
            out[i] = msgspec.structs.replace(e, exit_price=price, source="given")
    return out


def record(ledger: Ledger, entries: Iterable[Realization]) -> Ledger:
    """Return the ledger with ``entries`` appended (broker fills: ``source = "fill"``)."""
    return msgspec.structs.replace(ledger, entries=[*ledger.entries, *entries])


def touch_from(state: PortfolioState) -> Touch:
    """Return the exit prices of ``state``'s legs: the bid to sell, the ask to buy back.

    A missing side falls back to the leg's mark; a symbol the state does not hold has none.
    """
    idx = state.index
    quotes = {
        sym: (float(state.leg_bid[i]), float(state.leg_ask[i]), float(state.leg_mid[i]))
        for i, sym in enumerate(idx.leg_symbol)
    }

    def touch(symbol: str, closing: int) -> float | None:
        q = quotes.get(symbol)
        if q is None:
            return None
        bid, ask, mark = q
        side = bid if closing > 0 else ask
        price = side if math.isfinite(side) else mark
        return price if math.isfinite(price) else None

    return touch
