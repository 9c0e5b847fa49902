"""Domain types shared by every layer: quotes, the portfolio, alert events.

Timestamps are integer nanoseconds since the epoch, UTC. Prices are in index points or option
premium points (x100 contract multiplier gives USD).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Protocol

import msgspec

CONTRACT_MULTIPLIER = 100.0


class Quote(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One top-of-book update in the canonical quote stream contract."""

    sym: str
    ts: int
    bid: float | None = None
    ask: float | None = None
    bid_size: int | None = None
    ask_size: int | None = None
    last: float | None = None
    delayed: bool = False
    settle: float | None = None
    """The settlement (futures) or previous close (options, indices), dated ``settle_date``."""
    settle_date: dt.date | None = None
    open_interest: int | None = None


class QuoteLike(Protocol):
    """What the engine reads of a quote: ``Quote`` and the binary batch rows both provide it."""

    @property
    def sym(self) -> str: ...
    @property
    def ts(self) -> int: ...
    @property
    def bid(self) -> float | None: ...
    @property
    def ask(self) -> float | None: ...
    @property
    def last(self) -> float | None: ...
    @property
    def delayed(self) -> bool: ...
    @property
    def settle(self) -> float | None: ...
    @property
    def settle_date(self) -> dt.date | None: ...
    @property
    def open_interest(self) -> int | None: ...


class Leg(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A position in one contract. ``quantity`` is signed: negative is short."""

    symbol: str
    quantity: int
    entry_price: float


class IronCondor(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    legs: list[Leg]


class Layer(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One hedge layer: VIX/VIXW call legs bought together at one entry cost."""

    name: str
    legs: list[Leg]


class Other(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Legs no condor or layer explains (``monitor.positions.recognize``): they still count in
    the book's Greeks, value, stress and margin; the condor and layer rules skip them."""

    name: str
    legs: list[Leg]


class Exit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The price a leg of a structure was closed at (``monitor.positions.ledger``)."""

    structure: str
    symbol: str
    price: Annotated[float, msgspec.Meta(ge=0)]


class Book(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    cash_usd: float = 0.0
    condors: list[IronCondor] = msgspec.field(default_factory=list)
    layers: list[Layer] = msgspec.field(default_factory=list)
    others: list[Other] = msgspec.field(default_factory=list)
    exits: list[Exit] = msgspec.field(default_factory=list)
    """Exit prices of reduced or removed legs: the next reload realizes them at these prices."""


class Portfolio(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    books: list[Book]


AlertStatus = Literal["firing", "repeat", "resolved"]
Severity = Literal["info", "warning", "critical"]
Scalar = float | int | str | bool | None


class AlertEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One notification about an alert key; ``id`` is stable across delivery retries."""

    id: str
    key: str
    rule: str
    book: str
    subject: str
    status: AlertStatus
    severity: Severity
    summary: str
    ts_ns: int
    values: dict[str, Scalar] = msgspec.field(default_factory=dict)
    action: str | None = None
    advisory: dict[str, object] | None = None
    context: dict[str, Scalar] = msgspec.field(default_factory=dict)
    delayed: bool = False
