"""The engine's two loops around the pure core: consume quotes, and evaluate on a cadence.

consume: XREADGROUP a batch -> apply to the market arrays -> count/dead-letter rejects -> XACK.
evaluate: every ``cadence_ms`` price everything, run the rules, step the alert state machine,
append events to the outbox and persist the changed alert states.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine
from monitor.bus import Batch, QuoteConsumer
from monitor.clock import Clock
from monitor.engine import Cycle, Engine
from monitor.metrics import PipelineMetrics
from monitor.model import AlertEvent
from monitor.sinks.outbox import Outbox

log = structlog.get_logger(__name__)


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
        transition = self.machine.step(cycle.signals, now_ns)
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
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            await self.evaluate_once()
            next_at += cadence_s
            delay = next_at - loop.time()
            if delay < 0:  # fell behind: skip missed ticks rather than burst
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(delay)  # the cadence timer itself
