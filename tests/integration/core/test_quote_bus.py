"""Quotes through a real Redis: consumer groups, acks, dead letters, recovery, trimming."""

from __future__ import annotations

import msgspec
import redis.asyncio as aioredis

from monitor import bus
from monitor.model import Quote

TS = 1_795_000_000_000_000_000


def consumer(r: aioredis.Redis, name: str, *, claim_idle_ms: int = 60_000) -> bus.QuoteConsumer:
    return bus.QuoteConsumer(
        r,
        prefix="t",
        group="engine",
        consumer=name,
        block_ms=50,
        count=100,
        claim_idle_ms=claim_idle_ms,
        dead_maxlen=1000,
    )


async def test_writer_batches_are_read_decoded_and_acked(redis: aioredis.Redis) -> None:
    writer = bus.QuoteWriter(redis, prefix="t", maxlen=1000)
    c = consumer(redis, "a")
    await c.ensure_group()
    await writer.publish("sim", [Quote(sym="VIX", last=17.0, ts=TS)] * 3)
    batch = await c.read()
    assert len(batch.quotes) == 3 and batch.accepted == {"sim": 3}
    await c.ack(batch)
    assert await c.pending_count() == 0


async def test_anyone_can_xadd_a_json_quote(redis: aioredis.Redis) -> None:
    c = consumer(redis, "a")
    await c.ensure_group()
    await redis.xadd("{t:quotes}", {"q": f'{{"sym":"VIX","bid":17.1,"ask":17.2,"ts":{TS}}}'})
    batch = await c.read()
    assert batch.quotes == [Quote(sym="VIX", bid=17.1, ask=17.2, ts=TS)]
    assert batch.accepted == {"external": 1}


async def test_rejects_go_to_the_dead_letter_stream_with_their_reason(
    redis: aioredis.Redis,
) -> None:
    c = consumer(redis, "a")
    await c.ensure_group()
    await redis.xadd("{t:quotes}", {"q": '{"sym":"VIX","bid":2,"ask":1,"ts":1}', "f": "ext"})
    batch = await c.read()
    await c.ack(batch)
    dead = await redis.xrange("{t:quotes}:dead")
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"reason"] == b"crossed" and fields[b"feed"] == b"ext"
    assert msgspec.json.decode(fields[b"raw"])["sym"] == "VIX"
    assert await c.pending_count() == 0


async def test_a_read_can_ack_the_previous_batch_in_the_same_round_trip(
    redis: aioredis.Redis,
) -> None:
    c = consumer(redis, "a")
    await c.ensure_group()
    await redis.xadd("{t:quotes}", {"q": b'{"sym":"VIX","last":-1,"ts":1}'})
    first = await c.read()
    assert first.rejects and await c.pending_count() == 1
    await redis.xadd("{t:quotes}", {"q": msgspec.json.encode(Quote(sym="VIX", last=17.0, ts=TS))})
    second = await c.read(ack=first)
    assert [q.last for q in second.quotes] == [17.0]
    assert await c.pending_count() == 1  # the first is acked, the second is not yet
    assert len(await redis.xrange("{t:quotes}:dead")) == 1
    third = await c.read(block_ms=0, ack=second)
    assert not third.ids and await c.pending_count() == 0


async def test_a_restarted_consumer_first_rereads_its_own_pending_entries(
    redis: aioredis.Redis,
) -> None:
    first = consumer(redis, "engine-1")
    await first.ensure_group()
    await redis.xadd("{t:quotes}", {"q": f'{{"sym":"VIX","last":17,"ts":{TS}}}'})
    unacked = await first.read()  # read, then "crash" before the ack
    assert len(unacked.ids) == 1
    again = consumer(redis, "engine-1")
    batch = await again.read()
    assert batch.ids == unacked.ids
    await again.ack(batch)
    assert await again.pending_count() == 0


async def test_entries_left_by_a_dead_consumer_are_claimed(redis: aioredis.Redis) -> None:
    dead = consumer(redis, "dead")
    await dead.ensure_group()
    await redis.xadd("{t:quotes}", {"q": f'{{"sym":"VIX","last":17,"ts":{TS}}}'})
    lost = await dead.read()
    survivor = consumer(redis, "alive", claim_idle_ms=0)
    claimed = await survivor.claim_abandoned()
    assert claimed.ids == lost.ids and claimed.quotes[0].sym == "VIX"
    await survivor.ack(claimed)
    assert await survivor.pending_count() == 0


async def test_a_lost_group_is_recreated(redis: aioredis.Redis) -> None:
    c = consumer(redis, "a")
    await c.ensure_group()
    await redis.xgroup_destroy("{t:quotes}", "engine")
    assert (await c.read()).ids == []
    groups = await redis.xinfo_groups("{t:quotes}")
    assert [g["name"] for g in groups] == [b"engine"]


async def test_the_stream_is_capped(redis: aioredis.Redis) -> None:
    writer = bus.QuoteWriter(redis, prefix="t", maxlen=100)
    for _ in range(600):
        await writer.publish("sim", [Quote(sym="VIX", last=17.0, ts=TS)])
    assert 100 <= await redis.xlen("{t:quotes}") < 300  # MAXLEN ~ trims whole nodes
