"""The engine loop on a real Redis: between cadence ticks a changed leg re-evaluates the books
holding it, and only those; an identical re-stamped quote re-evaluates nothing."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from monitor import bus, lifecycle, settings
from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine
from monitor.clock import LiveClock
from monitor.engine import Engine
from monitor.metrics import PipelineMetrics
from monitor.model import Book, Layer, Leg, Portfolio, Quote
from monitor.pipeline import EngineLoop
from monitor.pricing import black
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
