"""The engine loop on a real Redis: between cadence ticks a changed leg re-evaluates the books
holding it, and only those; an identical re-stamped quote re-evaluates nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from monitor import bus, lifecycle, pipeline, settings
from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine
from monitor.clock import LiveClock
from monitor.engine import Cycle, Engine, PricingJob
from monitor.metrics import PipelineMetrics
from monitor.model import Book, Layer, Leg, Portfolio, Quote
from monitor.pipeline import EngineLoop
from monitor.pricing import black
from monitor.pricing.valuation import Valuation
from monitor.quotes import FIELD_BINARY, FIELD_FEED, encode_batch
from monitor.sinks.outbox import FIELD_EVENT, Outbox, decode_event
from monitor.stages import Stages, wait_for

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


async def loop_with_market(
    r: aioredis.Redis, appended: asyncio.Queue[list[str]] | None = None
) -> tuple[EngineLoop, bus.QuoteWriter]:
    """A loop with every quote of ``market`` waiting in the stream (the kernels warmed up, as
    the app does before its first cycle), and the writer to send more."""
    await asyncio.to_thread(black.warm_up)
    loop = make_loop(r, asyncio.Queue() if appended is None else appended)
    writer = bus.QuoteWriter(r, prefix=PREFIX, maxlen=10_000)
    await writer.publish("t", market(time.time_ns()))
    return loop, writer


async def past_first_cycle(loop: EngineLoop, writer: bus.QuoteWriter, now: int) -> None:
    """Read ``market(now)`` and run the start's first (full-emission) cycle on it."""
    await loop.consumer.ensure_group()
    await writer.publish("t", market(now))
    await read_and_apply(loop)
    await loop.evaluate_once()


async def read_and_apply(loop: EngineLoop) -> None:
    batch = await loop.consumer.read()
    assert batch.ids
    await loop.apply(batch)


async def test_a_changed_leg_names_its_book_and_a_restamped_quote_names_none(
    redis: aioredis.Redis,
) -> None:
    loop = make_loop(redis, asyncio.Queue())
    writer = bus.QuoteWriter(redis, prefix=PREFIX, maxlen=10_000)
    now = time.time_ns()
    await past_first_cycle(loop, writer, now)
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
    appended: asyncio.Queue[list[str]] = asyncio.Queue()
    loop, writer = await loop_with_market(redis, appended)
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
    loop, writer = await loop_with_market(redis)
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
    loop, writer = await loop_with_market(redis)
    engine = HeldPricing(loop.engine.settings, loop.engine.portfolio)
    loop.engine = engine
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


async def test_one_read_sorts_its_entries_a_tick_of_one_book_now_a_market_wide_move_later(
    redis: aioredis.Redis,
) -> None:
    await asyncio.to_thread(black.warm_up)
    loop = make_loop(redis, asyncio.Queue())
    loop.max_partial_books = 1  # an entry that changes 2 of the 3 books is market-wide here
    writer = bus.QuoteWriter(redis, prefix=PREFIX, maxlen=10_000)
    now = time.time_ns()
    await past_first_cycle(loop, writer, now)
    wide = [Quote(sym=LEG[b], bid=1.2, ask=1.3, ts=now + 1) for b in ("b", "c")]
    await writer.publish("t", wide)
    await writer.publish("t", [Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=now + 2)])
    batch = await loop.consumer.read()
    assert len(batch.ids) == 2  # both entries in one read
    await loop.apply(batch)
    assert loop.legs_changed and loop.changed_books == {"a"}
    assert loop.crowd_books == {"b", "c"}

    partial = await loop.evaluate_once(full=False)
    assert partial.books == {"a"} and loop.crowd_books == {"b", "c"}
    full = await loop.evaluate_once(full=True)
    assert full.books is None and not loop.crowd_books and not loop.changes_pending


async def test_a_market_wide_move_runs_a_full_cycle_without_waiting_for_the_cadence(
    redis: aioredis.Redis,
) -> None:
    loop, writer = await loop_with_market(redis)
    loop.max_partial_books = 1  # an entry that changes 2 of the 3 books is market-wide here
    kinds: list[frozenset[str] | None] = []
    second = asyncio.Event()

    def on_cycle(cycle: Cycle, _events: object) -> None:
        kinds.append(cycle.books)
        if len(kinds) == 2:
            second.set()

    loop.on_cycle = on_cycle
    task = asyncio.create_task(loop.run_forever(cadence_s=3600.0))  # one cadence cycle only
    try:
        await asyncio.wait_for(loop.first_cycle.wait(), 10)
        wide = [Quote(sym=LEG[b], bid=1.2, ask=1.3, ts=time.time_ns()) for b in ("b", "c")]
        await writer.publish("t", wide)
        await asyncio.wait_for(second.wait(), 10)
    finally:
        task.cancel()
    assert kinds == [None, None]


async def test_full_cycles_for_market_wide_moves_leave_the_loop_three_quarters_of_its_time(
    redis: aioredis.Redis,
) -> None:
    loop = make_loop(redis, asyncio.Queue())
    cadence_at = 100.0
    assert not loop.full_due(10.0, cadence_at)  # nothing changed: the cadence's turn
    loop.crowd_books = {"b", "c"}
    assert loop.full_due(10.0, cadence_at)  # no full cycle ran yet: at once
    loop.full_ready_at = 10.0 + pipeline._FULL_SPACING * 0.05  # one of 50 ms ended at 10 s
    assert not loop.full_due(10.1, cadence_at)
    assert loop.full_due(10.15, cadence_at)
    assert loop.full_due(cadence_at, cadence_at)


