"""The engine's two loops around the pure core: consume quotes, and evaluate on a cadence.

consume: XREADGROUP a batch -> apply to the market arrays -> count/dead-letter rejects -> XACK.
evaluate: every ``cadence_ms`` price everything, run the rules, step the alert state machine,
append events to the outbox and persist the changed alert states.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import msgspec
import structlog

from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine
from monitor.bus import Batch, QuoteConsumer
from monitor.clock import Clock
from monitor.engine import Cycle, Engine
from monitor.market import MarketState
from monitor.metrics import PipelineMetrics
from monitor.model import AlertEvent
from monitor.rules.base import Signal
from monitor.sinks.outbox import Outbox
from monitor.symbols import Kind

log = structlog.get_logger(__name__)


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
        msgspec.structs.replace(sig, delayed=True)
        if everything or sig.book in books else sig
        for sig in cycle.signals
    ]


class EngineLoop:
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
        on_events: Callable[[list[AlertEvent]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.consumer = consumer
        self.machine = machine
        self.store = store
        self.outbox = outbox
        self.metrics = metrics
        self.clock = clock
        self.on_events = on_events
        self.first_cycle = asyncio.Event()
        self._kick = asyncio.Event()
        """Set when a consumed batch quotes a portfolio leg: evaluate now, not at the next tick."""
        self._legs: frozenset[str] = frozenset()
        self._legs_of: object = None
        self.progress = 0
        """Incremented by every completed cycle: the watchdog's proof of life."""

    def _account(self, batch: Batch) -> None:
        for feed, n in batch.accepted.items():
            self.metrics.quotes_ingested.labels(feed=feed).inc(n)
        for feed, _entry, reject in batch.rejects:
            self.metrics.quotes_rejected.labels(feed=feed, reason=reject.reason).inc()

    async def apply(self, batch: Batch) -> None:
        """Apply a batch to the state, then dead-letter its rejects and ack it."""
        if not batch.ids:
            return
        self.engine.ingest(batch.quotes)
        await self.consumer.ack(batch)
        self._account(batch)
        legs = self._leg_symbols()
        if any(q.sym in legs for q in batch.quotes):
            self._kick.set()

    def _leg_symbols(self) -> frozenset[str]:
        portfolio = self.engine.portfolio
        if portfolio is not self._legs_of:
            self._legs = frozenset(
                [leg.symbol for b in portfolio.books for c in b.condors for leg in c.legs]
                + [leg.symbol for b in portfolio.books for y in b.layers for leg in y.legs]
            )
            self._legs_of = portfolio
        return self._legs

    async def consume_forever(self, claim_every_s: float = 5.0) -> None:
        await self.consumer.ensure_group()
        next_claim = 0.0
        while True:
            if time.monotonic() >= next_claim:
                await self.apply(await self.consumer.claim_abandoned())
                next_claim = time.monotonic() + claim_every_s
            await self.apply(await self.consumer.read())

    async def drain(self) -> int:
        """Apply whatever is already in the stream without blocking; return entries applied."""
        applied = 0
        while True:
            batch = await self.consumer.read_nowait()
            if not batch.ids:
                return applied
            await self.apply(batch)
            applied += len(batch.ids)

    async def evaluate_once(self) -> Cycle:
        started = time.perf_counter()
        now_ns = self.engine.now_ns(self.clock.now_ns())
        cycle = self.engine.evaluate(now_ns)
        transition = self.machine.step(mark_delayed(cycle, self.engine.market), now_ns)
        if transition.events:
            await self.outbox.append(transition.events)
            for ev in transition.events:
                self.metrics.alert_events.labels(rule=ev.rule, status=ev.status).inc()
                if ev.status == "firing":
                    self.metrics.alerts_fired.labels(rule=ev.rule, severity=ev.severity).inc()
                log.info("alert", key=ev.key, status=ev.status, summary=ev.summary, id=ev.id)
            if self.on_events is not None:
                self.on_events(transition.events)
        await self.store.save(transition.changed)
        self.metrics.cycle_seconds.observe(time.perf_counter() - started)
        self.metrics.last_cycle_ts.set(self.clock.now_ns() / 1e9)
        self.progress += 1
        self.first_cycle.set()
        return cycle

    async def evaluate_forever(self, cadence_s: float) -> None:
        """Evaluate every ``cadence_s``, and at once when a quote for a portfolio leg arrives.

        Quote-triggered evaluation is what keeps alert latency in milliseconds with a 250 ms
        cadence; the cadence still runs the time-driven rules (staleness, calendar) when the
        legs are quiet. Evaluations never overlap: a kick during one is served right after it.
        """
        loop = asyncio.get_running_loop()
        while True:
            self._kick.clear()
            started = loop.time()
            await self.evaluate_once()
            remaining = cadence_s - (loop.time() - started)
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), remaining)
            else:
                await asyncio.sleep(0)  # fell behind: let the consumer run before the next cycle
