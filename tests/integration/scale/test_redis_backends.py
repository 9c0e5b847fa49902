"""vixmon's Redis components against Debian's Redis 7 and a real 3-master Redis Cluster.

Each test that takes ``backend`` runs once per deployment (tests/support/redis_servers.py).
On the cluster every multi-key round trip must stay within one hash slot (``monitor.keys``):
the quote path within ``{vixmon:quotes}``, the alert path within ``{vixmon:alerts}``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from redis.asyncio.client import Pipeline
from redis.exceptions import ClusterCrossSlotError, CrossSlotTransactionError, MovedError
from standardwebhooks import Webhook

from monitor import keys
from monitor.alert_store import AlertStore
from monitor.alerts import KeyState
from monitor.bus import QuoteConsumer, QuoteWriter
from monitor.clock import LiveClock
from monitor.model import Quote
from monitor.sinks.delivery import DeliveryService
from monitor.sinks.outbox import FIELD_EVENT, Outbox, OutboxGroup, create_group, decode_event
from tests.integration.delivery.support import (
    SECRET,
    Receiver,
    event,
    events,
    ids_of,
    running,
    webhook_config,
)
from tests.support.redis_servers import Backend, node_client

PREFIX = "vixmon"
TS = 1_795_000_000_000_000_000


def quote_consumer(backend: Backend, name: str, *, claim_idle_ms: int = 60_000) -> QuoteConsumer:
    """A consumer that accepts quotes stamped up to ``TS`` (later ones are ``future_ts``)."""
    return QuoteConsumer(
        backend.client, prefix=PREFIX, group="engine", consumer=name, block_ms=50, count=100,
        claim_idle_ms=claim_idle_ms, dead_maxlen=1000, ts_ceiling=lambda: TS,
    )  # fmt: skip


def vix(last: float, ts: int = TS) -> Quote:
    return Quote(sym="VIX", last=last, ts=ts)


async def wait_blocked(node: aioredis.Redis, timeout_s: float = 10.0) -> None:
    """Wait until a client is blocked on ``node`` (Redis announces nothing: poll INFO)."""
    deadline = time.monotonic() + timeout_s
    while (await node.info("clients"))["blocked_clients"] < 1:
        assert time.monotonic() < deadline, "no client blocked in Redis"
        await asyncio.sleep(0.005)


async def stream(backend: Backend, key: str) -> list[tuple[str, dict[bytes, bytes]]]:
    """Return every entry of stream ``key``: (id, fields)."""
    entries: Any = await backend.client.xrange(key)
    return [(i.decode(), fields) for i, fields in entries]


# quotes: {vixmon:quotes}


async def test_published_quotes_are_read_through_the_consumer_group(backend: Backend) -> None:
    consumer = quote_consumer(backend, "a")
    await consumer.ensure_group()
    await QuoteWriter(backend.client, prefix=PREFIX, maxlen=1000).publish("sim", [vix(17.0)] * 3)
    batch = await consumer.read()
    assert [q.last for q in batch.quotes] == [17.0] * 3 and batch.accepted == {"sim": 3}
    assert await consumer.lag() == 0  # Redis 7 counts it
    await consumer.ack(batch)
    assert await consumer.pending_count() == 0


async def test_a_blocked_read_has_already_acked_and_dead_lettered_the_previous_batch(
    backend: Backend,
) -> None:
    writer = QuoteWriter(backend.client, prefix=PREFIX, maxlen=1000)
    consumer = quote_consumer(backend, "a")
    await consumer.ensure_group()
    await writer.publish("sim", [vix(17.0), vix(18.0, ts=TS + 1)])
    first = await consumer.read()
    assert [q.last for q in first.quotes] == [17.0]
    assert [r.reason for _, _, r in first.rejects] == ["future_ts"]
    assert not (await consumer.read(block_ms=0)).ids  # own pending entries are done

    node = await node_client(backend, keys.quotes(PREFIX))
    reading = asyncio.create_task(consumer.read(block_ms=2000, ack=first))
    await wait_blocked(node)
    dead = await stream(backend, keys.quotes_dead(PREFIX))
    assert [(f[b"reason"], f[b"entry"]) for _, f in dead] == [(b"future_ts", first.ids[0])]
    assert await consumer.pending_count() == 0
    await writer.publish("sim", [vix(19.0)])
    second = await reading
    assert [q.last for q in second.quotes] == [19.0]
    await node.aclose()


async def test_entries_a_dead_consumer_left_pending_are_claimed_by_another(
    backend: Backend,
) -> None:
    dead = quote_consumer(backend, "dead")
    await dead.ensure_group()
    await QuoteWriter(backend.client, prefix=PREFIX, maxlen=1000).publish("sim", [vix(17.0)])
    lost = await dead.read()
    heir = quote_consumer(backend, "heir", claim_idle_ms=0)
    claimed = await heir.claim_abandoned()
    assert claimed.ids == lost.ids and [q.last for q in claimed.quotes] == [17.0]
    await heir.ack(claimed)
    assert await heir.pending_count() == 0


# alerts: {vixmon:alerts}


async def test_an_alert_cycle_appends_events_and_saves_states_in_one_transaction(
    backend: Backend,
) -> None:
    store = AlertStore(backend.client, prefix=PREFIX)
    changed = {"layer_gain|main|layer-1": KeyState(firing=True, notified=True, since_ns=TS)}
    cycle = events(2)
    ids = await Outbox(backend.client, prefix=PREFIX).append(
        cycle, then=lambda pipe: store.save_in(pipe, changed)
    )
    stored = await stream(backend, keys.outbox(PREFIX))
    assert [i for i, _ in stored] == ids
    assert [decode_event(f[FIELD_EVENT]).id for _, f in stored] == ids_of(cycle)
    assert await store.load() == changed


async def test_a_sink_dead_letters_and_acks_its_entries_in_one_transaction(
    backend: Backend,
) -> None:
    await Outbox(backend.client, prefix=PREFIX).append(events(2))
    group = OutboxGroup(backend.client, prefix=PREFIX, group="hook", consumer="c")
    await create_group(backend.client, group.key, group.group, start_id="0")
    entries = await group.read(">", count=10, block_ms=None)
    await group.dead_letter(
        entries, sink="hook", reason="rejected", error="400", attempts=1, now_ns=TS
    )
    dead = await stream(backend, keys.outbox_dead(PREFIX))
    assert [f[b"outbox_id"].decode() for _, f in dead] == [i for i, _ in entries]
    assert await group.pending() == 0


async def test_a_restarted_sink_claims_what_its_previous_consumer_left_pending(
    backend: Backend,
) -> None:
    await Outbox(backend.client, prefix=PREFIX).append(events(3))
    old = OutboxGroup(backend.client, prefix=PREFIX, group="hook", consumer="old")
    await create_group(backend.client, old.key, old.group, start_id="0")
    assert len(await old.read(">", count=10, block_ms=None)) == 3
    new = OutboxGroup(backend.client, prefix=PREFIX, group="hook", consumer="new")
    assert await new.claim_all() == 3
    assert len(await new.read("0", count=10, block_ms=None)) == 3


@pytest.mark.parametrize("backend", ["cluster"], indirect=True)
async def test_the_cluster_refuses_one_round_trip_across_two_hash_tags(backend: Backend) -> None:
    def stray(pipe: Pipeline) -> None:
        pipe.xadd(keys.quotes(PREFIX), {b"q": b"{}"})

    with pytest.raises(CrossSlotTransactionError):  # redis-py refuses before sending
        await Outbox(backend.client, prefix=PREFIX).append([event()], then=stray)
    assert await backend.client.xlen(keys.outbox(PREFIX)) == 0

    node = await node_client(backend, keys.outbox(PREFIX))
    # the servers refuse too: a raw MULTI to the outbox's master is redirected (MOVED: the
    # quote tag's slot is on another master), and a script over both tags is CROSSSLOT
    with pytest.raises((MovedError, ClusterCrossSlotError)):
        async with node.pipeline(transaction=True) as pipe:
            pipe.xadd(keys.outbox(PREFIX), {b"e": b"{}"})
            pipe.xadd(keys.quotes(PREFIX), {b"q": b"{}"})
            await pipe.execute()
    with pytest.raises(ClusterCrossSlotError, match="same slot"):
        await node.eval("return 1", 2, keys.outbox(PREFIX), keys.quotes(PREFIX))
    assert await node.xlen(keys.outbox(PREFIX)) == 0
    await node.aclose()


# delivery: outbox -> webhook


async def test_an_outbox_event_is_delivered_to_a_webhook_and_acked(
    backend: Backend, receiver: Receiver
) -> None:
    service = DeliveryService(
        backend.client, [webhook_config()], prefix=PREFIX, clock=LiveClock(),
        registry=CollectorRegistry(), consumer="test", read_block_s=0.2,
        environ={**os.environ, "TEST_WEBHOOK_URL": receiver.url, "TEST_WEBHOOK_SECRET": SECRET},
    )  # fmt: skip
    alert = event()
    async with running(service):
        await service.outbox.append([alert])
        await receiver.wait_accepted(1)
    request = receiver.requests[0]
    assert Webhook(SECRET).verify(request.body, request.headers)["events"][0]["id"] == alert.id
    group = OutboxGroup(backend.client, prefix=PREFIX, group="hook", consumer="check")
    assert await group.pending() == 0
