"""The engine's head start for delivery: after appending alerts it waits (briefly) until every
sink has tried them, so a fresh alert is not queued behind quote batches in the event loop."""

from __future__ import annotations

import redis.asyncio as aioredis

from monitor.sinks.config import RetryConfig
from tests.integration.delivery.support import (
    GATED,
    Receiver,
    ServiceFactory,
    event,
    running,
    wait_blocked_reader,
    webhook_config,
)


async def test_head_start_returns_once_the_sink_has_sent_the_new_alert(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis
) -> None:
    service = make_service()
    async with running(service):
        await wait_blocked_reader(redis)
        [outbox_id] = await service.outbox.append([evt := event()])
        assert await service.head_start(outbox_id, timeout_s=10.0)
        assert receiver.accepted_event_ids() == [evt.id]


async def test_head_start_gives_up_after_its_timeout_while_the_receiver_holds_the_request(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    receiver.default = GATED
    service = make_service()
    async with running(service):
        [outbox_id] = await service.outbox.append([event()])
        await receiver.wait_until(lambda r: len(r.requests) == 1)
        assert not await service.head_start(outbox_id, timeout_s=0.05)
        receiver.gate.set()
        assert await service.head_start(outbox_id, timeout_s=10.0)


async def test_a_sink_backing_off_counts_as_having_tried(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis
) -> None:
    receiver.default = 503
    retry = RetryConfig(initial_delay_s=60.0, jitter=0.0, max_delay_s=60.0)
    service = make_service(webhook_config(retry=retry), real_time=True)
    async with running(service):
        await wait_blocked_reader(redis)
        [outbox_id] = await service.outbox.append([event()])
        assert await service.head_start(outbox_id, timeout_s=10.0)
        assert [r.status for r in receiver.requests] == [503]


async def test_a_disabled_sink_does_not_hold_the_engine(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis
) -> None:
    receiver.default = 410
    service = make_service()
    async with running(service):
        await wait_blocked_reader(redis)
        [first] = await service.outbox.append([event()])
        assert await service.head_start(first, timeout_s=10.0)
        [second] = await service.outbox.append([event()])
        assert await service.head_start(second, timeout_s=10.0)
        assert len(receiver.requests) == 1