async def run_until(loop: EngineLoop, done: asyncio.Event) -> None:
    """Run the loop with full cycles back to back until ``done`` (at most 10 s)."""
    task = asyncio.create_task(loop.run_forever(cadence_s=0.0))
    try:
        await asyncio.wait_for(done.wait(), 10)
    finally:
        task.cancel()


class TickAtPause(Engine):
    """An engine whose second full cycle gets a tick of book ``a`` in the stream at its first
    pause (written synchronously, so the loop reads it at one of the cycle's pauses)."""

    def __init__(self, url: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.url, self.full_cycles = url, 0

    def evaluate_stages(
        self, now_ns: int, wall_ns: int | None = None, *, priced: Valuation | None = None
    ) -> Stages[Cycle]:
        self.full_cycles += 1
        stages = super().evaluate_stages(now_ns, wall_ns, priced=priced)
        if self.full_cycles != 2:
            return stages
        return self._tick_at_first_pause(stages)

    def _tick_at_first_pause(self, stages: Stages[Cycle]) -> Stages[Cycle]:
        import redis as sync_redis

        next(stages)
        tick = [Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=time.time_ns())]
        with sync_redis.Redis.from_url(self.url) as client:
            client.xadd(bus.quotes_key(PREFIX), {FIELD_BINARY: encode_batch(tick),
                                                 FIELD_FEED: b"t"})  # fmt: skip
        yield
        return (yield from stages)


async def test_a_tick_read_at_a_full_cycles_pause_fires_before_that_cycle_ends(
    redis: aioredis.Redis, redis_url: str
) -> None:
    loop, _writer = await loop_with_market(redis)
    engine = TickAtPause(redis_url, loop.engine.settings, loop.engine.portfolio)
    loop.engine = engine
    seen: list[tuple[frozenset[str] | None, list[tuple[str, str]]]] = []
    done = asyncio.Event()

    def on_cycle(cycle: Cycle, events: list[Any]) -> None:
        seen.append((cycle.books, [(ev.key, ev.status) for ev in events]))
        if len(seen) == 3:
            done.set()

    loop.on_cycle = on_cycle
    await run_until(loop, done)
    (first, _), (books, fired), (second, events) = seen[:3]
    assert first is None and second is None  # the partial ran inside the second full cycle
    assert books == {"a"} and ("layer_gain|a|L1@2", "firing") in fired
    assert not [key for key, _ in events if key.split("|")[1] == "a"]  # nothing older for a
    assert loop.machine.states["layer_gain|a|L1@2"].firing


class WaitAtPause(TickAtPause):
    """As ``TickAtPause``, then the cycle's stage waits on work of another thread (the
    future ``aside``), which ends only once book ``a``'s partial evaluation has run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aside_work: Future[None] = Future()

    def _tick_at_first_pause(self, stages: Stages[Cycle]) -> Stages[Cycle]:
        started = super()._tick_at_first_pause(stages)
        next(started)  # the tick is in the stream
        yield from wait_for(self.aside_work)
        return (yield from started)


async def test_a_tick_is_evaluated_while_a_stage_waits_on_another_thread_without_spinning(
    redis: aioredis.Redis, redis_url: str
) -> None:
    loop, _writer = await loop_with_market(redis)
    engine = WaitAtPause(redis_url, loop.engine.settings, loop.engine.portfolio)
    loop.engine = engine
    blocks: list[int | None] = []  # each read's block while the stage's work runs
    read = loop.consumer.read

    async def recorded(block_ms: int | None = None, **kw: Any) -> bus.Batch:
        if engine.full_cycles == 2 and not engine.aside_work.done():
            blocks.append(block_ms)
        return await read(block_ms, **kw)

    loop.consumer.read = recorded  # type: ignore[method-assign]
    done = asyncio.Event()
    books: list[frozenset[str] | None] = []

    def on_cycle(cycle: Cycle, events: list[Any]) -> None:
        books.append(cycle.books)
        if cycle.books == {"a"}:
            engine.aside_work.set_result(None)  # only now can the full cycle end
        if len(books) == 3:
            done.set()

    loop.on_cycle = on_cycle
    await run_until(loop, done)
    assert books[:3] == [None, {"a"}, None]  # the partial ran while the full cycle waited
    assert blocks and set(blocks) == {pipeline._PRICING_POLL_MS}  # it waited for quotes


async def test_the_heap_is_trimmed_once_after_a_starts_first_cycle_is_released(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    trims: list[int] = []
    monkeypatch.setattr(pipeline.allocator, "trim", lambda: trims.append(1) or True)
    loop = make_loop(redis, asyncio.Queue())
    writer = bus.QuoteWriter(redis, prefix=PREFIX, maxlen=10_000)
    await past_first_cycle(loop, writer, time.time_ns())  # the start's full emission: a burst
    assert trims == []  # its objects are still the engine's last cycle
    await loop.evaluate_once()
    assert trims == [1]
    await loop.evaluate_once()  # a quiet cycle: nothing to give back
    assert trims == [1]
