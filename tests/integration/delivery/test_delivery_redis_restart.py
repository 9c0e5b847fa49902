"""Redis restarts under a running delivery service: with AOF nothing is lost; without it the lost
consumer groups are recreated and a critical data-loss alert goes out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from monitor.redis_server import EmbeddedRedis
from monitor.sinks.config import LogSinkConfig
from tests.integration.delivery.support import (
    Receiver,
    ServiceFactory,
    event,
    running,
    sample,
    webhook_config,
)


async def _server(tmp_path: Path, *, persistent: bool) -> AsyncIterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis", persistent=persistent)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def aof_server(tmp_path: Path) -> AsyncIterator[EmbeddedRedis]:
    async for server in _server(tmp_path, persistent=True):
        yield server


@pytest.fixture
async def volatile_server(tmp_path: Path) -> AsyncIterator[EmbeddedRedis]:
    async for server in _server(tmp_path, persistent=False):
        yield server


async def _client(server: EmbeddedRedis) -> aioredis.Redis:
    return aioredis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)


def _rules(receiver: Receiver) -> list[str]:
    return [e["rule"] for r in receiver.accepted for e in r.json()["events"]]


async def test_a_redis_restart_with_aof_loses_nothing(
    aof_server: EmbeddedRedis,
    make_service: ServiceFactory,
    receiver: Receiver,
    registry: CollectorRegistry,
) -> None:
    client = await _client(aof_server)
    service = make_service(webhook_config(), real_time=True, client=client)
    first, second = event(), event()
    receiver.default = 503
    async with running(service):
        await service.outbox.append([first])
        await receiver.wait_until(lambda r: len(r.requests) >= 1)
        await aof_server.stop()  # pending in the group while Redis is down
        await aof_server.start()
        receiver.default = 200
        await receiver.wait_accepted(1)
        await service.outbox.append([second])
        await receiver.wait_accepted(2)
    assert receiver.accepted_event_ids() == [first.id, second.id]
    assert (await client.xpending("{vixmon:alerts}", "hook"))["pending"] == 0
    assert await client.xlen("{vixmon:alerts}") == 2
    assert sample(registry, "vixmon_alert_outbox_data_loss_total") == 0
    await client.aclose()


async def test_a_redis_restart_that_lost_the_groups_recreates_them_and_raises_data_loss(
    volatile_server: EmbeddedRedis,
    make_service: ServiceFactory,
    receiver: Receiver,
    registry: CollectorRegistry,
) -> None:
    client = await _client(volatile_server)
    service = make_service(webhook_config(), LogSinkConfig(), real_time=True, client=client)
    before, after = event(), event()
    with capture_logs() as logs:
        async with running(service):
            await service.outbox.append([before])
            await receiver.wait_accepted(1)
            await volatile_server.stop()
            await volatile_server.start()
            await receiver.wait_until(lambda r: "data_loss" in _rules(r))
            await service.outbox.append([after])
            await receiver.wait_accepted(3)
    assert _rules(receiver) == ["layer_gain", "data_loss", "layer_gain"]
    loss = receiver.accepted[1].json()["events"][0]
    assert loss["severity"] == "critical"
    assert receiver.accepted_event_ids()[2] == after.id
    assert sample(registry, "vixmon_alert_outbox_data_loss_total") == 1
    critical = [e for e in logs if e["event"] == "alert_outbox_data_loss"]
    assert len(critical) == 1
    assert critical[0]["log_level"] == "critical"
    assert set(critical[0]["recreated_groups"]) == {"hook", "log"}
    await client.aclose()


async def test_a_group_destroyed_under_a_running_sink_resumes_after_what_it_had_read(
    make_service: ServiceFactory, receiver: Receiver, redis: aioredis.Redis
) -> None:
    service = make_service(webhook_config(), real_time=True)
    old, new = event(), event()
    async with running(service):
        await service.outbox.append([old])
        await receiver.wait_accepted(1)
        await redis.xgroup_destroy("{vixmon:alerts}", "hook")
        await receiver.wait_until(lambda r: "data_loss" in _rules(r))
        await service.outbox.append([new])
        await receiver.wait_accepted(3)
    assert receiver.accepted_event_ids()[0] == old.id
    assert _rules(receiver) == ["layer_gain", "data_loss", "layer_gain"]
    assert receiver.accepted_event_ids()[2] == new.id
