"""A small deterministic market and book for rule tests: quotes from the simulator's pricer."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from adapters.simulator.market import SimMarket, default_universe
from monitor import symbols
from monitor.engine import Cycle, Engine
from monitor.model import Portfolio, Quote
from monitor.rules.calendar import EventCalendar
from monitor.settings import Settings

NY = ZoneInfo("America/New_York")
S = 1_000_000_000
OPEN_NS = int(dt.datetime(2026, 11, 24, 9, 30, tzinfo=NY).timestamp()) * S
VX_EXPIRIES = [dt.date(2026, 12, 16), dt.date(2027, 1, 20), dt.date(2027, 2, 17)]
CONDOR = [
    ("SPXW270115P05500000", 2, 19.80),
    ("SPXW270115P05600000", -2, 27.40),
    ("SPXW270115C06250000", -2, 17.60),
    ("SPXW270115C06350000", 2, 7.40),
]


def portfolio(layer_qty: int = 4, layer_entry: float = 0.85, cash: float = 60_000.0) -> Portfolio:
    legs = [{"symbol": s, "quantity": q, "entry_price": p} for s, q, p in CONDOR]
    layer = [{"symbol": "VIX261216C00020000", "quantity": layer_qty, "entry_price": layer_entry}]
    return msgspec.convert(
        {
            "books": [
                {
                    "name": "main",
                    "cash_usd": cash,
                    "condors": [{"name": "IC", "legs": legs}],
                    "layers": [{"name": "L1", "legs": layer}],
                }
            ]
        },
        Portfolio,
    )


def settings(**rules: Any) -> Settings:
    return msgspec.convert({"portfolio": "p.toml", "rules": rules}, Settings)


class World:
    """A simulated market quoting the demo universe; ``engine`` evaluates it."""

    def __init__(
        self,
        cfg: Settings | None = None,
        book: Portfolio | None = None,
        events: EventCalendar | None = None,
    ) -> None:
        self.market = SimMarket(seed=1, start_ns=OPEN_NS, spike_at_ns=None)
        self.engine = Engine(cfg or settings(), book or portfolio(), events=events)
        exp = [dt.date(2027, 1, 15)]
        syms = set(default_universe(6000.0, VX_EXPIRIES, exp)) | {s for s, _, _ in CONDOR}
        syms.add("VIX261216C00020000")
        self.instruments = [symbols.parse(s) for s in sorted(syms)]

    @property
    def now_ns(self) -> int:
        return self.market.now_ns

    def quote(self) -> list[Quote]:
        return self.market.quotes(self.instruments)

    def tick(
        self, seconds: float = 5.0, *, vol: float | None = None, spx: float | None = None
    ) -> Cycle:
        """Advance time (deterministically, no randomness), requote everything and evaluate."""
        self.market.now_ns += round(seconds * S)
        if vol is not None:
            self.market.vol = vol
        if spx is not None:
            self.market.spx = spx
        self.engine.ingest(self.quote())
        return self.engine.evaluate(self.market.now_ns)

    def silent(self, seconds: float) -> Cycle:
        """Let time pass without any quote."""
        self.market.now_ns += round(seconds * S)
        return self.engine.evaluate(self.market.now_ns)


def signal(cycle: Cycle, key: str) -> Any:
    return next((s for s in cycle.signals if s.key == key), None)


def condition(cycle: Cycle, key: str) -> str:
    """Return a key's condition this cycle; a key not sent is clear (sparse emission)."""
    s = signal(cycle, key)
    return "clear" if s is None else str(s.condition)
