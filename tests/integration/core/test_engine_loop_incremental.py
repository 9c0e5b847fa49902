"""The engine loop on a real Redis: between cadence ticks a changed leg re-evaluates the books
holding it, and only those; an identical re-stamped quote re-evaluates nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from monitor import bus, lifecycle, settings
from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine
from monitor.clock import LiveClock
from monitor.engine import Cycle, Engine, PricingJob
from monitor.metrics import PipelineMetrics
from monitor.model import Book, Layer, Leg, Portfolio, Quote
from monitor.pipeline import EngineLoop
from monitor.pricing import black
from monitor.pricing.valuation import Valuation
from monitor.sinks.outbox import FIELD_EVENT, Outbox, decode_event

LEG = {"a": "VIX261216C00020000", "b": "VIX261216C00022000", "c": "VIX261216C00024000"}
PREFIX = "inc"
REGISTRY: dict[EngineLoop, CollectorRegistry] = {}


def make_loop(r: aioredis.Redis, appended: asyncio.Queue[list[str]]) -> EngineLoop:
    books = [
        Book(name=b, layers=[Layer(name="L1", legs=[Leg(symbol=s, quantity=4, entry_price=1.0)])])
        for b, s in LEG.items()
    ]
    consumer = bus.QuoteConsumer(
        r, prefix=PREFIX, group="engine", consumer="c", block_ms=50, count=100,
        claim_idle_ms=60_000, dead_maxlen=1000,
    )  # fmt: skip

    async def on_appended(ids: list[str]) -> None:
        appended.put_nowait(ids)

    registry = CollectorRegistry()
    loop = EngineLoop(
        engine=Engine(settings.load().settings, Portfolio(books=books)),
        consumer=consumer,
        machine=AlertMachine(cooldown_s=0, repeat_interval_s=0),
        store=AlertStore(r, prefix=PREFIX),
        outbox=Outbox(r, prefix=PREFIX),
        metrics=PipelineMetrics(registry),
        clock=LiveClock(),
        on_appended=on_appended,
    )
    REGISTRY[loop] = registry
    return loop


def market(ts: int) -> list[Quote]:
    legs = [Quote(sym=s, bid=1.0, ask=1.1, ts=ts) for s in LEG.values()]
    vx = Quote(sym="VX261216", bid=20.0, ask=20.1, ts=ts)
    return [*legs, vx, Quote(sym="VIX", last=20.0, ts=ts)]


def evaluations(loop: EngineLoop, kind: str) -> float | None:
    return REGISTRY[loop].get_sample_value("vixmon_engine_evaluations_total", {"kind": kind})


async def read_and_apply(loop: EngineLoop) -> None:
    batch = await loop.consumer.read()
    assert batch.ids
    await loop.apply(batch)


async def test_a_changed_leg_names_its_book_and_a_restamped_quote_names_none(
    redis: aioredis.Redis,
) -> None:
    loop = make_loop(redis, asyncio.Queue())
    writer = bus.QuoteWriter(redis, prefix=PREFIX, maxlen=10_000)
    await loop.consumer.ensure_group()
    now = time.time_ns()
    await writer.publish("t", market(now))
    await read_and_apply(loop)
    await loop.evaluate_once()
    await writer.publish("t", market(now + 1))  # the same prices, a newer stamp
    await read_and_apply(loop)
    assert not loop.legs_changed and loop.changed_books == set()
    await writer.publish("t", [Quote(sym=LEG["b"], bid=1.0, ask=1.15, ts=now + 2)])
    await read_and_apply(loop)
    assert loop.legs_changed and loop.changed_books == {"b"}
    cycle = await loop.evaluate_once(full=False)
    assert cycle.books == {"b"} and loop.changed_books == set()
    assert (evaluations(loop, "full"), evaluations(loop, "books")) == (1, 1)


async def test_a_breaching_leg_fires_through_a_partial_evaluation_end_to_end(
    redis: aioredis.Redis,
) -> None:
    await asyncio.to_thread(black.warm_up)  # as the app does before its first cycle
    appended: asyncio.Queue[list[str]] = asyncio.Queue()
    loop = make_loop(redis, appended)
    writer = bus.QuoteWriter(redis, prefix=PREFIX, maxlen=10_000)
    await writer.publish("t", market(time.time_ns()))
    task = asyncio.create_task(loop.run_forever(cadence_s=3600.0))
    try:
        await asyncio.wait_for(loop.first_cycle.wait(), 10)
        while appended.qsize():  # the first cycle's alerts (stress coverage and the like)
            appended.get_nowait()
        start = await redis.xlen(loop.outbox.key)
        await writer.publish("t", [Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=time.time_ns())])
        ids = await asyncio.wait_for(appended.get(), 10)
    finally:
        await lifecycle.cancel_all([task])
    assert (evaluations(loop, "full"), evaluations(loop, "books")) == (1, 1)
    entries = (await redis.xrange(loop.outbox.key))[start:]
    assert [e[0].decode() for e in entries] == ids
    events = [decode_event(e[1][FIELD_EVENT]) for e in entries]
    assert {(e.key, e.status) for e in events} == {("layer_gain|a|L1@2", "firing")}
    assert loop.engine.last_cycle is not None and loop.engine.last_cycle.books is None


class Stop(Exception):
    """Ends the loop from inside (a loop that never waits can miss a cancellation)."""


async def test_a_leg_change_read_with_the_cadence_due_is_evaluated_before_the_full_cycle(
    redis: aioredis.Redis,
) -> None:
    await asyncio.to_thread(black.warm_up)
    loop = make_loop(redis, asyncio.Queue())
    writer = bus.QuoteWriter(redis, prefix=PREFIX, maxlen=10_000)
    await writer.publish("t", market(time.time_ns()))
    kinds: list[frozenset[str] | None] = []
    loop.on_cycle = lambda cycle, _events: kinds.append(cycle.books)

    async def before_turn() -> None:
        if kinds.count(None) == 1 and len(kinds) == 1:  # after the first full cycle: the leg
            await writer.publish("t", [Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=time.time_ns())])
        elif len(kinds) >= 3:
            raise Stop

    loop.before_turn = before_turn
    with pytest.raises(Stop):
        await asyncio.wait_for(loop.run_forever(cadence_s=0.0), 10)  # the cadence always due
    assert kinds[:3] == [None, frozenset({"a"}), None]


class HeldPricing(Engine):
    """An engine whose full cycles' pricing waits for the test: stands in for a long one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started = asyncio.Event()
        self.release = threading.Event()
        self._loop = asyncio.get_running_loop()

    def pricing_job(self, now_ns: int, wall_ns: int | None = None) -> PricingJob:
        job = super().pricing_job(now_ns, wall_ns)
        engine = self

        class Held(PricingJob):
            def run(self) -> Valuation:
                engine._loop.call_soon_threadsafe(engine.started.set)
                engine.release.wait(10)
                return job.run()

        return Held(*(getattr(job, f.name) for f in dataclasses.fields(job)))


