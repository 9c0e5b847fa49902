"""drain(): in-flight work finishes, waits are cut short, undelivered events stay in the outbox."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from monitor.sinks.config import LogSinkConfig, RetryConfig
from tests.integration.delivery.support import (
    GATED,
    HANG,
    Receiver,
    ServiceFactory,
    event,
    events,
    ids_of,
    running,
    wait_blocked_reader,
    wait_for,
    webhook_config,
)


async def _pending(redis: aioredis.Redis, group: str = "hook") -> int:
    return int((await redis.xpending("{vixmon:alerts}", group))["pending"])


async def test_drain_of_an_idle_service_returns_at_once_and_run_ends(
    make_service: ServiceFactory, redis: aioredis.Redis
) -> None:
    service = make_service(real_time=True)
    task = asyncio.create_task(service.run())
    await wait_blocked_reader(redis)
    started = time.monotonic()
    await service.drain(5.0)
    await asyncio.wait_for(task, 1.0)
    assert time.monotonic() - started < 0.5


async def test_drain_lets_the_in_flight_delivery_and_what_was_read_finish(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis
) -> None:
    batch = events(3)
    service = make_service(real_time=True)
    await service.prepare()
    await service.outbox.append(batch)  # before run: one read takes all three
    receiver.script = [GATED]
    task = asyncio.create_task(service.run())
    await receiver.wait_until(lambda r: len(r.requests) == 1)
    drain = asyncio.create_task(service.drain(5.0))
    receiver.gate.set()
    await drain
    await asyncio.wait_for(task, 1.0)
    assert receiver.accepted_event_ids() == ids_of(batch)
    assert await _pending(redis) == 0


async def test_drain_does_not_retry_an_attempt_that_fails_during_it(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis
) -> None:
    receiver.script = [HANG]
    service = make_service(webhook_config(timeout_s=0.2), real_time=True)
    task = asyncio.create_task(service.run())
    await service.outbox.append([event()])
    await receiver.wait_until(lambda r: len(r.requests) == 1)
    await service.drain(5.0)
    await asyncio.wait_for(task, 1.0)
    assert len(receiver.requests) == 1
    assert await _pending(redis) == 1  # delivered after the next start


async def test_drain_timeout_cancels_a_hung_attempt_and_the_event_stays_pending(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis
) -> None:
    receiver.script = [HANG]
    service = make_service(webhook_config(timeout_s=30), real_time=True)
    task = asyncio.create_task(service.run())
    await service.outbox.append([event()])
    await receiver.wait_until(lambda r: len(r.requests) == 1)
    started = time.monotonic()
    with capture_logs() as logs:
        await service.drain(0.2)
    await asyncio.wait_for(task, 1.0)
    assert time.monotonic() - started < 1.0
    assert await _pending(redis) == 1
    assert [e["event"] for e in logs] == ["alert_drain_timeout"]


async def test_drain_does_not_wait_out_a_backoff(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis
) -> None:
    receiver.default = 500
    retry = RetryConfig(initial_delay_s=60.0, jitter=0.0)
    service = make_service(webhook_config(retry=retry), real_time=True)
    task = asyncio.create_task(service.run())
    await service.outbox.append([event()])
    await receiver.wait_until(lambda r: len(r.requests) == 1)
    started = time.monotonic()
    await service.drain(5.0)
    await asyncio.wait_for(task, 1.0)
    assert time.monotonic() - started < 0.5
    assert await _pending(redis) == 1


async def test_a_broken_sink_does_not_hold_up_another(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    receiver.default = 503
    batch = events(4)
    service = make_service(webhook_config(), LogSinkConfig(name="log"), real_time=True)
    with capture_logs() as logs:
        async with running(service):
            await service.outbox.append(batch)
            await wait_for(lambda: sum(e["event"] == "alert" for e in logs) == 4)
            assert receiver.accepted == []
    assert [e["alert_id"] for e in logs if e["event"] == "alert"] == ids_of(batch)


async def test_a_fresh_outbox_is_read_from_its_start(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    early = event()
    service = make_service()
    await service.outbox.append([early])  # appended before any group exists
    async with running(service):
        await receiver.wait_accepted(1)
    assert receiver.accepted_event_ids() == [early.id]


async def test_a_sink_added_later_starts_with_the_events_after_it(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    old = make_service(LogSinkConfig(name="log"))
    await old.prepare()
    await old.outbox.append([event()])  # history the new sink must not replay
    service = make_service(
        LogSinkConfig(name="log"), webhook_config(), registry=CollectorRegistry()
    )
    async with running(service):
        newer = event()
        await service.outbox.append([newer])
        await receiver.wait_accepted(1)
    assert receiver.accepted_event_ids() == [newer.id]
