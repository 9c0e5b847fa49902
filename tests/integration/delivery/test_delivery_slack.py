"""The Slack sink against a real receiver standing in for an incoming webhook."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from monitor.secrets import SecretRef
from monitor.sinks.config import RateLimitConfig, SlackSinkConfig
from tests.integration.delivery.support import (
    FAST_RETRY,
    FakeSleep,
    Receiver,
    ServiceFactory,
    event,
    events,
    running,
    sample,
    wait_for,
)


def slack_config(**kw: Any) -> SlackSinkConfig:
    kw.setdefault("retry", FAST_RETRY)
    return SlackSinkConfig(name="desk", webhook_url=SecretRef(env="TEST_SLACK_URL"), **kw)


def _texts(receiver: Receiver) -> list[str]:
    return [r.json()["text"] for r in receiver.accepted]


async def test_a_message_carries_blocks_and_a_text_fallback_with_what_triggered_it(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    service = make_service(slack_config())
    evt = event(severity="critical", subject="L1-DEC")
    async with running(service):
        await service.outbox.append([evt])
        await receiver.wait_messages(1)
    body = receiver.accepted[0].json()
    assert "CRITICAL" in body["text"] and "layer_gain" in body["text"] and "main" in body["text"]
    rendered = str(body["blocks"])
    for needle in ("L1-DEC", "gain ratio", "2.10", "12,600", "rolling layer-1", "FOMC 2026-12-16"):
        assert needle in rendered


async def test_a_resolved_message_says_resolved(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    service = make_service(slack_config())
    async with running(service):
        await service.outbox.append([event(status="resolved")])
        await receiver.wait_messages(1)
    assert "RESOLVED" in _texts(receiver)[0]


async def test_bursts_are_held_to_the_token_bucket_rate(
    make_service: ServiceFactory, receiver: Receiver, fake_sleep: FakeSleep
) -> None:
    service = make_service(slack_config(rate_limit=RateLimitConfig(per_s=1.0, burst=3)))
    async with running(service):
        await service.outbox.append(events(6))
        await receiver.wait_messages(6)
    assert fake_sleep.calls == pytest.approx([1.0, 1.0, 1.0])


async def test_429_retry_after_is_honoured(
    make_service: ServiceFactory, receiver: Receiver, fake_sleep: FakeSleep
) -> None:
    receiver.script = [(429, {"Retry-After": "12"}, "rate_limited")]
    service = make_service(slack_config())
    async with running(service):
        await service.outbox.append([event()])
        await receiver.wait_messages(1)
    assert 12.0 in fake_sleep.calls
    assert len(receiver.requests) == 2


@pytest.mark.parametrize(
    ("status", "code"), [(410, "channel_is_archived"), (404, "channel_not_found")]
)
async def test_a_gone_channel_disables_the_sink_logs_critical_and_sets_the_metric(
    make_service: ServiceFactory,
    receiver: Receiver,
    registry: CollectorRegistry,
    redis: aioredis.Redis,
    status: int,
    code: str,
) -> None:
    receiver.script = [(status, {}, code)]
    service = make_service(slack_config())
    with capture_logs() as logs:
        async with running(service):
            await service.outbox.append(events(2))
            await wait_for(lambda: not service.status()[0].enabled)
            await service.outbox.append([event()])
            await service.refresh_pending()
            assert sample(registry, "vixmon_alert_outbox_pending", sink="desk") == 3
    assert len(receiver.requests) == 1
    assert sample(registry, "vixmon_alert_sink_enabled", sink="desk") == 0
    disabled = [e for e in logs if e["event"] == "alert_sink_disabled"]
    assert disabled[0]["log_level"] == "critical"
    assert code in disabled[0]["error"]
    assert service.status()[0].last_error == f"HTTP {status}: {code}"
    assert await redis.xlen("{vixmon:alerts}:dead") == 0


async def test_an_invalid_payload_answer_dead_letters_that_message_only(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis
) -> None:
    receiver.script = [(400, {}, "invalid_blocks")]
    service = make_service(slack_config())
    batch = events(2)
    async with running(service):
        await service.outbox.append(batch)
        await receiver.wait_messages(1)
    dead = await redis.xrange("{vixmon:alerts}:dead")
    assert [f[b"error"] for _, f in dead] == [b"HTTP 400: invalid_blocks"]
    assert batch[1].summary in _texts(receiver)[0]
