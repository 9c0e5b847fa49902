"""What the feeds carry, derived from the portfolio, a small market view and the rules.

``required_symbols`` is pure: it returns the canonical symbols of

- every leg of every condor and hedge layer;
- the indices (SPX, VIX, VIX3M, VIX9D);
- the VX futures curve: the front ``vx_months`` monthlies;
- the ATM region of each condor expiry's chain: ``atm_strikes_each_side`` strikes below and above
  spot, calls and puts, so the engine can imply the forward (put-call parity) and the expected
  move (ATM straddle);
- roll candidates: VIX calls ``roll_dte_min``..``roll_dte_max`` days out, struck
  ``roll_otm_min``..``roll_otm_max`` above the VX future of the same expiry.

Listed strikes are used when the market view knows them; otherwise a strike grid stands in.
The feeds that see listings (the Cboe options files, Tradier's chain endpoints) report them into
one ``ListedStrikes`` the app reads into ``MarketView.chain_strikes``, so the window holds
strikes that exist. ``Subscriptions`` holds the current set for the adapters
(``SubscriptionSource``); the app calls ``replace`` when the portfolio reloads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import msgspec

from monitor import symbols
from monitor.model import Portfolio
from monitor.pricing.calendar import vix_monthly_expiry

NEW_YORK = ZoneInfo("America/New_York")


class SubscriptionRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    indices: list[str] = msgspec.field(default_factory=lambda: ["SPX", "VIX", "VIX3M", "VIX9D"])
    vx_months: int = 8
    atm_strikes_each_side: int = 10
    spx_strike_step: float = 5.0
    """Strike grid when a condor expiry's listed strikes are unknown."""
    roll_root: str = "VIX"
    roll_dte_min: int = 45
    roll_dte_max: int = 90
    roll_otm_min: float = 0.05
    roll_otm_max: float = 0.15
    vix_strike_step: float = 1.0


@dataclass(frozen=True, slots=True)
class MarketView:
    """What the subscription logic may know about the market (all optional)."""

    spx_spot: float | None = None
    vx_futures: Mapping[dt.date, float] = field(default_factory=dict)
    """VX future price by final settlement date."""
    chain_strikes: Mapping[tuple[str, dt.date], Sequence[float]] = field(default_factory=dict)
    """Listed strikes by (option root, expiry), e.g. from the Tradier chain or the Cboe file."""


def required_symbols(
    portfolio: Portfolio,
    market: MarketView,
    now_ns: int,
    rules: SubscriptionRules | None = None,
) -> frozenset[str]:
    """Return the canonical symbols the feeds should carry now."""
    rules = rules or SubscriptionRules()
    today = ny_date(now_ns)
    out: set[str] = set(rules.indices)
    out.update(leg_symbols(portfolio))
    out.update(symbols.future_symbol(e) for e in vx_curve(market, today, rules.vx_months))
    out.update(atm_region(portfolio, market, today, rules))
    out.update(roll_candidates(market, today, rules))
    return frozenset(out)


def ny_date(now_ns: int) -> dt.date:
    """Return the New York calendar date at ``now_ns``."""
    return dt.datetime.fromtimestamp(now_ns / 1e9, NEW_YORK).date()


def leg_symbols(portfolio: Portfolio) -> set[str]:
    out: set[str] = set()
    for book in portfolio.books:
        for condor in book.condors:
            out.update(leg.symbol for leg in condor.legs)
        for layer in book.layers:
            out.update(leg.symbol for leg in layer.legs)
        for other in book.others:
            out.update(leg.symbol for leg in other.legs)
    return out


def vx_curve(market: MarketView, today: dt.date, months: int) -> list[dt.date]:
    """Return the front ``months`` monthly VX expiries (from the market view, else the rule)."""
    known = sorted(e for e in market.vx_futures if e >= today)
    if len(known) >= months:
        return known[:months]
    return vx_monthly_expiries(today, months)


def atm_region(
    portfolio: Portfolio,
    market: MarketView,
    today: dt.date,
    rules: SubscriptionRules,
) -> set[str]:
    """Return calls and puts around spot for every condor expiry that has not passed."""
    out: set[str] = set()
    for root, expiry, strikes in _condor_expiries(portfolio):
        if expiry < today:
            continue
        spot = market.spx_spot
        if spot is None:
            # Before the first SPX quote the condor's own strikes centre the window.
            spot = (min(strikes) + max(strikes)) / 2
        listed = market.chain_strikes.get((root, expiry))
        window = nearest_strikes(spot, listed, rules.atm_strikes_each_side, rules.spx_strike_step)
        for k in window:
            out.add(symbols.option_symbol(root, expiry, 1, k))
            out.add(symbols.option_symbol(root, expiry, -1, k))
    return out


