"""The webhook sink against a real receiver: signatures, retries, give-up, disable, order."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from standardwebhooks import Webhook
from structlog.testing import capture_logs

from monitor.secrets import SecretRef
from monitor.sinks.config import RetryConfig
from tests.integration.delivery.support import (
    HANG,
    OLD_SECRET,
    SECRET,
    FakeSleep,
    Receiver,
    ServiceFactory,
    event,
    events,
    ids_of,
    running,
    sample,
    wait_for,
    webhook_config,
)

DELIVERIES = "vixmon_alert_deliveries_total"


async def test_delivered_event_verifies_with_the_standardwebhooks_package(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    service = make_service()
    async with running(service):
        evt = event()
        await service.outbox.append([evt])
        await receiver.wait_accepted(1)
    req = receiver.requests[0]
    payload = Webhook(SECRET).verify(req.body, req.headers)
    assert req.webhook_id == evt.id
    assert payload["version"] == 1
    assert [e["id"] for e in payload["events"]] == [evt.id]


async def test_every_rotation_secret_signs_so_either_verifies(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    secrets = [SecretRef(env="TEST_WEBHOOK_OLD_SECRET"), SecretRef(env="TEST_WEBHOOK_SECRET")]
    service = make_service(webhook_config(signing_secrets=secrets))
    async with running(service):
        await service.outbox.append([event()])
        await receiver.wait_accepted(1)
    req = receiver.requests[0]
    assert len(req.headers["webhook-signature"].split(" ")) == 2
    Webhook(OLD_SECRET).verify(req.body, req.headers)
    Webhook(SECRET).verify(req.body, req.headers)


async def test_5xx_is_retried_with_the_same_id_and_body_after_exponential_backoff(
    make_service: ServiceFactory, receiver: Receiver, fake_sleep: FakeSleep
) -> None:
    retry = RetryConfig(initial_delay_s=1.0, multiplier=2.0, jitter=0.0, max_delay_s=60)
    receiver.script = [500, 502, 503]
    service = make_service(webhook_config(retry=retry))
    async with running(service):
        await service.outbox.append([event()])
        await receiver.wait_accepted(1)
    assert [r.status for r in receiver.requests] == [500, 502, 503, 200]
    assert len({r.webhook_id for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    assert fake_sleep.calls == [1.0, 2.0, 4.0]


async def test_jitter_only_shortens_the_backoff(
    make_service: ServiceFactory, receiver: Receiver, fake_sleep: FakeSleep
) -> None:
    retry = RetryConfig(initial_delay_s=1.0, multiplier=2.0, jitter=0.5, max_delay_s=60)
    receiver.script = [500] * 4
    service = make_service(webhook_config(retry=retry))
    async with running(service):
        await service.outbox.append([event()])
        await receiver.wait_accepted(1)
    for delay, nominal in zip(fake_sleep.calls, [1.0, 2.0, 4.0, 8.0], strict=True):
        assert nominal * 0.5 <= delay <= nominal


async def test_429_retry_after_is_honoured(
    make_service: ServiceFactory, receiver: Receiver, fake_sleep: FakeSleep
) -> None:
    receiver.script = [(429, {"Retry-After": "7"}, "slow down")]
    service = make_service()
    async with running(service):
        await service.outbox.append([event()])
        await receiver.wait_accepted(1)
    assert fake_sleep.calls == [7.0]


async def test_503_retry_after_is_honoured(
    make_service: ServiceFactory, receiver: Receiver, fake_sleep: FakeSleep
) -> None:
    receiver.script = [(503, {"Retry-After": "30"}, "maintenance")]
    service = make_service()
    async with running(service):
        await service.outbox.append([event()])
        await receiver.wait_accepted(1)
    assert fake_sleep.calls == [30.0]


async def test_a_receiver_hanging_past_the_timeout_is_retried(
    make_service: ServiceFactory, receiver: Receiver, registry: CollectorRegistry
) -> None:
    receiver.script = [HANG]
    service = make_service(webhook_config(timeout_s=0.1))
    with capture_logs() as logs:
        async with running(service):
            await service.outbox.append([event()])
            await receiver.wait_accepted(1)
    assert [r.status for r in receiver.requests] == [0, 200]
    assert sample(registry, DELIVERIES, sink="hook", outcome="retried") == 1
    failures = [e for e in logs if e["event"] == "alert_delivery_failed"]
    assert [f["error"] for f in failures] == ["timeout after 0.1 s"]


async def test_an_event_older_than_max_age_goes_to_the_dead_letter_stream_with_its_last_error(
    make_service: ServiceFactory,
    receiver: Receiver,
    redis: aioredis.Redis,
    registry: CollectorRegistry,
    fake_sleep: FakeSleep,
) -> None:
    retry = RetryConfig(initial_delay_s=60, max_delay_s=300, jitter=0.0, max_age_s=3600)
    receiver.default = (500, {}, "database on fire")
    service = make_service(webhook_config(retry=retry))
    async with running(service):
        evt = event(clock=fake_sleep.clock)
        await service.outbox.append([evt])
        dead = await redis.xread({"{vixmon:alerts}:dead": "0"}, block=10_000)
    (_, [(_, fields)]) = dead[0]
    assert fields[b"reason"] == b"max_age"
    assert b"HTTP 500: database on fire" in fields[b"error"]
    assert fields[b"sink"] == b"hook"
    assert evt.id.encode() in fields[b"event"]
    # counted from the outbox id (Redis's clock when queued): a few ms from the fake clock's
    assert sum(fake_sleep.calls) == pytest.approx(3600, abs=1.0)
    assert int(fields[b"attempts"]) == len(receiver.requests)
    assert sample(registry, DELIVERIES, sink="hook", outcome="dead") == 1
    assert (await redis.xpending("{vixmon:alerts}", "hook"))["pending"] == 0


async def test_a_malformed_request_answer_is_dead_lettered_at_once_and_the_next_event_flows(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis
) -> None:
    receiver.script = [(422, {}, "unprocessable")]
    service = make_service()
    async with running(service):
        first, second = events(2)
        await service.outbox.append([first, second])
        await receiver.wait_accepted(1)
    assert receiver.accepted_event_ids() == [second.id]
    dead = await redis.xrange("{vixmon:alerts}:dead")
    assert [f[b"reason"] for _, f in dead] == [b"rejected"]


async def test_410_disables_the_sink_and_keeps_its_events_in_the_outbox(
    make_service: ServiceFactory,
    receiver: Receiver,
    redis: aioredis.Redis,
    registry: CollectorRegistry,
) -> None:
    receiver.script = [410]
    service = make_service()
    async with running(service):
        await service.outbox.append(events(3))
        await wait_for(lambda: not service.status()[0].enabled)
        await service.refresh_pending()
        assert sample(registry, "vixmon_alert_sink_enabled", sink="hook") == 0
        assert sample(registry, "vixmon_alert_outbox_pending", sink="hook") == 3
    assert len(receiver.requests) == 1
    assert sample(registry, DELIVERIES, sink="hook", outcome="disabled") == 1
    assert await redis.xlen("{vixmon:alerts}:dead") == 0


async def test_events_arrive_in_stream_order_one_message_each(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    batch = events(20)
    service = make_service()
    async with running(service):
        await service.outbox.append(batch[:10])
        await service.outbox.append(batch[10:])
        await receiver.wait_accepted(20)
    assert receiver.accepted_event_ids() == ids_of(batch)
    assert [r.webhook_id for r in receiver.requests] == ids_of(batch)


async def test_a_receiver_down_for_a_while_gets_everything_in_order_with_ids_unchanged(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    batch = events(5)
    service = make_service(real_time=True)
    async with running(service):
        await service.outbox.append(batch[:2])
        await receiver.wait_accepted(2)
        await receiver.stop()
        await service.outbox.append(batch[2:])
        await wait_for(lambda: service.status()[0].last_error is not None)
        await receiver.start()
        await receiver.wait_accepted(5)
    assert receiver.accepted_event_ids() == ids_of(batch)
    assert [r.webhook_id for r in receiver.accepted] == ids_of(batch)


async def test_delivery_latency_is_observed_from_creation_to_2xx(
    make_service: ServiceFactory, receiver: Receiver, registry: CollectorRegistry
) -> None:
    service = make_service()
    async with running(service):
        await service.outbox.append(events(3))
        await receiver.wait_accepted(3)
        await wait_for(lambda: sample(registry, DELIVERIES, sink="hook", outcome="delivered") == 3)
    count = sample(registry, "vixmon_alert_delivery_latency_seconds_count", sink="hook")
    assert count == 3
