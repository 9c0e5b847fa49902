"""After a receiver's outage: the healed endpoint gets everything that queued, in order, under
the ids it would have had; a Slack backlog goes out grouped within Slack's rate; an alert's
age counts from when it was queued, not from its (market) time."""

from __future__ import annotations

import re
from typing import Any

import redis.asyncio as aioredis

from monitor.secrets import SecretRef
from monitor.sinks.config import RateLimitConfig, RetryConfig, SlackSinkConfig
from tests.integration.delivery.support import (
    FAST_RETRY,
    FakeSleep,
    Receiver,
    ServiceFactory,
    event,
    events,
    ids_of,
    running,
    webhook_config,
)

NS = 1_000_000_000


def slack_config(**kw: Any) -> SlackSinkConfig:
    kw.setdefault("retry", FAST_RETRY)
    return SlackSinkConfig(name="desk", webhook_url=SecretRef(env="TEST_SLACK_URL"), **kw)


def _summaries_in(receiver: Receiver) -> list[str]:
    """Every alert summary the accepted Slack messages show, in the order they show them."""
    found: list[str] = []
    for request in receiver.accepted:
        blocks = str(request.json()["blocks"])
        found += re.findall(r"entry cost \(threshold 2\.0x\) #\d+", blocks)
    return found


async def test_after_an_outage_the_backlog_arrives_in_order_each_under_its_own_webhook_id(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    service = make_service(webhook_config())
    first, backlog = event(), events(40)
    async with running(service):
        await receiver.stop()  # connections refused: the receiver is down
        await service.outbox.append([first])
        await service.outbox.append(backlog)
        await receiver.start()  # healed, on the same port
        await receiver.wait_accepted(41)
    assert receiver.accepted_event_ids() == ids_of([first, *backlog])
    assert [r.webhook_id for r in receiver.accepted] == ids_of([first, *backlog])


async def test_a_message_retried_through_an_outage_keeps_its_webhook_id(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    receiver.default = 503
    service = make_service(webhook_config())
    first, backlog = event(), events(5)
    async with running(service):
        await service.outbox.append([first])
        await receiver.wait_until(lambda r: len(r.requests) >= 3)
        await service.outbox.append(backlog)
        receiver.default = 200
        await receiver.wait_accepted(6)
    failed = [r.webhook_id for r in receiver.requests if r.status == 503]
    assert len(failed) >= 3
    assert set(failed) == {first.id}
    assert receiver.accepted_event_ids() == ids_of([first, *backlog])


async def test_a_slack_backlog_goes_out_grouped_in_order_with_every_alert_shown(
    make_service: ServiceFactory, receiver: Receiver, fake_sleep: FakeSleep
) -> None:
    receiver.default = 503
    service = make_service(slack_config(rate_limit=RateLimitConfig(per_s=1.0, burst=3)))
    first, backlog = event(), events(300)
    async with running(service):
        await service.outbox.append([first])
        await receiver.wait_until(lambda r: len(r.requests) >= 2)
        await service.outbox.append(backlog)
        receiver.default = 200
        await receiver.wait_until(lambda r: len(_summaries_in(r)) >= 301)
    expected = [re.search(r"entry cost.*#\d+", e.summary) for e in [first, *backlog]]
    assert _summaries_in(receiver) == [m.group(0) for m in expected if m]
    # the retried message, then 300 queued alerts in 100-alert messages
    assert len(receiver.accepted) == 4
    assert all(len(r.json()["blocks"]) <= 50 for r in receiver.accepted)


async def test_an_alert_stamped_long_ago_by_a_replay_is_retried_not_dead_lettered(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis, fake_sleep: FakeSleep
) -> None:
    receiver.script = [500, 500]
    retry = RetryConfig(initial_delay_s=1.0, jitter=0.0, max_age_s=3600)
    service = make_service(webhook_config(retry=retry))
    a_year_ago = fake_sleep.clock.now_ns() - 365 * 86_400 * NS
    replayed = event(ts_ns=a_year_ago)
    async with running(service):
        await service.outbox.append([replayed])
        await receiver.wait_accepted(1)
    assert receiver.accepted_event_ids() == [replayed.id]
    assert await redis.xlen("{vixmon:alerts}:dead") == 0
