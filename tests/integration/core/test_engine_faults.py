"""No entry can stop the engine, on a real Redis: future and poison quotes are rejected, an
entry that makes the core raise is dead-lettered alone as ``internal_error``, and every one of
them is acknowledged."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import msgspec
import numpy as np
import pytest
import redis.asyncio as aioredis
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry

from monitor import bus, settings
from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine
from monitor.clock import FakeClock
from monitor.engine import Cycle, Engine
from monitor.metrics import PipelineMetrics
from monitor.model import Book, Layer, Leg, Portfolio, QuoteLike
from monitor.pipeline import EngineLoop
from monitor.pricing.valuation import Valuation
from monitor.sinks.outbox import Outbox
from monitor.stages import Stages

LEG = "VIX261216C00020000"
PREFIX = "faults"
NOW = time.time_ns()
NS = 1_000_000_000


class Brittle(Engine):
    """An engine whose core raises on one symbol: stands in for any bug a quote could hit."""

    poison = "VIX9D"
    fail_evaluation = False

    def ingest(self, quotes: Sequence[QuoteLike], wall_ns: int = 0) -> NDArray[np.int64]:
        if any(q.sym == self.poison for q in quotes):
            raise OverflowError("Python int too large to convert to C long")
        return super().ingest(quotes, wall_ns)

    def evaluate_stages(
        self, now_ns: int, wall_ns: int | None = None, *, priced: Valuation | None = None
    ) -> Stages[Cycle]:
        if self.fail_evaluation:
            raise ZeroDivisionError("a rule divided by zero")
        return super().evaluate_stages(now_ns, wall_ns, priced=priced)


def make_loop(
    r: aioredis.Redis,
    *,
    time_source: str = "wall",
    dead_raw_max_bytes: int = 65_536,
    max_entry_bytes: int | None = None,
) -> EngineLoop:
    base = settings.load().settings
    cfg = msgspec.structs.replace(
        base, engine=msgspec.structs.replace(base.engine, time_source=time_source)
    )
    layer = Layer(name="L1", legs=[Leg(symbol=LEG, quantity=4, entry_price=1.0)])
    portfolio = Portfolio(books=[Book(name="b", cash_usd=1e6, layers=[layer])])
    consumer = bus.QuoteConsumer(
        r, prefix=PREFIX, group="engine", consumer="c", block_ms=50, count=100,
        claim_idle_ms=60_000, dead_maxlen=1000, dead_raw_max_bytes=dead_raw_max_bytes,
        max_entry_bytes=max_entry_bytes,
    )  # fmt: skip
    return EngineLoop(
        engine=Brittle(cfg, portfolio),
        consumer=consumer,
        machine=AlertMachine(cooldown_s=0, repeat_interval_s=0),
        store=AlertStore(r, prefix=PREFIX),
        outbox=Outbox(r, prefix=PREFIX),
        metrics=PipelineMetrics(CollectorRegistry()),
        clock=FakeClock(NOW),
        known_feeds=frozenset({"sim"}),
    )


def qj(**fields: object) -> str:
    """One quote as the compact JSON an external producer would write."""
    return json.dumps(fields, separators=(",", ":"))


async def xadd(r: aioredis.Redis, payload: str, feed: str | None = None) -> None:
    fields = {"q": payload} | ({"f": feed} if feed else {})
    await r.xadd(bus.quotes_key(PREFIX), fields)  # type: ignore[arg-type]


async def turn(loop: EngineLoop) -> bus.Batch:
    """Read what the stream holds, apply it and acknowledge it (with its dead letters)."""
    batch = await loop.consumer.read(block_ms=0)
    await loop.apply(batch)
    return batch


async def dead(r: aioredis.Redis) -> list[dict[bytes, bytes]]:
    return [f for _i, f in await r.xrange(bus.dead_quotes_key(PREFIX))]


def rejected(loop: EngineLoop, feed: str, reason: str) -> float:
    value = loop.metrics.quotes_rejected.labels(feed=feed, reason=reason)._value.get()
    return float(value)


@pytest.fixture
async def loop(redis: aioredis.Redis) -> EngineLoop:
    loop = make_loop(redis)
    await loop.consumer.ensure_group()
    return loop


async def test_a_ts_beyond_int64_is_dead_lettered_and_acked(
    redis: aioredis.Redis, loop: EngineLoop
) -> None:
    await xadd(redis, qj(sym="VIX", ts=2**63))
    await xadd(redis, qj(sym="VIX", last=17.0, ts=NOW))
    await turn(loop)
    assert [f[b"reason"] for f in await dead(redis)] == [b"future_ts"]
    assert await loop.consumer.pending_count() == 0
    assert loop.engine.market.latest_ts_ns == NOW


async def test_a_quote_from_the_future_cannot_pin_a_leg(
    redis: aioredis.Redis, loop: EngineLoop
) -> None:
    year = 365 * 86_400 * NS
    await xadd(redis, qj(sym=LEG, bid=9.0, ask=9.2, ts=NOW + year))
    await xadd(redis, qj(sym=LEG, bid=1.0, ask=1.1, ts=NOW))
    await turn(loop)
    row = loop.engine.market.index[LEG]
    assert loop.engine.market.bid[row] == 1.0
    assert [f[b"reason"] for f in await dead(redis)] == [b"future_ts"]


async def test_within_the_skew_a_slightly_early_quote_is_accepted(
    redis: aioredis.Redis, loop: EngineLoop
) -> None:
    await xadd(redis, qj(sym="VIX", last=17.0, ts=NOW + NS))
    await turn(loop)
    assert await dead(redis) == []


async def test_on_market_time_the_window_follows_the_sessions_clock(redis: aioredis.Redis) -> None:
    loop = make_loop(redis, time_source="market")
    await loop.consumer.ensure_group()
    recorded = NOW - 30 * 86_400 * NS  # a recording a month old
    await xadd(redis, qj(sym="VIX", last=17.0, ts=recorded))
    await turn(loop)
    ten_days = 10 * 86_400 * NS  # still in the wall clock's past, far ahead of the session
    await xadd(redis, qj(sym="VIX9D", last=17.0, ts=recorded + ten_days))
    await xadd(redis, qj(sym="VIX", last=17.5, ts=recorded + 60 * NS))
    await turn(loop)
    assert [f[b"reason"] for f in await dead(redis)] == [b"future_ts"]
    assert loop.engine.market.latest_ts_ns == recorded + 60 * NS


async def test_an_entry_the_core_cannot_apply_is_dead_lettered_alone(
    redis: aioredis.Redis, loop: EngineLoop
) -> None:
    await xadd(redis, qj(sym="VIX", last=17.0, ts=NOW), feed="sim")
    await xadd(redis, qj(sym="VIX9D", last=16.0, ts=NOW), feed="sim")
    await xadd(redis, qj(sym="SPX", last=6000.0, ts=NOW), feed="sim")
    await turn(loop)
    letters = await dead(redis)
    assert [(f[b"reason"], f[b"raw"]) for f in letters] == [
        (b"internal_error", qj(sym="VIX9D", last=16.0, ts=NOW).encode())
    ]
    assert b"OverflowError" in letters[0][b"detail"]
    m = loop.engine.market
    assert m.last[m.index["VIX"]] == 17.0 and m.last[m.index["SPX"]] == 6000.0
    assert await loop.consumer.pending_count() == 0
    assert rejected(loop, "sim", "internal_error") == 1


async def test_a_failing_evaluation_dead_letters_its_entries_and_the_loop_goes_on(
    redis: aioredis.Redis, loop: EngineLoop
) -> None:
    assert isinstance(loop.engine, Brittle)
    loop.engine.fail_evaluation = True
    await xadd(redis, qj(sym=LEG, bid=1.0, ask=1.1, ts=NOW), feed="sim")
    await turn(loop)
    assert await loop.evaluate_guarded() is None
    assert [f[b"reason"] for f in await dead(redis)] == [b"internal_error"]
    loop.engine.fail_evaluation = False
    assert await loop.evaluate_guarded() is not None
    assert len(await dead(redis)) == 1


async def test_producer_names_outside_the_configured_feeds_share_one_label(
    redis: aioredis.Redis, loop: EngineLoop
) -> None:
    for i in range(50):
        await xadd(redis, qj(sym="VIX", last=17.0, ts=NOW + i), feed=f"writer-{i}")
    await xadd(redis, qj(sym="VIX", ts=0), feed="writer-x")
    await turn(loop)
    feeds = {
        s.labels["feed"]
        for metric in loop.metrics.quotes_ingested.collect()
        for s in metric.samples
    }
    assert feeds == {"external"}
    assert rejected(loop, "external", "missing_ts") == 1


async def test_a_dead_letter_copy_is_cut_to_the_configured_size(redis: aioredis.Redis) -> None:
    loop = make_loop(redis, dead_raw_max_bytes=1024)
    await loop.consumer.ensure_group()
    huge = "[" + ",".join([qj(sym="VIX", ts=0)] * 200_000) + ",{"  # ~4 MB, malformed
    await xadd(redis, huge)
    await turn(loop)
    [letter] = await dead(redis)
    assert letter[b"reason"] == b"bad_json"
    assert len(letter[b"raw"]) == 1024
    assert int(letter[b"raw_bytes"]) == len(huge)


async def test_an_entry_above_the_size_limit_is_rejected_undecoded(redis: aioredis.Redis) -> None:
    loop = make_loop(redis, max_entry_bytes=1 << 20, dead_raw_max_bytes=1024)
    await loop.consumer.ensure_group()
    quote = qj(sym="VIX", last=17.0, ts=NOW)
    huge = "[" + ",".join([quote] * 40_000) + "]"  # ~2 MB of valid quotes
    await xadd(redis, huge)
    await xadd(redis, quote)
    await turn(loop)
    [letter] = await dead(redis)
    assert letter[b"reason"] == b"entry_too_large"
    assert len(letter[b"raw"]) == 1024
    assert loop.engine.market.last[loop.engine.market.index["VIX"]] == 17.0
