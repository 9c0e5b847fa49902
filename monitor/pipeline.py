"""The engine's loop around the pure core: consume quotes, and evaluate.

consume: XREADGROUP a batch -> apply it entry by entry to the market arrays -> count/dead-letter
rejects -> XACK (with the next read).
evaluate: every ``cadence_ms``, a full cycle: price everything, run the rules, step the alert
state machine, append events to the outbox and persist the changed alert states. Between cadence
ticks, an entry that changed the legs of a few books (``_MAX_PARTIAL_BOOKS``) has those books
evaluated at once, alone (a partial evaluation, ``Engine.evaluate_books``); an entry that changed
more (a market-wide move) leaves them to a full cycle, started at once unless full cycles would
then hold more than a quarter of the loop (``_FULL_SPACING``). A tick never waits for a whole
full cycle: its pricing runs in a worker thread (``_full_cycle``) and the rest in stages
(``Engine.evaluate_stages``), and at every pause the loop reads and evaluates a tick's book.
"""

from __future__ import annotations

import asyncio
import math
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import cast

import msgspec
import numpy as np
import structlog
from numpy.typing import NDArray
from redis.exceptions import RedisError

from monitor import allocator
from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine, Decided
from monitor.book import PortfolioIndex
from monitor.bus import Batch, QuoteConsumer
from monitor.clock import Clock
from monitor.engine import Cycle, Engine, PricingJob
from monitor.market import MarketState
from monitor.metrics import PipelineMetrics
from monitor.model import AlertEvent
from monitor.pricing.valuation import Valuation
from monitor.quotes import EXTERNAL_FEED, Reject
from monitor.rules.base import Signal
from monitor.rules.codes import NEVER_NS
from monitor.scale.scope import PartitionScope
from monitor.sinks.outbox import WRITE_PIECE_EVENTS, Outbox, pieces
from monitor.stages import Stages
from monitor.symbols import Kind

log = structlog.get_logger(__name__)
_MAX_SUSPECTS = 10_000
_MAX_PARTIAL_BOOKS = 16
"""An entry that changed more books than this leaves them to a full cycle: a partial evaluation
costs about a fixed part of a full one per book, so past that it is no cheaper. Fewer books are
always evaluated alone, even all of a small portfolio's: its full cycle is mostly the market's
pricing (one book on full SPX and VIX chains: ~10 ms in process, ~3 for its partial evaluation;
16 books: ~16 against ~4.5), and leaving a one-book trader's tick to the paced full cycle made
its alert wait ~140 ms under a market-wide feed."""
_FULL_SPACING = 3.0
"""A full cycle that a change to many books calls for starts no sooner than this many of the
last one's durations after it ended: under a market-wide feed full cycles hold at most a
quarter of the loop, and the books a tick changes alone are evaluated in between."""
_PRICING_POLL_MS = 2
"""While a full cycle's pricing (or a stage's work on another thread) runs, the loop reads
with this block: a leg change waits at most about this long for its partial evaluation."""
_PAUSE_READ_S = 0.002
"""A full cycle's stages read quotes at their pauses at most this often (a read is a round
trip to Redis; the stages are a millisecond or so apart)."""
_TRIM_EVENTS = 1_000
"""A full cycle with this many alert events (a spike) is a burst: the heap is trimmed after."""


def mark_delayed(cycle: Cycle, market: MarketState) -> list[Signal]:
    """Flag signals computed from delayed quotes, so their alerts say the data is delayed.

    A book's signals are delayed when any of its legs is quoted from a delayed feed; every
    signal is when a market-wide input (an index or a VX future) is.
    """
    n = len(market)
    delayed = market.delayed[:n]
    if not delayed.any():
        return cycle.signals
    idx = cycle.state.index
    market_wide = cycle.valuation.universe.kind != int(Kind.OPTION)  # precomputed per universe
    everything = bool((delayed & market_wide).any())
    leg_delayed = delayed[idx.leg_row]
    books = {idx.book_names[int(idx.struct_book[s])] for s in idx.leg_struct[leg_delayed]}
    return [
        msgspec.structs.replace(sig, delayed=True) if everything or sig.book in books else sig
        for sig in cycle.signals
    ]


