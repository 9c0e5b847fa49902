"""The engine core (pure): quotes -> market arrays -> pricing -> book state -> rule signals.

The async loop around it lives in ``monitor.pipeline``; this module does no I/O, so tests and the
replay report drive it directly with simulated time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor import book
from monitor.market import MarketState
from monitor.model import Portfolio, QuoteLike
from monitor.pricing.rates import RateCurve
from monitor.pricing.universe import Universe
from monitor.pricing.valuation import Valuation, value
from monitor.rules import registry
from monitor.rules.base import Signal
from monitor.rules.calendar import EventCalendar
from monitor.rules.context import RuleInputs
from monitor.rules.memory import RuleMemory
from monitor.settings import Settings

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Cycle:
    """One evaluation: the instant, the priced market and every book's state and signals."""

    now_ns: int
    valuation: Valuation
    state: book.PortfolioState
    signals: list[Signal]
    rules: registry.Outcome | None = None
    """The rules' shared numbers (break-evens, curve, stress, ...) and key conditions."""


def rate_curve(settings: Settings) -> RateCurve:
    eng = settings.engine
    if eng.rate_curve:
        return RateCurve.from_points([(d, r) for d, r in eng.rate_curve])
    return RateCurve.flat(eng.rate)


class Engine:
    def __init__(
        self, settings: Settings, portfolio: Portfolio, *, events: EventCalendar | None = None
    ) -> None:
        self.settings = settings
        self.events = events or EventCalendar.empty()
        self.memory = RuleMemory(max_bars=settings.rules.momentum.max_bars)
        """What the rules remember between cycles (bars, baselines); owned here, not global."""
        self.market = MarketState()
        self.rates = rate_curve(settings)
        self._universe: Universe | None = None
        self._universe_version = -1
        self._index: book.PortfolioIndex | None = None
        self._index_key: tuple[int, int] = (-1, -1)
        self._portfolio_version = 0
        self.portfolio = portfolio
        self.set_portfolio(portfolio)
        self.last_cycle: Cycle | None = None

    def set_portfolio(self, portfolio: Portfolio) -> None:
        """Swap the portfolio (reload); every leg gets a market row even before it is quoted."""
        self.market.register_all(
            leg.symbol for b in portfolio.books for c in b.condors for leg in c.legs
        )
        self.market.register_all(
            leg.symbol for b in portfolio.books for y in b.layers for leg in y.legs
        )
        self.portfolio = portfolio
        self._portfolio_version += 1

    def ingest(self, quotes: Sequence[QuoteLike]) -> int:
        return self.market.apply(quotes)

    def now_ns(self, wall_ns: int) -> int:
        """The evaluation instant: wall time, or the newest quote time when replaying."""
        if self.settings.engine.time_source == "market" and self.market.latest_ts_ns:
            return self.market.latest_ts_ns
        return wall_ns

    def _universe_now(self) -> Universe:
        if self._universe is None or self._universe_version != self.market.version:
            self._universe = Universe.build(self.market.instruments)
            self._universe_version = self.market.version
        return self._universe

    def _index_now(self) -> book.PortfolioIndex:
        key = (self.market.version, self._portfolio_version)
        if self._index is None or self._index_key != key:
            self._index = book.PortfolioIndex.build(self.portfolio, self.market.index)
            self._index_key = key
        return self._index

    def evaluate(self, now_ns: int) -> Cycle:
        """Price everything at ``now_ns`` and evaluate the rules."""
        eng = self.settings.engine
        bid, ask, last = self.market.view()
        universe = self._universe_now()
        # Last cycle's valuation seeds the solver and lets unchanged quotes skip it; value()
        # ignores one made for another universe.
        last_val = self.last_cycle.valuation if self.last_cycle is not None else None
        val = value(
            universe, bid, ask, last, now_ns, self.rates, eng.dividend_yield, previous=last_val
        )
        n = len(self.market)
        market_stale = now_ns - self.market.latest_ts_ns > eng.stale_after_s * NS
        state = book.compute(
            self._index_now(),
            val,
            bid,
            ask,
            self.market.ts_ns[:n],
            now_ns,
            mark_max_age_ns=round(eng.mark_max_age_s * NS),
            market_stale=market_stale,
        )
        inputs = RuleInputs(now_ns=now_ns, state=state, valuation=val, market=self.market,
                            market_stale=market_stale, engine=eng, events=self.events)
        outcome = registry.run(inputs, self.settings.rules, self.memory)
        cycle = Cycle(now_ns=now_ns, valuation=val, state=state, signals=outcome.signals,
                      rules=outcome)
        self.last_cycle = cycle
        return cycle
