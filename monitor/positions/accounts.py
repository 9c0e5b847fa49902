"""What a broker account holds, as last reported: positions, balances, and how old they are.

Pure: the account clients (``adapters/tastytrade``, ``adapters/tradier``) feed it parsed
snapshots and notifications with the time they arrived; the engine reads the recognized book
(``recognize``), the broker's margin numbers (``BrokerAccount``) and the age.

States of one source, driven by the client:

    empty ──snapshot──► live ──(no snapshot/heartbeat for stale_after_s)──► stale
                         ▲                                                    │
                         └─────────────────────── snapshot ◄──────────────────┘

A stale source keeps its last positions (the book does not vanish while the broker is down);
only a REST snapshot (the source of truth) replaces them, while streamed position updates
patch them in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import msgspec

from monitor.model import Book, Portfolio
from monitor.positions.recognize import Overlay, Position, Recognized, recognize
from monitor.rules.margin import BrokerAccount

Row = TypeVar("Row")


def parse_rows(rows: Iterable[Row], parse: Callable[[Row], Position]
               ) -> tuple[list[Position], list[str]]:
    """Parse a broker's position rows; a row ``parse`` refuses (ValueError) is skipped and its
    reason returned, never dropped silently: (positions, problems)."""
    out: list[Position] = []
    problems: list[str] = []
    for row in rows:
        try:
            out.append(parse(row))
        except ValueError as exc:
            problems.append(str(exc))
    return out, problems


class Balance(msgspec.Struct, frozen=True, kw_only=True):
    """The balance fields vixmon reads, in USD; None where the broker did not say."""

    account: str
    cash_usd: float | None = None
    net_liquidating_value_usd: float | None = None
    maintenance_requirement_usd: float | None = None
    buying_power_usd: float | None = None


class AccountState:
    """Positions and balances of one configured source (one or more account numbers)."""

    def __init__(self, *, source: str, book: str, stale_after_s: float) -> None:
        self.source = source
        self.book = book
        self.stale_after_ns = int(stale_after_s * 1e9)
        self.positions: dict[tuple[str, str], Position] = {}
        self.balances: dict[str, tuple[Balance, int]] = {}
        self.snapshot_ns = 0
        """When the last full snapshot arrived (0: never)."""
        self.heard_ns = 0
        """When the broker last said anything (snapshot, notification or heartbeat reply)."""
        self.version = 0
        """Bumped on every change of positions: the engine rebuilds the book when it moves."""
        self.patched_ns: dict[tuple[str, str], int] = {}
        """When a notification last patched each position."""

    def apply_snapshot(self, account: str, positions: Iterable[Position], now_ns: int,
                       *, requested_ns: int | None = None) -> None:
        """Replace every position of ``account`` with a REST snapshot's.

        A symbol a notification patched after ``requested_ns`` (when the snapshot was asked
        for) keeps the notification's newer value: a slow snapshot must not undo a fill.
        """
        fresh = {(account, p.symbol): p for p in positions if p.quantity != 0}
        old = {k: v for k, v in self.positions.items() if k[0] == account}
        if requested_ns is not None:
            for key, at_ns in self.patched_ns.items():
                if key[0] == account and at_ns > requested_ns:
                    fresh.pop(key, None)
                    if key in old:
                        fresh[key] = old[key]
        if fresh != old:
            for key in old:
                del self.positions[key]
            self.positions.update(fresh)
            self.version += 1
        self.snapshot_ns = self.heard_ns = now_ns

    def apply_position(self, position: Position, now_ns: int) -> None:
        """Patch one position from a streamed notification (quantity 0: closed)."""
        key = (position.account, position.symbol)
        self.patched_ns[key] = now_ns
        before = self.positions.get(key)
        if position.quantity == 0:
            self.positions.pop(key, None)
        else:
            self.positions[key] = position
        if self.positions.get(key) != before:
            self.version += 1
        self.heard_ns = now_ns

    def apply_balance(self, balance: Balance, now_ns: int) -> None:
        self.balances[balance.account] = (balance, now_ns)
        self.heard_ns = now_ns

    def heard(self, now_ns: int) -> None:
        """Note a sign of life (a heartbeat reply) that changes nothing."""
        self.heard_ns = now_ns

    def age_s(self, now_ns: int) -> float:
        """Seconds since the last full snapshot (inf before the first)."""
        return float("inf") if not self.snapshot_ns else max(0.0, (now_ns - self.snapshot_ns) / 1e9)

    def stale(self, now_ns: int) -> bool:
        return not self.snapshot_ns or now_ns - self.heard_ns > self.stale_after_ns

    def recognized(self, overlay: Overlay | None = None) -> Recognized:
        """Return the book these positions form (cash: the broker's, when reported)."""
        cash = [b.cash_usd for b, _ in self.balances.values() if b.cash_usd is not None]
        return recognize(list(self.positions.values()), book=self.book, overlay=overlay,
                         cash_usd=sum(cash))

    def broker_account(self) -> BrokerAccount | None:
        """The broker's maintenance requirement and cash for the margin rule (None: unknown)."""
        if not self.balances:
            return None
        rows = [b for b, _ in self.balances.values()]
        req = [b.maintenance_requirement_usd for b in rows]
        cash = [b.cash_usd for b in rows]
        ts_ns = min(ts for _, ts in self.balances.values())
        return BrokerAccount(
            requirement_usd=None if None in req else sum(r or 0.0 for r in req),
            cash_usd=None if None in cash else sum(c or 0.0 for c in cash),
            source=f"{self.source} {'+'.join(sorted(self.balances))}",
            ts_ns=ts_ns,
        )


def merge_books(base: Portfolio, books: Iterable[Book]) -> Portfolio:
    """Return ``base`` with each account book replacing the book of its name (or added)."""
    by_name = {b.name: b for b in books}
    kept = [by_name.pop(b.name, b) for b in base.books]
    return Portfolio(books=[*kept, *by_name.values()])


class AccountStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One account source's health as the ``account_stale`` rule sees it."""

    source: str
    book: str
    stale: bool
    age_s: float
    positions: int


def status(state: AccountState, now_ns: int) -> AccountStatus:
    return AccountStatus(source=state.source, book=state.book, stale=state.stale(now_ns),
                         age_s=state.age_s(now_ns), positions=len(state.positions))