@dataclass(frozen=True, slots=True)
class LegWatch:
    """Which books hold each market row: the books a batch's moved quotes changed."""

    index: PortfolioIndex
    start: NDArray[np.intp]
    """Per market row up to the last leg's, and one past: where its books start in ``books``."""
    books: NDArray[np.int64]
    """Book ids (of ``index``), grouped by market row, each once per row."""

    @classmethod
    def of(cls, index: PortfolioIndex) -> LegWatch:
        pairs = np.unique(np.stack([index.leg_row, index.struct_book[index.leg_struct]]), axis=1)
        n_rows = int(pairs[0, -1]) + 1 if pairs.shape[1] else 0
        start = np.searchsorted(pairs[0], np.arange(n_rows + 1)).astype(np.intp)
        return cls(index, start, pairs[1])

    def changed_books(self, moved: NDArray[np.int64]) -> set[str]:
        """Return the books holding a leg among the market rows ``moved``."""
        rows = moved[moved < len(self.start) - 1]
        lo, counts = self.start[rows], self.start[rows + 1] - self.start[rows]
        lo, counts = lo[counts > 0], counts[counts > 0]
        if not len(counts):
            return set()
        ends = np.cumsum(counts)
        at = np.repeat(lo - (ends - counts), counts) + np.arange(int(ends[-1]))
        names = self.index.book_names
        return {names[b] for b in np.unique(self.books[at]).tolist()}


@dataclass(frozen=True, slots=True)
class _Priced:
    """A full cycle's pricing running in a worker thread (``EngineLoop._full_cycle``)."""

    job: PricingJob
    wall_ns: int
    started: float
    """``time.perf_counter()`` when it was handed over: the cycle's time counts from there."""
    pricing: asyncio.Future[Valuation]

    def result(self) -> Valuation:
        return self.pricing.result()


