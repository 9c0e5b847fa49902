"""The outbox stream itself, the log sink, and entries that cannot be delivered."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError
from structlog.testing import capture_logs

from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine
from monitor.rules.base import Signal
from monitor.sinks.config import LogSinkConfig
from monitor.sinks.outbox import Outbox, decode_event
from tests.integration.delivery.support import (
    Receiver,
    ServiceFactory,
    event,
    events,
    ids_of,
    running,
    sample,
    wait_for,
)


async def test_append_writes_every_event_in_order_and_returns_their_ids(
    redis: aioredis.Redis,
) -> None:
    batch = events(3)
    ids = await Outbox(redis).append(batch)
    entries = await redis.xrange("{vixmon:alerts}")
    assert [i.decode() for i, _ in entries] == ids
    assert [decode_event(f[b"event"]) for _, f in entries] == batch


async def test_append_writes_the_events_and_what_then_queues_in_one_transaction(
    redis: aioredis.Redis,
) -> None:
    states = AlertStore(redis, prefix="vixmon")
    machine = AlertMachine(cooldown_s=0, repeat_interval_s=0)
    breach = Signal(rule="layer_gain", book="b", subject="L1@1.5", condition="breach",
                    severity="warning", summary="layer L1 gain +160% at or above 150%")  # fmt: skip
    transition = machine.step([breach], 1_795_000_000_000_000_000)
    ids = await Outbox(redis).append(
        transition.events, then=lambda pipe: states.save_in(pipe, transition.changed)
    )
    assert len(ids) == 1 and await redis.xlen("{vixmon:alerts}") == 1
    assert await states.load() == machine.states


async def test_a_transaction_redis_refuses_appends_nothing(redis: aioredis.Redis) -> None:
    def broken(pipe: Pipeline) -> None:
        pipe.execute_command("HSET", "{vixmon:alerts}:state")  # too few arguments: refused

    with pytest.raises(ResponseError):
        await Outbox(redis).append(events(2), then=broken)
    assert await redis.exists("{vixmon:alerts}") == 0


async def test_append_of_nothing_writes_nothing(redis: aioredis.Redis) -> None:
    assert await Outbox(redis).append([]) == []
    assert await redis.exists("{vixmon:alerts}") == 0


async def test_append_caps_the_stream_near_maxlen(redis: aioredis.Redis) -> None:
    outbox = Outbox(redis, prefix="capped", maxlen=10)
    for _ in range(30):
        await outbox.append(events(10))
    assert await redis.xlen("{capped:alerts}") < 300


async def test_the_log_sink_writes_one_line_per_event_at_its_severity_and_resolved_at_info(
    make_service: ServiceFactory,
) -> None:
    batch = [event(severity="critical"), event(severity="warning", status="resolved")]
    service = make_service(LogSinkConfig())
    with capture_logs() as logs:
        async with running(service):
            await service.outbox.append(batch)
            await wait_for(lambda: sum(e["event"] == "alert" for e in logs) == 2)
    lines = [e for e in logs if e["event"] == "alert"]
    assert [(line["alert_id"], line["log_level"]) for line in lines] == [
        (batch[0].id, "critical"),
        (batch[1].id, "info"),
    ]
    first = lines[0]
    assert first["rule"] == "layer_gain" and first["book"] == "main"
    assert first["values"]["gain_ratio"] == 2.1
    assert first["action"] == batch[0].action
    assert first["context"] == {"next_macro_event": "FOMC 2026-12-16 19:00Z"}


async def test_an_undecodable_entry_is_dead_lettered_and_the_next_one_delivered(
    make_service: ServiceFactory,
    receiver: Receiver,
    redis: aioredis.Redis,
    registry: CollectorRegistry,
) -> None:
    good = event()
    service = make_service()
    async with running(service):
        await redis.xadd("{vixmon:alerts}", {b"event": b"{not json"})
        await service.outbox.append([good])
        await receiver.wait_accepted(1)
    assert receiver.accepted_event_ids() == [good.id]
    ((_, fields),) = await redis.xrange("{vixmon:alerts}:dead")
    assert fields[b"reason"] == b"undeliverable"
    assert fields[b"error"].startswith(b"undecodable outbox entry")
    assert sample(registry, "vixmon_alert_deliveries_total", sink="hook", outcome="dead") == 1


async def test_an_entry_trimmed_while_pending_is_dead_lettered_as_lost(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis
) -> None:
    batch = events(3)
    receiver.script = [500]
    service = make_service(consumer="test")
    await service.prepare()
    ids = await service.outbox.append(batch)
    await redis.xreadgroup("hook", "test", {"{vixmon:alerts}": ">"})  # pending, as after a crash
    await redis.xdel("{vixmon:alerts}", ids[1])  # what MAXLEN trimming does to a slow sink
    async with running(service):
        await receiver.wait_accepted(2)
    assert receiver.accepted_event_ids() == ids_of([batch[0], batch[2]])
    ((_, fields),) = await redis.xrange("{vixmon:alerts}:dead")
    assert fields[b"outbox_id"] == ids[1].encode()
    assert b"trimmed" in fields[b"error"]