async def test_a_leg_change_during_a_full_cycles_pricing_is_evaluated_before_that_cycle_ends(
    redis: aioredis.Redis,
) -> None:
    await asyncio.to_thread(black.warm_up)
    loop = make_loop(redis, asyncio.Queue())
    engine = HeldPricing(loop.engine.settings, loop.engine.portfolio)
    loop.engine = engine
    writer = bus.QuoteWriter(redis, prefix=PREFIX, maxlen=10_000)
    await writer.publish("t", market(time.time_ns()))
    kinds: list[frozenset[str] | None] = []
    partial = asyncio.Event()

    def on_cycle(cycle: Cycle, _events: object) -> None:
        kinds.append(cycle.books)
        if cycle.books is not None:
            partial.set()

    async def before_turn() -> None:
        if len(kinds) >= 3:
            raise Stop

    loop.on_cycle, loop.before_turn = on_cycle, before_turn
    task = asyncio.create_task(loop.run_forever(cadence_s=0.0))
    try:
        await asyncio.wait_for(engine.started.wait(), 10)  # the second cycle's pricing
        await writer.publish("t", [Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=time.time_ns())])
        await asyncio.wait_for(partial.wait(), 10)
        assert kinds == [None, frozenset({"a"})]  # the full cycle still pricing
    finally:
        engine.release.set()
    with pytest.raises(Stop):
        await asyncio.wait_for(task, 10)
    assert kinds[:3] == [None, frozenset({"a"}), None]
    last = engine.last_cycle
    assert last is not None and last.rules is not None
    assert ("layer_gain|a|L1@2", "breach") in last.rules.not_clear()  # it saw the leg too