def _condor_expiries(portfolio: Portfolio) -> list[tuple[str, dt.date, list[float]]]:
    groups: dict[tuple[str, dt.date], list[float]] = {}
    for book in portfolio.books:
        for condor in book.condors:
            for leg in condor.legs:
                inst = symbols.parse(leg.symbol)
                if inst.expiry is not None:
                    groups.setdefault((inst.root, inst.expiry), []).append(inst.strike)
    return [(root, expiry, ks) for (root, expiry), ks in sorted(groups.items())]


def nearest_strikes(
    spot: float,
    listed: Sequence[float] | None,
    each_side: int,
    step: float,
) -> list[float]:
    """Return ``each_side`` strikes at or below ``spot`` and ``each_side`` above it."""
    if listed:
        ordered = sorted(listed)
        below = [k for k in ordered if k <= spot][-each_side:]
        above = [k for k in ordered if k > spot][:each_side]
        return below + above
    base = math.floor(spot / step) * step
    return [base + i * step for i in range(-each_side + 1, each_side + 1)]


def roll_candidates(market: MarketView, today: dt.date, rules: SubscriptionRules) -> set[str]:
    """Return VIX calls in the roll window, struck 5-15% (by default) above their future."""
    out: set[str] = set()
    for expiry, future in sorted(market.vx_futures.items()):
        if not rules.roll_dte_min <= (expiry - today).days <= rules.roll_dte_max:
            continue
        low, high = future * (1 + rules.roll_otm_min), future * (1 + rules.roll_otm_max)
        listed = market.chain_strikes.get((rules.roll_root, expiry))
        for k in strikes_between(low, high, listed, rules.vix_strike_step):
            out.add(symbols.option_symbol(rules.roll_root, expiry, 1, k))
    return out


def strikes_between(
    low: float,
    high: float,
    listed: Sequence[float] | None,
    step: float,
) -> list[float]:
    """Return the listed (else grid) strikes in [low, high]."""
    if listed:
        return sorted(k for k in listed if low <= k <= high)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [i * step for i in range(first, last + 1)]


def vx_monthly_expiries(today: dt.date, count: int) -> list[dt.date]:
    """Return the next ``count`` VX monthly final settlement dates on or after ``today``."""
    out: list[dt.date] = []
    year, month = today.year, today.month
    while len(out) < count:
        settle = vix_monthly_expiry(year, month)
        if settle >= today:
            out.append(settle)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


class ListedStrikes:
    """Listed strikes per (option root, expiry), as the feeds last reported them.

    Each report replaces the strikes of the (root, expiry) pairs it names and leaves the others;
    expiries before ``today`` are dropped when reading.
    """

    def __init__(self) -> None:
        self._strikes: dict[tuple[str, dt.date], tuple[float, ...]] = {}
        self.version = 0

    def update(self, listed: Mapping[tuple[str, dt.date], Sequence[float]]) -> bool:
        """Merge a feed's report; return whether anything changed."""
        changed = False
        for key, strikes in listed.items():
            new = tuple(sorted(set(strikes)))
            if new and self._strikes.get(key) != new:
                self._strikes[key] = new
                changed = True
        if changed:
            self.version += 1
        return changed

    def current(self, today: dt.date | None = None) -> dict[tuple[str, dt.date], Sequence[float]]:
        """Return the known listings (those expiring on or after ``today``)."""
        return {
            key: strikes for key, strikes in self._strikes.items()
            if today is None or key[1] >= today
        }


def option_chains(wanted: Iterable[str]) -> dict[str, set[dt.date]]:
    """Return the expiries of the wanted options per underlying (``SPX``, ``VIX``)."""
    out: dict[str, set[dt.date]] = {}
    for sym in wanted:
        try:
            inst = symbols.parse(sym)
        except symbols.SymbolError:
            continue
        if inst.kind is symbols.Kind.OPTION and inst.expiry is not None:
            out.setdefault(inst.underlying, set()).add(inst.expiry)
    return out


class Subscriptions:
    """The current symbol set; adapters wait on ``wait_changed`` to follow it."""

    def __init__(self, initial: Iterable[str] = ()) -> None:
        self._symbols = frozenset(initial)
        self._version = 0
        self._changed = asyncio.Event()

    @property
    def version(self) -> int:
        return self._version

    def current(self) -> frozenset[str]:
        return self._symbols

    def replace(self, new: Iterable[str]) -> bool:
        """Set the symbol set; wake the adapters if it changed. Return whether it changed."""
        symbols_ = frozenset(new)
        if symbols_ == self._symbols:
            return False
        self._symbols = symbols_
        self._version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return True

    async def wait_changed(self, version: int) -> int:
        while self._version == version:
            await self._changed.wait()
        return self._version
