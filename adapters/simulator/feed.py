"""Run the synthetic market live: one batch of quotes per tick for every subscribed instrument."""

from __future__ import annotations

import asyncio
import datetime as dt

import structlog

from adapters.base import FeedStats, QuoteSink, SubscriptionSource
from adapters.simulator.config import SimulatorFeedConfig, start_ns
from adapters.simulator.market import SimMarket, default_universe
from monitor import symbols
from monitor.clock import Clock
from monitor.pricing.calendar import vix_monthly_expiry

log = structlog.get_logger(__name__)


def _vx_expiries(today: dt.date, count: int = 8) -> list[dt.date]:
    out: list[dt.date] = []
    year, month = today.year, today.month
    while len(out) < count:
        exp = vix_monthly_expiry(year, month)
        if exp > today:
            out.append(exp)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


class SimulatorFeed:
    def __init__(self, cfg: SimulatorFeedConfig, clock: Clock) -> None:
        self._cfg = cfg
        self._clock = clock
        self._stats = FeedStats()
        self._last_ns = 0
        """Where a restarted run resumes a fixed ``start`` from: time never runs backwards."""

    @property
    def name(self) -> str:
        return self._cfg.name

    @property
    def stats(self) -> FeedStats:
        return self._stats

    def _instruments(self, market: SimMarket, wanted: frozenset[str]) -> list[symbols.Instrument]:
        today = dt.datetime.fromtimestamp(market.now_ns / 1e9, dt.UTC).date()
        spx_exp = {symbols.parse(s).expiry for s in wanted if s.startswith("SPX")}
        grid = default_universe(market.spx, _vx_expiries(today), sorted(e for e in spx_exp if e))
        return [symbols.parse(s) for s in sorted(set(grid) | wanted)]

    async def run(self, sink: QuoteSink, subscriptions: SubscriptionSource) -> None:
        cfg = self._cfg
        start = max(start_ns(cfg, self._clock.now_ns()), self._last_ns)
        spike = start + round(cfg.spike_after_s * 1e9) if cfg.spike_after_s >= 0 else None
        market = SimMarket(cfg.seed, start, spike)
        version = subscriptions.version
        instruments = self._instruments(market, subscriptions.current())
        self._stats.connected = True
        tick_s = cfg.tick_interval_ms / 1000
        try:
            while True:
                market.step(tick_s * cfg.speed)
                self._last_ns = market.now_ns
                if subscriptions.version != version:
                    version = subscriptions.version
                    instruments = self._instruments(market, subscriptions.current())
                quotes = market.quotes(instruments)
                await sink.publish(self.name, quotes)
                self._stats.messages += 1
                self._stats.quotes += len(quotes)
                self._stats.last_quote_ts_ns = market.now_ns
                await asyncio.sleep(tick_s)  # pacing the synthetic market, not synchronization
        finally:
            self._stats.connected = False