class EngineLoop:
    """Consume quotes and evaluate, in one task, so neither can starve the other.

    Each turn reads what the quote stream holds (waiting at most until the next cadence tick),
    applies it, and evaluates when a portfolio leg's quote changed or the cadence is due. An
    evaluation therefore always sees every quote that arrived before it started, and a burst of
    leg quotes costs one evaluation per turn, not one per batch.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        consumer: QuoteConsumer,
        machine: AlertMachine,
        store: AlertStore,
        outbox: Outbox,
        metrics: PipelineMetrics,
        clock: Clock,
        on_appended: Callable[[list[str]], Awaitable[None]] | None = None,
        known_feeds: frozenset[str] | None = None,
    ) -> None:
        self.engine = engine
        self.consumer = consumer
        self.machine = machine
        self.store = store
        self.outbox = outbox
        self.metrics = metrics
        self.clock = clock
        self.on_appended = on_appended
        """Awaited with the outbox ids of a cycle's events (the app lets delivery run first)."""
        self.first_cycle = asyncio.Event()
        self.legs_changed = False
        """Set when an applied batch changed a portfolio leg's quote: evaluate now."""
        self.changed_books: set[str] = set()
        """The few books whose legs' quotes changed since the last evaluation: a partial
        evaluation takes them at once."""
        self.crowd_books: set[str] = set()
        """Books whose legs a market-wide entry changed (more than a partial evaluation takes):
        the next full cycle's, which starts at once unless full cycles would then hold more
        than a share of the loop (``_FULL_SPACING``)."""
        self.full_ready_at = 0.0
        """``time.monotonic()`` from which a full cycle may start for ``crowd_books``."""
        self.write_piece_events = WRITE_PIECE_EVENTS
        """Alert events per outbox write (``outbox.pieces``)."""
        self.max_partial_books = _MAX_PARTIAL_BOOKS
        """The most books an entry may change and have evaluated alone (``_MAX_PARTIAL_BOOKS``)."""
        self._trim_due = False
        """Whether the last full cycle was a burst whose memory the next one gives back."""
        self._paused_s = 0.0
        """Time a full cycle spent in the partial evaluations run at its pauses."""
        self._watch: LegWatch | None = None
        self._watch_of: object = None
        self.progress = 0
        """Incremented by every completed cycle: the watchdog's proof of life."""
        self.on_cycle: Callable[[Cycle, list[AlertEvent]], None] | None = None
        """Called after every completed evaluation with its alert events (the risk page's
        event stream, ``monitor.web.hub``); must not block. A partial evaluation's cycle holds
        its books only (``Cycle.books``)."""
        self.known_feeds = known_feeds
        """The configured feed names; any other producer name is labelled ``external`` (a
        label per name would let any stream writer grow /metrics without bound). None: keep
        every name."""
        self._since_eval: list[tuple[str, bytes, bytes]] = []
        """(feed, entry id, payload) applied since the last evaluation that completed."""
        consumer.ts_ceiling = lambda: engine.ts_ceiling_ns(clock.now_ns())
        self.scope: PartitionScope | None = None
        """Set when books are partitioned over several replicas (``monitor.scale``): only the
        held partitions' signals are kept, and alert writes are fenced by their leases."""
        self.before_turn: Callable[[], Awaitable[None]] | None = None
        """Awaited at the start of every turn, between evaluations (applies new leases)."""
        self._unacked: Batch | None = None
        """Applied, not yet acknowledged: the next read acks it (after its evaluation)."""

    def feed_label(self, feed: str) -> str:
        """Return the metrics label value of a producer name."""
        if self.known_feeds is None or feed in self.known_feeds:
            return feed
        return EXTERNAL_FEED

    def _account(self, batch: Batch) -> None:
        for feed, n in batch.accepted.items():
            if n:
                self.metrics.quotes_ingested.labels(feed=self.feed_label(feed)).inc(n)
        for feed, _entry, reject in batch.rejects:
            self.count_reject(feed, reject.reason)

    def count_reject(self, feed: str, reason: str) -> None:
        self.metrics.quotes_rejected.labels(feed=self.feed_label(feed), reason=reason).inc()

    async def apply(self, batch: Batch) -> None:
        """Apply a batch to the state, then dead-letter its rejects and ack it."""
        self.ingest(batch)
        if batch.ids:
            await self.consumer.ack(batch)

    def ingest(self, batch: Batch) -> None:
        """Apply and count a batch's quotes, entry by entry, and sort the books they changed:
        the few an entry changed are evaluated at once (``changed_books``), the many a
        market-wide entry changed by the next full cycle (``crowd_books``). An entry that
        raises is dead-lettered alone."""
        if not batch.ids:
            return
        watch = self._legs()
        wall_ns = self.clock.now_ns()
        limit = self.max_partial_books
        for entry_id, feed, quotes in batch.entries():
            try:
                moved = self.engine.ingest(quotes, wall_ns)
            except Exception as exc:
                batch.fail(entry_id, feed, batch.raw.get(entry_id, b""), exc)
                batch.accepted[feed] = batch.accepted.get(feed, 0) - len(quotes)
                continue
            changed = watch.changed_books(moved)
            if not changed:
                continue
            if len(changed) <= limit:
                self.legs_changed = True
                self.changed_books |= changed
            else:
                self.crowd_books |= changed
        self._shed()
        self._account(batch)
        if len(self._since_eval) < _MAX_SUSPECTS:
            self._since_eval.extend((feed, i, batch.raw.get(i, b"")) for i, feed, _ in batch.spans)

    @property
    def changes_pending(self) -> bool:
        """Whether a leg's quote changed since the last evaluation (of its book or of all)."""
        return self.legs_changed or bool(self.crowd_books)

    def _shed(self) -> None:
        """Leave to the next full cycle the changed books a partial evaluation cannot take."""
        if self.legs_changed and not self.partial_possible():
            self.crowd_books |= self.changed_books
            self.changed_books = set()
            self.legs_changed = False

    def _legs(self) -> LegWatch:
        """Every portfolio leg's market row and book (the portfolio registers them all, and a
        row never moves: kept until the portfolio changes)."""
        portfolio = self.engine.portfolio
        if self._watch is None or portfolio is not self._watch_of:
            self._watch = LegWatch.of(self.engine.portfolio_index())
            self._watch_of = portfolio
        return self._watch

    async def drain(self) -> int:
        """Apply whatever is already in the stream without blocking; return entries applied."""
        applied = 0
        while True:
            batch = await self.consumer.read_nowait()
            if not batch.ids:
                return applied
            await self.apply(batch)
            applied += len(batch.ids)

    def partial_possible(self) -> bool:
        """Whether the books whose legs changed would be evaluated alone (not by a full cycle)."""
        return self._partial(self.changed_books, full=False)

    def _partial(self, books: set[str], full: bool) -> bool:
        """Whether ``books`` are evaluated alone (a partial evaluation), not by a full cycle."""
        return (
            not full
            and 0 < len(books) <= self.max_partial_books
            and self.engine.can_evaluate_books()
        )

    async def _staged(self, stages: Stages[Cycle]) -> Cycle:
        """Run a full cycle's stages; at a pause, read, and evaluate at once the books a
        tick changed meanwhile (``Engine.evaluate_stages``): a tick waits for one stage, not
        for the whole cycle. Pauses come every millisecond or so: a read is made at one when
        ``_PAUSE_READ_S`` has passed since the last, and while work runs on another thread
        the read waits for quotes (``_PRICING_POLL_MS``) rather than spin."""
        last_read = -math.inf
        try:
            while True:
                try:
                    waiting = next(stages)
                except StopIteration as done:
                    return cast(Cycle, done.value)
                if waiting is not None and not waiting.done():
                    await self._read(_PRICING_POLL_MS)
                elif time.perf_counter() - last_read >= _PAUSE_READ_S:
                    await self._read(0)
                else:
                    continue
                last_read = time.perf_counter()
                if self.legs_changed and self.partial_possible():
                    paused = time.perf_counter()
                    await self._evaluate_partial_first()
                    self._paused_s += time.perf_counter() - paused
        finally:
            stages.close()  # a read that raised abandons the cycle: it ends here, not at gc

    def _observe(self, cycle: Cycle, elapsed_s: float) -> None:
        if cycle.books is None:
            self.metrics.cycle_seconds.observe(elapsed_s)
        else:
            self.metrics.book_evaluation_seconds.observe(elapsed_s)
        self.metrics.evaluations.labels(kind="full" if cycle.books is None else "books").inc()

    async def evaluate_once(self, full: bool = True, *, priced: _Priced | None = None) -> Cycle:
        """Evaluate every book; with ``full`` False, only the books whose legs' quotes changed
        since the last evaluation, when the engine can (``_MAX_PARTIAL_BOOKS``). ``priced``: a
        full cycle whose pricing ran meanwhile (``_full_cycle``), at that pricing's instant."""
        started = time.perf_counter() if priced is None else priced.started
        self.legs_changed = False
        books, self.changed_books = self.changed_books, set()
        if priced is None:
            wall_ns = self.clock.now_ns()
            now_ns = self.engine.now_ns(wall_ns)
        else:
            wall_ns, now_ns = priced.wall_ns, priced.job.now_ns
        self.engine.memory.held = self.machine.held()  # a full emission sends only what matters
        if priced is None and self._partial(books, full):
            cycle = self.engine.evaluate_books(books, now_ns, wall_ns)
        else:
            self.crowd_books = set()  # every book's quotes as of now are in this cycle
            self._paused_s = 0.0
            cycle = await self._staged(self.engine.evaluate_stages(
                now_ns, wall_ns, priced=None if priced is None else priced.result()))  # fmt: skip
            started += self._paused_s  # the partial evaluations' time, not the cycle's
        signals = mark_delayed(cycle, cycle.market or self.engine.market)
        foreign: dict[str, int] = {}
        if self.scope is not None:  # market-wide keys belong to one partition's owner too
            owns = self.scope.owns
            foreign = {sig.key: NEVER_NS for sig in signals if not owns(sig.book)}
            signals = [sig for sig in signals if owns(sig.book)]
        transition = self.machine.decide(signals, now_ns)
        # resends wait for what the machine needs (another replica's keys: nothing here)
        self.engine.memory.note_wake(foreign | transition.wake)
        if cycle.rules is not None and cycle.rules.full:  # alerts restored for what is gone
            transition.merge(self.machine.decide_retirement(cycle.rules.live_keys(), now_ns))
        appended: list[str] = []
        written: list[AlertEvent] = []
        # in pieces, so a burst is never held encoded at once (outbox.pieces), each piece's
        # events made (their advice built) just before its write: a spike's thousands of
        # plans are spread over the writes, and the loop runs its other tasks in between
        for decided, changed in pieces(
            transition.decided, transition.changed, self.write_piece_events
        ):
            events = [self.machine.make(d, self._details_failed) for d in decided]
            if self.scope is not None:
                # fenced by the partition leases, events and states in one script
                events, ids = await self.scope.write(events, changed)
            elif events:
                # the events and the states that produced them are written together or not at
                # all: a crash in between would re-fire a key under a new alert id after the
                # restart
                save = partial(self.store.save_in, changed=changed)
                ids = await self.outbox.append(events, then=save)
            else:
                ids = []
                await self.store.save(changed)
            self._count(events)  # as soon as they are written, before the next piece
            written += events
            appended += ids
        transition.events, transition.decided = written, []
        if transition.events:
            if self.on_appended is not None:
                head_start = time.perf_counter()
                await self.on_appended(appended)
                started += time.perf_counter() - head_start  # delivery's time, not the cycle's
        self._observe(cycle, time.perf_counter() - started)
        if cycle.books is None:
            self._trim_after(cycle, len(transition.events))
        self.metrics.last_cycle_ts.set(self.clock.now_ns() / 1e9)
        self.progress += 1
        self.first_cycle.set()
        if self.on_cycle is not None:
            self.on_cycle(cycle, transition.events)
        return cycle

    def _details_failed(self, decided: Decided, exc: Exception) -> None:
        """An event went out without its details (``AlertMachine.make``): say why, count it."""
        log.error("alert_details_failed", key=decided.key, status=decided.status,
                  error=repr(exc), exc_info=exc)  # fmt: skip
        self.metrics.alert_details_failed.labels(rule=decided.sig.rule).inc()

    def _count(self, events: list[AlertEvent]) -> None:
        """Count events just written (so no receiver sees an event /metrics has not)."""
        for ev in events:
            self.metrics.alert_events.labels(rule=ev.rule, status=ev.status).inc()
            if ev.status == "firing":
                self.metrics.alerts_fired.labels(rule=ev.rule, severity=ev.severity).inc()
            # the log sink writes the alert's one line; this is the engine's trace of it
            log.debug("alert_emitted", key=ev.key, status=ev.status, id=ev.id)

    def _trim_after(self, cycle: Cycle, n_events: int) -> None:
        """Give the heap back after a burst: a start's first cycle or one of >= 1,000 alert
        events. Its objects are freed when the next full cycle replaces it as the engine's last
        one, so the trim runs then (a few ms, once per burst)."""
        if self._trim_due:
            allocator.trim()
        self._trim_due = bool(cycle.rules is not None and cycle.rules.full) or (
            n_events >= _TRIM_EVENTS
        )

    async def evaluate_guarded(
        self, full: bool = True, *, priced: _Priced | None = None
    ) -> Cycle | None:
        """Evaluate; if the pure core raises, dead-letter what was applied since the last good
        evaluation as ``internal_error`` (already acknowledged) and go on. Redis errors are not
        the entries' fault and propagate."""
        try:
            cycle = await self.evaluate_once(full, priced=priced)
        except (RedisError, OSError):
            raise
        except Exception as exc:
            log.error(
                "evaluation_failed", error=repr(exc), entries=len(self._since_eval), exc_info=exc
            )
            detail = "".join(traceback.format_exception_only(exc)).strip()
            suspects, self._since_eval = self._since_eval, []
            rejects = [(f, i, Reject("internal_error", detail, raw)) for f, i, raw in suspects]
            for feed, _i, _raw in suspects:
                self.count_reject(feed, "internal_error")
            await self.consumer.dead_letter(rejects)
            return None
        self._since_eval.clear()
        return cycle

    async def run_forever(self, cadence_s: float, claim_every_s: float = 5.0) -> None:
        """Consume and evaluate until cancelled: every ``cadence_s``, and at once when a leg's
        quote changed.

        Quote-triggered evaluation is what keeps alert latency in milliseconds with a 250 ms
        cadence; it covers the changed books only, and the cadence's full cycle still runs the
        time-driven and market-wide rules (staleness, calendar, the curve) for every book.
        """
        await self.consumer.ensure_group()
        next_claim = 0.0
        next_eval = time.monotonic()
        self._unacked = None
        while True:
            if self.before_turn is not None:
                await self.before_turn()
            now = time.monotonic()
            if now >= next_claim:
                await self.apply(await self.consumer.claim_abandoned())
                next_claim = now + claim_every_s
            due_at = min(next_eval, self.full_ready_at) if self.crowd_books else next_eval
            due = self.legs_changed or now >= due_at
            until_due_ms = max(1, math.ceil((due_at - now) * 1000))
            wait_ms = 0 if due else min(until_due_ms, self.consumer.block_ms)
            # A batch is acked after the evaluation it triggered, with the next read: neither
            # waits for a round trip of its own. A crash before the ack re-reads the batch, and
            # re-applying a quote changes nothing.
            await self._read(wait_ms)
            if self.legs_changed:
                # the changed books' alerts first: a full cycle would hold them its length
                await self._evaluate_partial_first()
            now = time.monotonic()
            if self.full_due(now, next_eval):
                started = now
                if self.engine.can_evaluate_books():
                    cycle = await self._full_cycle()
                else:
                    cycle = await self.evaluate_guarded(full=True)
                ended = time.monotonic()
                if cycle is None or cycle.books is None:
                    next_eval = started + cadence_s
                    self.full_ready_at = ended + _FULL_SPACING * (ended - started)

    def full_due(self, now: float, next_eval: float) -> bool:
        """Whether a full cycle starts now (monotonic seconds): the cadence's, or one for books
        a market-wide entry changed, once ``full_ready_at`` has come."""
        return now >= next_eval or (bool(self.crowd_books) and now >= self.full_ready_at)

    async def _read(self, block_ms: int) -> None:
        """Read a batch, acking the last one applied (its evaluation is done), and apply it."""
        batch = await self.consumer.read(block_ms=block_ms, ack=self._unacked)
        self.ingest(batch)
        self._unacked = batch if batch.ids else None

    async def _full_cycle(self) -> Cycle | None:
        """The cadence's full cycle with its pricing in a worker thread (the pricing kernels
        release the GIL): meanwhile the loop goes on reading, and a changed leg's books are
        evaluated at once instead of waiting for the whole cycle."""
        wall_ns = self.clock.now_ns()
        job = self.engine.pricing_job(self.engine.now_ns(wall_ns), wall_ns)
        priced = _Priced(job, wall_ns, time.perf_counter(), asyncio.ensure_future(
            asyncio.to_thread(job.run)))  # fmt: skip
        try:
            while not priced.pricing.done():
                await self._read(_PRICING_POLL_MS)
                if self.legs_changed:
                    await self._evaluate_partial_first()
        finally:
            await asyncio.wait([priced.pricing])  # a thread cannot be cancelled: let it end
        return await self.evaluate_guarded(full=True, priced=priced)

    async def _evaluate_partial_first(self) -> Cycle | None:
        """Evaluate the changed books alone, keeping what was applied as the suspects of the
        full cycle that follows (a quote can break the full cycle and not the partial one)."""
        suspects = list(self._since_eval)
        cycle = await self.evaluate_guarded(full=False)
        if cycle is not None:
            self._since_eval = suspects + self._since_eval
        return cycle
