"""The engine core (pure): quotes -> market arrays -> pricing -> book state -> rule signals.

The async loop around it lives in ``monitor.pipeline``; this module does no I/O, so tests and the
replay report drive it directly with simulated time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from monitor import book
from monitor.market import MarketState
from monitor.model import Portfolio, QuoteLike
from monitor.positions.accounts import AccountStatus
from monitor.positions.ledger import Ledger, Realization, reconcile, touch_from
from monitor.pricing.rates import RateCurve
from monitor.pricing.universe import Universe
from monitor.pricing.valuation import Valuation, value
from monitor.quotes import TS_MAX_NS
from monitor.rules import registry
from monitor.rules.base import Signal
from monitor.rules.calendar import EventCalendar
from monitor.rules.context import RuleInputs
from monitor.rules.margin import BrokerAccount
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
    market: MarketState | None = None
    """The engine's live market (it keeps changing after the cycle: read-only, for display)."""
    backfilled_bars: dict[str, int] | None = None
    """Per timeframe, completed VIX bars taken from published history (``monitor.history``)."""


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
        self.ledger = Ledger()
        """Realized P&L (``monitor.positions``): the app reconciles it on start and reload."""
        self.accounts: dict[str, BrokerAccount] = {}
        """Broker-reported requirement and cash per book (they win in the stress numbers)."""
        self.account_status: tuple[AccountStatus, ...] = ()
        """Health of each account source, set by the app (the ``account_stale`` rule)."""
        self.last_quote_wall_ns = 0
        """Wall time the last quote was applied: silence is measured on it (see ``stale``)."""

    def reconcile_ledger(self, now_ns: int) -> list[Realization]:
        """Realize what the current portfolio closed, at the last cycle's touch; return it.

        Call after ``set_portfolio``: the last cycle still holds the closed legs' quotes.
        """
        cycle = self.last_cycle
        touch = touch_from(cycle.state) if cycle is not None else None
        self.ledger, new = reconcile(self.ledger, self.portfolio, now_ns, touch)
        return new

    def set_portfolio(self, portfolio: Portfolio) -> None:
        """Swap the portfolio (reload); every leg gets a market row even before it is quoted."""
        self.market.register_all(
            leg.symbol for b in portfolio.books for c in b.condors for leg in c.legs
        )
        self.market.register_all(
            leg.symbol for b in portfolio.books for y in b.layers for leg in y.legs
        )
        self.market.register_all(
            leg.symbol for b in portfolio.books for o in b.others for leg in o.legs
        )
        self.portfolio = portfolio
        self._portfolio_version += 1

    def ingest(self, quotes: Sequence[QuoteLike], wall_ns: int = 0) -> int:
        """Apply validated quotes; ``wall_ns``: when they arrived (for silence detection)."""
        changed = self.market.apply(quotes)
        if quotes and wall_ns:
            self.last_quote_wall_ns = max(self.last_quote_wall_ns, wall_ns)
        return changed

    def ts_ceiling_ns(self, wall_ns: int) -> int:
        """The latest quote time accepted now: the clock plus ``max_future_skew_s``.

        With ``time_source = "market"`` the clock is the session's own: the newest accepted
        quote time, plus ``max_market_jump_s`` (a replay's recorded times are far behind the
        wall clock, so the wall clock bounds only its first quote).
        """
        eng = self.settings.engine
        if eng.time_source == "market" and self.market.latest_ts_ns:
            return min(TS_MAX_NS, self.market.latest_ts_ns + round(eng.max_market_jump_s * NS))
        return min(TS_MAX_NS, wall_ns + round(eng.max_future_skew_s * NS))

    def stale(self, now_ns: int, wall_ns: int | None) -> bool:
        """Whether the whole market is stale: no quote for ``stale_after_s``.

        On market time the newest quote *is* the clock, so silence is measured on the wall
        clock: since the last quote arrived (when ``wall_ns`` is known, i.e. live).
        """
        return self.silence_ns(now_ns, wall_ns) > self.settings.engine.stale_after_s * NS

    def silence_ns(self, now_ns: int, wall_ns: int | None) -> int:
        """How long the feed has been silent, on the clock ``stale`` judges it on.

        On market time with a known wall clock: wall time since the last quote arrived;
        otherwise ``now_ns`` minus the newest quote's event time.
        """
        if self.settings.engine.time_source == "market" and wall_ns is not None:
            if self.last_quote_wall_ns:
                return wall_ns - self.last_quote_wall_ns
        return now_ns - self.market.latest_ts_ns

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

    def _backfilled(self) -> dict[str, int]:
        mem = self.memory
        return {
            tf: len(mem.backfilled[tf].intersection(b.bucket[:-1])) if mem.backfilled.get(tf)
            else 0
            for tf, b in mem.bars.items()
        }

    def evaluate(self, now_ns: int, wall_ns: int | None = None) -> Cycle:
        """Price everything at ``now_ns`` and evaluate the rules (``wall_ns``: see ``stale``)."""
        eng = self.settings.engine
        bid, ask, _last = self.market.view()
        marks = self.market.marks(now_ns, round(eng.last_trade_max_age_s * NS))
        universe = self._universe_now()
        # Last cycle's valuation seeds the solver and lets unchanged quotes skip it; value()
        # ignores one made for another universe. The marks stand in for "last": without a
        # two-sided quote an index or future is priced (and forwards taken) at its mark.
        last_val = self.last_cycle.valuation if self.last_cycle is not None else None
        val = value(
            universe, bid, ask, marks.price, now_ns, self.rates, eng.dividend_yield,
            previous=last_val,
        )
        n = len(self.market)
        market_stale = self.stale(now_ns, wall_ns)
        silence_s = self.silence_ns(now_ns, wall_ns) / NS if self.market.latest_ts_ns else math.nan
        state = book.compute(
            self._index_now(),
            val,
            bid,
            ask,
            self.market.ts_ns[:n],
            now_ns,
            mark_max_age_ns=round(eng.mark_max_age_s * NS),
            market_stale=market_stale,
            marks=marks,
        )
        inputs = RuleInputs(now_ns=now_ns, state=state, valuation=val, market=self.market,
                            market_stale=market_stale, silence_s=silence_s, engine=eng,
                            events=self.events, marks=marks, ledger=self.ledger,
                            accounts=self.accounts, account_status=self.account_status)
        outcome = registry.run(inputs, self.settings.rules, self.memory)
        cycle = Cycle(now_ns=now_ns, valuation=val, state=state, signals=outcome.signals,
                      rules=outcome, market=self.market, backfilled_bars=self._backfilled())
        self.last_cycle = cycle
        return cycle
