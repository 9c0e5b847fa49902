"""The engine loop on a real Redis: a leg's changed quote is evaluated at once; a re-stamped
identical one, or a quote of an instrument no book holds, waits for the cadence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from monitor import bus, lifecycle, settings
from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine, Decided
from monitor.clock import LiveClock
from monitor.engine import Engine
from monitor.metrics import PipelineMetrics
from monitor.model import AlertEvent, Book, Layer, Leg, Portfolio, Quote
from monitor.pipeline import EngineLoop
from monitor.plan.build import PlanBook
from monitor.pricing import black
from monitor.rules.codes import NEVER_NS
from monitor.sinks.outbox import FIELD_EVENT, Outbox, decode_event

LEG = "VIX261216C00020000"
PREFIX = "loop"


def make_loop(
    r: aioredis.Redis, appended: asyncio.Queue[list[str]] | None = None, *, books: int = 0
) -> EngineLoop:
    """One book ``b`` holding a VIX call layer; with ``books``, that many (``b0``, ``b1``, ...)."""
    layer = Layer(name="L1", legs=[Leg(symbol=LEG, quantity=4, entry_price=1.0)])
    names = [f"b{i}" for i in range(books)] or ["b"]
    portfolio = Portfolio(books=[Book(name=n, cash_usd=1e6, layers=[layer]) for n in names])
    consumer = bus.QuoteConsumer(
        r, prefix=PREFIX, group="engine", consumer="c", block_ms=50, count=100,
        claim_idle_ms=60_000, dead_maxlen=1000,
    )  # fmt: skip

    async def on_appended(ids: list[str]) -> None:
        if appended is not None:
            appended.put_nowait(ids)

    return EngineLoop(
        engine=Engine(settings.load().settings, portfolio),
        consumer=consumer,
        machine=AlertMachine(cooldown_s=0, repeat_interval_s=0),
        store=AlertStore(r, prefix=PREFIX),
        outbox=Outbox(r, prefix=PREFIX),
        metrics=PipelineMetrics(CollectorRegistry()),
        clock=LiveClock(),
        on_appended=on_appended,
    )


def market(call_bid: float, call_ask: float, ts: int) -> list[Quote]:
    return [
        Quote(sym=LEG, bid=call_bid, ask=call_ask, ts=ts),
        Quote(sym="VX261216", bid=20.0, ask=20.1, ts=ts),
        Quote(sym="VIX", last=20.0, ts=ts),
    ]


@pytest.fixture
def writer(redis: aioredis.Redis) -> bus.QuoteWriter:
    return bus.QuoteWriter(redis, prefix=PREFIX, maxlen=10_000)


async def read_and_apply(loop: EngineLoop) -> None:
    batch = await loop.consumer.read()
    assert batch.ids
    await loop.apply(batch)


async def test_only_a_batch_that_changes_a_legs_quote_asks_for_an_evaluation(
    redis: aioredis.Redis, writer: bus.QuoteWriter
) -> None:
    loop = make_loop(redis)
    await loop.consumer.ensure_group()
    now = time.time_ns()
    await writer.publish("t", market(1.0, 1.1, now))
    await read_and_apply(loop)
    assert loop.changes_pending
    await loop.evaluate_once()
    assert not loop.changes_pending

    await writer.publish("t", market(1.0, 1.1, now + 1))  # the same prices, a newer stamp
    await read_and_apply(loop)
    assert not loop.changes_pending
    await writer.publish("t", [Quote(sym="VX261216", bid=21.0, ask=21.1, ts=now + 2)])
    await read_and_apply(loop)
    assert not loop.changes_pending  # a market-wide input, not a leg: the cadence covers it
    await writer.publish("t", [Quote(sym=LEG, bid=1.0, ask=1.15, ts=now + 3)])
    await read_and_apply(loop)
    assert loop.changes_pending


async def test_a_breaching_leg_quote_fires_long_before_the_next_cadence_tick(
    redis: aioredis.Redis, writer: bus.QuoteWriter
) -> None:
    await asyncio.to_thread(black.warm_up)  # as the app does before its first cycle
    appended: asyncio.Queue[list[str]] = asyncio.Queue()
    loop = make_loop(redis, appended)
    await writer.publish("t", market(1.0, 1.1, time.time_ns()))
    task = asyncio.create_task(loop.run_forever(cadence_s=3600.0))
    try:
        await asyncio.wait_for(loop.first_cycle.wait(), 10)
        assert loop.progress == 1 and appended.empty()
        await writer.publish("t", [Quote(sym=LEG, bid=2.9, ask=3.1, ts=time.time_ns())])
        ids = await asyncio.wait_for(appended.get(), 10)
    finally:
        await lifecycle.cancel_all([task])
    assert loop.progress == 2  # one more evaluation, triggered by the quote (cadence: 1 h)
    entries = await redis.xrange(f"{{{PREFIX}:alerts}}")
    assert [e[0].decode() for e in entries] == ids
    events = [decode_event(e[1][FIELD_EVENT]) for e in entries]
    assert {(e.rule, e.status) for e in events} == {("layer_gain", "firing")}


async def test_an_announced_alert_is_not_resent_by_later_cycles(
    redis: aioredis.Redis, writer: bus.QuoteWriter
) -> None:
    loop = make_loop(redis)  # no repeats: once announced, a steady breach needs nothing more
    await loop.consumer.ensure_group()
    now = time.time_ns()
    await writer.publish("t", market(2.9, 3.1, now))  # gain 2.0: the layer fires
    await read_and_apply(loop)
    first = await loop.evaluate_once()
    fired = {s.key for s in first.signals if s.condition == "breach"}  # @2 announced, @1.5 muted
    assert {k for k in fired if loop.machine.states[k].notified} == {"layer_gain|b|L1@2"}
    emitted = loop.engine.memory.emitted["layer_gain"]
    position = emitted.layout.position
    assert {int(emitted.wake_ns[position[k]]) for k in fired} == {NEVER_NS}
    # far past every resend phase: the rules still send nothing for those keys
    later = loop.engine.evaluate(now + 60 * 1_000_000_000)
    assert not fired & {s.key for s in later.signals}


async def test_a_burst_of_events_is_written_in_pieces_each_with_its_keys_states(
    redis: aioredis.Redis, writer: bus.QuoteWriter
) -> None:
    loop = make_loop(redis, books=7)
    loop.write_piece_events = 3  # seven books' alerts: three outbox writes
    await loop.consumer.ensure_group()
    await writer.publish("t", market(2.9, 3.1, time.time_ns()))  # every book's layer fires
    await read_and_apply(loop)
    await loop.evaluate_once()
    entries = await redis.xrange(f"{{{PREFIX}:alerts}}")
    events = [decode_event(e[1][FIELD_EVENT]) for e in entries]
    assert sorted(e.book for e in events) == [f"b{i}" for i in range(7)]
    stored = await AlertStore(redis, prefix=PREFIX).load()
    assert stored == loop.machine.states  # every changed state, whichever piece it went with
    assert all(stored[e.key].firing and stored[e.key].notified for e in events)


@dataclass(slots=True)
class CountingMachine(AlertMachine):
    """The machine, counting the events it has made."""

    made: int = 0

    def make(
        self, decided: Decided, on_error: Callable[[Decided, Exception], None] | None = None
    ) -> AlertEvent:
        self.made += 1
        return AlertMachine.make(self, decided, on_error)


class NotingOutbox(Outbox):
    """The outbox, noting at each write how many events the machine had made by then."""

    def __init__(self, r: aioredis.Redis, machine: CountingMachine) -> None:
        super().__init__(r, prefix=PREFIX)
        self.machine = machine
        self.writes: list[tuple[int, int]] = []

    async def append(self, events: Sequence[AlertEvent], **kw: object) -> list[str]:
        self.writes.append((self.machine.made, len(events)))
        return await super().append(events, **kw)  # type: ignore[arg-type]


async def test_a_bursts_events_are_made_piece_by_piece_between_the_writes(
    redis: aioredis.Redis, writer: bus.QuoteWriter
) -> None:
    loop = make_loop(redis, books=7)
    loop.machine = machine = CountingMachine(cooldown_s=0, repeat_interval_s=0)
    loop.outbox = outbox = NotingOutbox(redis, machine)
    loop.write_piece_events = 3
    await loop.consumer.ensure_group()
    await writer.publish("t", market(2.9, 3.1, time.time_ns()))  # every book's layer fires
    await read_and_apply(loop)
    await loop.evaluate_once()
    # each write's events were made just before it, not all of them before the first
    assert outbox.writes == [(3, 3), (6, 3), (7, 1)]
    entries = await redis.xrange(f"{{{PREFIX}:alerts}}")
    assert all(decode_event(e[1][FIELD_EVENT]).advisory for e in entries)  # the roll advice


async def test_an_alert_whose_advice_fails_is_still_sent_and_the_failure_counted(
    redis: aioredis.Redis, writer: bus.QuoteWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: PlanBook, book: str) -> None:
        raise ZeroDivisionError("no vega to roll into")

    monkeypatch.setattr(PlanBook, "get", broken)
    loop = make_loop(redis)
    await loop.consumer.ensure_group()
    await writer.publish("t", market(2.9, 3.1, time.time_ns()))
    await read_and_apply(loop)
    cycle = await loop.evaluate_guarded()
    assert cycle is not None  # no evaluation failure, nothing dead-lettered
    [entry] = await redis.xrange(f"{{{PREFIX}:alerts}}")
    event = decode_event(entry[1][FIELD_EVENT])
    assert (event.key, event.status) == ("layer_gain|b|L1@2", "firing")
    assert "ZeroDivisionError" in event.summary and event.advisory is None
    counted = [
        (s.labels["rule"], s.value)
        for m in loop.metrics.alert_details_failed.collect()
        for s in m.samples
        if s.name.endswith("_total")
    ]
    assert counted == [("layer_gain", 1.0)]
    assert await redis.xlen(f"{{{PREFIX}:quotes}}:dead") == 0


async def test_a_one_book_portfolios_changed_leg_is_evaluated_alone_at_once(
    redis: aioredis.Redis, writer: bus.QuoteWriter
) -> None:
    loop = make_loop(redis)  # one book: a full cycle is mostly the market's pricing
    await loop.consumer.ensure_group()
    now = time.time_ns()
    await writer.publish("t", market(1.0, 1.1, now))
    await read_and_apply(loop)
    await loop.evaluate_once()
    await writer.publish("t", [Quote(sym=LEG, bid=2.9, ask=3.1, ts=now + 1)])
    await read_and_apply(loop)
    assert loop.legs_changed and loop.changed_books == {"b"} and not loop.crowd_books
    cycle = await loop.evaluate_once(full=False)
    assert cycle.books == {"b"}  # the book alone, not a full cycle
    assert ("layer_gain|b|L1@2", "breach") in {(s.key, s.condition) for s in cycle.signals}
