"""The engine core (pure): quotes -> market arrays -> pricing -> book state -> rule signals.

The async loop around it lives in ``monitor.pipeline``; this module does no I/O, so tests and the
replay report drive it directly with simulated time.

``evaluate`` is the full cycle: every book, every rule, the rule memory advancing. When only some
books' leg quotes changed, ``evaluate_books`` re-evaluates those books alone between full cycles:
the same rules on an index of just those books, with a scratch copy of the rule memory that
emits every key not clear or held by the alert machine (which deduplicates), and only what it
sent folded back into the real memory, so the next full cycle's sparse emission compares against
it. Market-wide keys and everything time-driven stay the full cycle's. ``evaluate_stages`` is the
full cycle in stages, so the loop can evaluate a tick's book at its pauses.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from monitor import book
from monitor.market import MarketState, Marks
from monitor.model import Portfolio, QuoteLike
from monitor.positions.accounts import AccountStatus
from monitor.positions.ledger import Ledger, Realization, reconcile, touch_from
from monitor.pricing.rates import RateCurve
from monitor.pricing.universe import Universe
from monitor.pricing.valuation import Valuation, value, value_rows
from monitor.quotes import TS_MAX_NS
from monitor.rules import registry
from monitor.rules.base import Signal
from monitor.rules.calendar import EventCalendar
from monitor.rules.codes import LayoutCache
from monitor.rules.context import Analysis, RuleInputs
from monitor.rules.margin import BrokerAccount
from monitor.rules.memory import RuleMemory
from monitor.settings import Settings
from monitor.stages import Stages, finish

NS = 1_000_000_000
_SUBSETS_KEPT = 64
"""Sub-indexes of book sets kept for partial evaluations (one per distinct set of books)."""


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
    """The quotes the cycle read: a full cycle's copy of them, a partial evaluation's the live
    market (which keeps changing after it). Read-only, for display."""
    backfilled_bars: dict[str, int] | None = None
    """Per timeframe, completed VIX bars taken from published history (``monitor.history``)."""
    books: frozenset[str] | None = None
    """The books a partial evaluation covered (``Engine.evaluate_books``); None: every book."""


@dataclass(frozen=True, slots=True)
class _Subset:
    """What a partial evaluation of one set of books reuses from one to the next."""

    index: book.PortfolioIndex
    """The books alone, flattened like the full index."""
    structs: NDArray[np.int64]
    """Each of its structures' position in the full index."""
    layouts: LayoutCache = field(default_factory=LayoutCache)
    """The rules' key tables for ``index``."""


@dataclass(frozen=True, slots=True)
class PricingJob:
    """A full cycle's pricing, detached from the live market (its own copies of the quotes):
    ``run`` may go on in a worker thread while quotes keep arriving (``monitor.pipeline``)."""

    universe: Universe
    bid: NDArray[np.float64]
    ask: NDArray[np.float64]
    last: NDArray[np.float64]
    now_ns: int
    wall_ns: int | None
    rates: RateCurve
    dividend_yield: float
    previous: Valuation | None
    sides: NDArray[np.int64] | None = None
    """The rows whose bid and ask vols are solved (the books' legs; ``value(sides=...)``)."""

    def run(self) -> Valuation:
        """Value the universe (pure; touches nothing but this job)."""
        return value(
            self.universe, self.bid, self.ask, self.last, self.now_ns, self.rates,
            self.dividend_yield, previous=self.previous, sides=self.sides,
        )  # fmt: skip


def rate_curve(settings: Settings) -> RateCurve:
    eng = settings.engine
    if eng.rate_curve:
        return RateCurve.from_points([(d, r) for d, r in eng.rate_curve])
    return RateCurve.flat(eng.rate)


