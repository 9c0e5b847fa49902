"""Fixtures for delivery tests: a receiver, a fake clock, and a service factory."""

from __future__ import annotations

import os
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from monitor.clock import Clock, FakeClock, LiveClock
from monitor.sinks.config import SinkConfig
from monitor.sinks.delivery import DeliveryService
from tests.integration.delivery.support import (
    OLD_SECRET,
    SECRET,
    FakeSleep,
    Receiver,
    ServiceFactory,
    live_clock_fake,
    webhook_config,
)


@pytest.fixture
def clock() -> FakeClock:
    return live_clock_fake()


@pytest.fixture
def fake_sleep(clock: FakeClock) -> FakeSleep:
    return FakeSleep(clock)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def environ(receiver: Receiver) -> dict[str, str]:
    return {
        **os.environ,
        "TEST_WEBHOOK_URL": receiver.url,
        "TEST_WEBHOOK_SECRET": SECRET,
        "TEST_WEBHOOK_OLD_SECRET": OLD_SECRET,
        "TEST_SLACK_URL": receiver.url,
    }


@pytest.fixture
def make_service(
    redis: aioredis.Redis,
    clock: FakeClock,
    fake_sleep: FakeSleep,
    registry: CollectorRegistry,
    environ: dict[str, str],
) -> ServiceFactory:
    """Build a service on the test Redis; by default time and sleeps are fake."""

    def build(
        *sinks: SinkConfig,
        real_time: bool = False,
        client: aioredis.Redis | None = None,
        consumer: str = "test",
        service_clock: Clock | None = None,
        **kw: Any,
    ) -> DeliveryService:
        if real_time:
            kw.setdefault("clock", service_clock or LiveClock())
        else:
            kw.setdefault("clock", service_clock or clock)
            kw.setdefault("sleep", fake_sleep)
        kw.setdefault("registry", registry)
        return DeliveryService(
            client or redis,
            list(sinks) or [webhook_config()],
            consumer=consumer,
            environ=environ,
            read_block_s=0.2,
            **kw,
        )

    return build
