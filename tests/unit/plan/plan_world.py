"""A trader's book on the simulator: a 45-DTE ~16-delta SPXW iron condor hedged with VIX call
layers of 4/4/2 contracts at ~22/113/204 DTE, entered at the open's mids."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from adapters.simulator.market import SimMarket, default_universe
from monitor import symbols
from monitor.engine import Cycle, Engine
from monitor.model import Portfolio
from monitor.plan.build import Plan
from monitor.pricing.calendar import vix_monthly_expiry
from monitor.settings import Settings

NY = ZoneInfo("America/New_York")
S = 1_000_000_000
OPEN_NS = int(dt.datetime(2026, 11, 24, 9, 30, tzinfo=NY).timestamp()) * S
VX_EXPIRIES = [
    vix_monthly_expiry(y, m) for y, m in [(2026, 12), (2027, 1), (2027, 2), (2027, 3), (2027, 6)]
]
CONDOR_EXPIRY = dt.date(2027, 1, 8)  # 45 days after 2026-11-24
CONDOR = [("P05625000", 2), ("P05675000", -2), ("C06275000", -2), ("C06325000", 2)]
LAYERS = [
    ("L1-DEC", "VIX261216C00020000", 4),
    ("L2-MAR", "VIX270317C00025000", 4),
    ("L3-JUN", "VIX270616C00030000", 2),
]


def settings(**rules: Any) -> Settings:
    return msgspec.convert({"portfolio": "p.toml", "rules": rules}, Settings)


class Desk:
    """The simulated market, the trader's book entered at the open, and the engine."""

    def __init__(self, cfg: Settings | None = None, layers: list[tuple[str, str, int]] = LAYERS):
        self.market = SimMarket(seed=1, start_ns=OPEN_NS, spike_at_ns=None)
        syms = set(default_universe(6000.0, VX_EXPIRIES, [CONDOR_EXPIRY]))
        syms |= {s for _, s, _ in layers}  # a VIXW weekly layer is quoted too
        self.instruments = [symbols.parse(s) for s in sorted(syms)]
        quotes = {q.sym: q for q in self.market.quotes(self.instruments)}

        def mid(sym: str) -> float:
            q = quotes[sym]
            assert q.bid is not None and q.ask is not None
            return round((q.bid + q.ask) / 2, 2)

        root = f"SPXW{CONDOR_EXPIRY:%y%m%d}"
        condor = [
            {"symbol": root + k, "quantity": q, "entry_price": mid(root + k)} for k, q in CONDOR
        ]
        book = {
            "name": "main",
            "cash_usd": 60_000.0,
            "condors": [{"name": "IC-JAN", "legs": condor}],
            "layers": [
                {"name": n, "legs": [{"symbol": s, "quantity": q, "entry_price": mid(s)}]}
                for n, s, q in layers
            ],
        }
        self.portfolio = msgspec.convert({"books": [book]}, Portfolio)
        self.engine = Engine(cfg or settings(), self.portfolio)

    @property
    def now_ns(self) -> int:
        return self.market.now_ns

    def tick(
        self, seconds: float = 5.0, *, vol: float | None = None, spx: float | None = None
    ) -> Cycle:
        self.market.now_ns += round(seconds * S)
        if vol is not None:
            self.market.vol = vol
        if spx is not None:
            self.market.spx = spx
        self.engine.ingest(self.market.quotes(self.instruments))
        return self.engine.evaluate(self.market.now_ns)

    def plan(self, cycle: Cycle, book: str = "main") -> Plan:
        assert cycle.rules is not None and cycle.rules.analysis.plans is not None
        plan = cycle.rules.analysis.plans.get(book)
        assert plan is not None
        return plan

    def set_baseline(self, value_usd: float) -> None:
        self.engine.memory.vega.set("main", value_usd, "command", self.now_ns)


def doc(plan: Plan, *keys: str) -> dict[str, Any]:
    return {k: plan.doc[k] for k in keys}