class Engine:
    def __init__(
        self,
        settings: Settings,
        portfolio: Portfolio,
        *,
        events: EventCalendar | None = None,
        aside: Executor | None = None,
    ) -> None:
        self.settings = settings
        self.aside = aside
        """Runs part of a large full cycle on another thread (``RuleInputs.aside``); the
        caller owns it and shuts it down. None: everything on the calling thread."""
        self.events = events or EventCalendar.empty()
        self.memory = RuleMemory(max_bars=settings.rules.momentum.max_bars)
        """What the rules remember between cycles (bars, baselines); owned here, not global."""
        self.market = MarketState()
        self.rates = rate_curve(settings)
        self._universe: Universe | None = None
        self._universe_version = -1
        self._index: book.PortfolioIndex | None = None
        self._index_key: tuple[int, int] = (-1, -1)
        self._subsets: dict[frozenset[str], _Subset] = {}
        self._book_ids: dict[str, int] = {}
        self._valuation: Valuation | None = None
        self._leg_rows_cache: NDArray[np.int64] = np.zeros(0, np.int64)
        self._leg_rows_of: object = None
        """The latest valuation, full or partial: the next one's seeds."""
        self._overtaking: list[tuple[RuleMemory, frozenset[str]]] | None = None
        """While ``evaluate_stages`` is paused: the partial evaluations run since it priced."""
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

    def reconcile_ledger(
        self, now_ns: int, portfolio: Portfolio | None = None
    ) -> list[Realization]:
        """Realize what the current portfolio closed, at the last cycle's touch; return it.

        Call after ``set_portfolio``: the last cycle still holds the closed legs' quotes.
        ``portfolio``: every book (a partitioned replica evaluates only some of them, and the
        ledger must not take the others for closed); default: the evaluated portfolio.
        """
        cycle = self.last_cycle
        touch = touch_from(cycle.state) if cycle is not None else None
        held = self.portfolio if portfolio is None else portfolio
        self.ledger, new = reconcile(self.ledger, held, now_ns, touch)
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

    def ingest(self, quotes: Sequence[QuoteLike], wall_ns: int = 0) -> NDArray[np.int64]:
        """Apply validated quotes; ``wall_ns``: when they arrived (for silence detection).
        Return the market rows whose bid, ask, last or delayed flag moved."""
        moved = self.market.apply_moved(quotes)
        if quotes and wall_ns:
            self.last_quote_wall_ns = max(self.last_quote_wall_ns, wall_ns)
        return moved

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
            self._subsets.clear()
            self._book_ids = {name: b for b, name in enumerate(self._index.book_names)}
        return self._index

    def portfolio_index(self) -> book.PortfolioIndex:
        """Return the current portfolio's index (rebuilt after a reload or a new instrument)."""
        return self._index_now()

    def _subset(self, names: Collection[str]) -> _Subset:
        index = self._index_now()
        ids = sorted({self._book_ids[n] for n in names if n in self._book_ids})
        key = frozenset(index.book_names[b] for b in ids)
        hit = self._subsets.get(key)
        if hit is None:
            books = [self.portfolio.books[b] for b in ids]
            sub = book.PortfolioIndex.build(Portfolio(books=books), self.market.index)
            # both indexes list a book's structures together, books in portfolio order
            structs = np.flatnonzero(np.isin(index.struct_book, ids)).astype(np.int64)
            if len(self._subsets) >= _SUBSETS_KEPT:
                del self._subsets[next(iter(self._subsets))]
            hit = self._subsets[key] = _Subset(sub, structs)
        return hit

    def _backfilled(self) -> dict[str, int]:
        mem = self.memory
        return {
            tf: len(mem.backfilled[tf].intersection(b.bucket[:-1])) if mem.backfilled.get(tf) else 0
            for tf, b in mem.bars.items()
        }

    def _price(self, now_ns: int, at_ns: int) -> tuple[Valuation, Marks]:
        """Value the universe at ``at_ns`` from the quotes held; marks as of ``now_ns``."""
        eng = self.settings.engine
        bid, ask, _last = self.market.view()
        marks = self.market.marks(now_ns, round(eng.last_trade_max_age_s * NS))
        # The last valuation seeds the solver and lets unchanged quotes skip it; value()
        # ignores one made for another universe. The marks stand in for "last": without a
        # two-sided quote an index or future is priced (and forwards taken) at its mark.
        val = value(
            self._universe_now(),
            bid,
            ask,
            marks.price,
            at_ns,
            self.rates,
            eng.dividend_yield,
            previous=self._valuation,
            sides=self._leg_rows(),
        )
        self._valuation = val
        return val, marks

    def _price_rows(self, rows: NDArray[np.int64], now_ns: int) -> tuple[Valuation, Marks]:
        """Revalue ``rows`` (a partial evaluation's legs) alone on the last valuation, at its
        instant; marks as of ``now_ns``."""
        prev = self._valuation
        if prev is None or prev.universe is not self._universe_now():
            return self._price(now_ns, now_ns if prev is None else prev.now_ns)
        eng = self.settings.engine
        bid, ask, _last = self.market.view()
        # the legs' marks and the futures' and indices' (forwards): a partial reads no other
        marked = np.union1d(rows, prev.universe.linear_pos)
        marks = self.market.marks(now_ns, round(eng.last_trade_max_age_s * NS), rows=marked)
        val = value_rows(prev, rows, bid, ask, marks.price)
        self._valuation = val
        return val, marks

    def _inputs(
        self,
        index: book.PortfolioIndex,
        val: Valuation,
        marks: Marks,
        now_ns: int,
        wall_ns: int | None,
        market_wide: Analysis | None = None,
        market: MarketState | None = None,
    ) -> RuleInputs:
        """The rules' inputs; ``market``: the quotes they read (default: the live market)."""
        eng = self.settings.engine
        market = self.market if market is None else market
        bid, ask, _last = market.view()
        n = len(market)
        market_stale = self.stale(now_ns, wall_ns)
        silence_s = self.silence_ns(now_ns, wall_ns) / NS if self.market.latest_ts_ns else math.nan
        state = book.compute(
            index,
            val,
            bid,
            ask,
            market.ts_ns[:n],
            now_ns,
            mark_max_age_ns=round(eng.mark_max_age_s * NS),
            market_stale=market_stale,
            marks=marks,
        )
        return RuleInputs(
            now_ns=now_ns,
            state=state,
            valuation=val,
            market=market,
            market_stale=market_stale,
            silence_s=silence_s,
            engine=eng,
            events=self.events,
            marks=marks,
            ledger=self.ledger,
            accounts=self.accounts,
            account_status=self.account_status,
            market_wide=market_wide,
            aside=self.aside,
        )

    def pricing_job(self, now_ns: int, wall_ns: int | None = None) -> PricingJob:
        """Return the pricing of a full cycle at ``now_ns``, for ``evaluate(priced=...)``."""
        eng = self.settings.engine
        bid, ask, _last = self.market.view()
        marks = self.market.marks(now_ns, round(eng.last_trade_max_age_s * NS))
        return PricingJob(
            universe=self._universe_now(), bid=bid.copy(), ask=ask.copy(), last=marks.price,
            now_ns=now_ns, wall_ns=wall_ns, rates=self.rates, dividend_yield=eng.dividend_yield,
            previous=self._valuation, sides=self._leg_rows(),
        )  # fmt: skip

    def _leg_rows(self) -> NDArray[np.int64]:
        """The market rows the books hold (their bid and ask vols are the only ones read)."""
        index = self._index_now()
        if self._leg_rows_of is not index:
            self._leg_rows_cache, self._leg_rows_of = np.unique(index.leg_row), index
        return self._leg_rows_cache

    def _caught_up(self, priced: Valuation, now_ns: int) -> tuple[Valuation, Marks]:
        """Return ``priced`` (a ``PricingJob``'s) with the legs whose quotes changed while it
        ran revalued, so the rules see every leg as a partial evaluation in between did."""
        if priced.universe is not self._universe_now():
            return self._price(now_ns, now_ns)  # an instrument appeared meanwhile
        eng = self.settings.engine
        bid, ask, _last = self.market.view()
        marks = self.market.marks(now_ns, round(eng.last_trade_max_age_s * NS))
        rows = self._leg_rows()
        now, then = np.stack([bid[rows], ask[rows]]), np.stack([priced.bid[rows], priced.ask[rows]])
        moved = ~((now == then) | (np.isnan(now) & np.isnan(then))).all(axis=0)
        val = value_rows(priced, rows[moved], bid, ask, marks.price) if moved.any() else priced
        self._valuation = val
        return val, marks

    def evaluate(
        self, now_ns: int, wall_ns: int | None = None, *, priced: Valuation | None = None
    ) -> Cycle:
        """Price everything at ``now_ns`` and evaluate the rules (``wall_ns``: see ``stale``).

        ``priced``: the result of ``pricing_job(now_ns).run()``, done meanwhile (only the legs
        whose quotes changed since are priced again).
        """
        return finish(self.evaluate_stages(now_ns, wall_ns, priced=priced))

    def evaluate_stages(
        self, now_ns: int, wall_ns: int | None = None, *, priced: Valuation | None = None
    ) -> Stages[Cycle]:
        """``evaluate`` in stages (``monitor.stages``): it pauses after the pricing, after
        the books' state, and within the analyses and the rules (``registry.run_stages``).

        At a pause the caller may apply quotes and evaluate books a tick changed
        (``evaluate_books``): those evaluations are newer than this cycle's, so it drops its
        own signals for their books and keeps in the rule memory what they sent. The rules
        read a copy of the market taken with the books' state: quotes applied at their pauses
        wait for the next cycle. If an instrument appeared at the first pause, the cycle
        prices again and goes on (its arrays must all have the market's size)."""
        version = self.market.version
        if priced is None:
            val, marks = self._price(now_ns, now_ns)
        else:
            val, marks = self._caught_up(priced, now_ns)
        overtaken: list[tuple[RuleMemory, frozenset[str]]] = []
        self._overtaking = overtaken
        try:
            yield None  # priced
            if self.market.version != version:  # an instrument appeared at the pause
                val, marks = self._price(now_ns, now_ns)
                overtaken.clear()  # priced from every quote now: newer than what overtook it
            inputs = self._inputs(
                self._index_now(), val, marks, now_ns, wall_ns, market=self.market.snapshot()
            )
            yield None  # the books' state
            outcome = yield from registry.run_stages(inputs, self.settings.rules, self.memory)
        finally:
            if self._overtaking is overtaken:  # not a later cycle's (this one may end late)
                self._overtaking = None
        if overtaken:
            books = frozenset().union(*(names for _, names in overtaken))
            for scratch, names in overtaken:  # what was sent for them, as the partials sent it
                self.memory.fold_emitted(scratch, names)
            outcome = replace(
                outcome,
                signals=[sig for sig in outcome.signals if sig.book not in books],
                states=registry.states_of(self.memory),
            )
        cycle = Cycle(
            now_ns=now_ns,
            valuation=val,
            state=inputs.state,
            signals=outcome.signals,
            rules=outcome,
            market=inputs.market,
            backfilled_bars=self._backfilled(),
        )
        self.last_cycle = cycle
        return cycle

    def can_evaluate_books(self) -> bool:
        """Whether a partial evaluation may stand in for a full one now: a full cycle has run
        on the current index, and the next one need not emit every key (as after a start)."""
        return (
            self.last_cycle is not None
            and self._valuation is not None
            and not self.memory.full
            and self.memory.index is self._index_now()
        )

    def evaluate_books(
        self, books: Collection[str], now_ns: int, wall_ns: int | None = None
    ) -> Cycle:
        """Evaluate ``books`` alone (their legs' quotes changed) between full cycles.

        Requires ``can_evaluate_books()``. The cycle's signals are every key of those books
        that is not clear or that the alert machine holds (``RuleMemory.held``), in their
        condition now: the machine deduplicates. Market-wide keys are the full
        cycle's; ``last_cycle`` and the rule memory stay the last full cycle's, but for what was
        sent. Only those books' legs are priced again (``value_rows``: their current quotes
        and their chains' forwards, at the last valuation's instant: time decay waits for the
        cadence), and the market-wide analyses (curve, momentum, next events, roll candidates)
        are the last full cycle's.
        """
        if not self.can_evaluate_books() or self._valuation is None:
            raise RuntimeError("a partial evaluation needs a full one on the current index first")
        sub = self._subset(books)
        val, marks = self._price_rows(sub.index.leg_row, now_ns)
        last = self.last_cycle
        shared = None if last is None or last.rules is None else last.rules.analysis
        inputs = self._inputs(sub.index, val, marks, now_ns, wall_ns, shared)
        scratch = self.memory.scratch(sub.index, sub.structs, sub.layouts)
        outcome = registry.run(inputs, self.settings.rules, scratch)
        names = frozenset(sub.index.book_names)
        self.memory.fold_emitted(scratch, names)
        if self._overtaking is not None:  # a full cycle is paused: it must not undo this one
            self._overtaking.append((scratch, names))
        return Cycle(
            now_ns=now_ns,
            valuation=val,
            state=inputs.state,
            signals=[sig for sig in outcome.signals if sig.book in names],
            rules=replace(outcome, full=False),  # never retire on a partial cycle
            market=self.market,
            books=names,
        )
