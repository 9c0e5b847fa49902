"""kill -9 in the middle of a burst, then restart: every event arrives, with its original id."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from monitor.sinks.outbox import Outbox
from tests.integration.delivery.support import (
    HANG,
    SECRET,
    Receiver,
    ServiceFactory,
    events,
    ids_of,
    running,
    webhook_config,
)
from tests.support.daemon import ROOT

pytestmark = pytest.mark.slow


class DeliveryProcess:
    """``delivery_proc`` as a real subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, redis_url: str, consumer: str, receiver: Receiver) -> DeliveryProcess:
        env = {**os.environ, "TEST_WEBHOOK_URL": receiver.url, "TEST_WEBHOOK_SECRET": SECRET}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.delivery.delivery_proc", redis_url, consumer,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            async for raw in proc.stdout:
                if _event(raw) == "delivery_ready":
                    return cls(proc)
        raise AssertionError(f"delivery_proc exited with {await proc.wait()}")

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()  # SIGKILL: no drain, no ack, no goodbye
        await self.proc.wait()


def _event(raw: bytes) -> str | None:
    try:
        return str(json.loads(raw).get("event"))
    except ValueError:
        return None


@pytest.fixture
async def procs() -> AsyncIterator[list[DeliveryProcess]]:
    started: list[DeliveryProcess] = []
    yield started
    for p in started:
        await p.kill()


async def test_kill_9_mid_burst_then_restart_delivers_every_event_in_order_with_its_id(
    redis_url: str, redis: aioredis.Redis, receiver: Receiver, procs: list[DeliveryProcess]
) -> None:
    burst = events(40)
    receiver.script = [200] * 12 + [HANG]  # the 13th delivery is in flight when we kill
    procs.append(await DeliveryProcess.start(redis_url, "host-111", receiver))
    await Outbox(redis).append(burst)
    await receiver.wait_until(lambda r: len(r.requests) == 13)
    await procs[0].kill()
    assert len(receiver.accepted) == 12

    procs.append(await DeliveryProcess.start(redis_url, "host-222", receiver))
    await receiver.wait_accepted(40, timeout_s=20)

    assert receiver.accepted_event_ids() == ids_of(burst)
    for req in receiver.requests:
        assert req.webhook_id == req.event_ids[0]
    assert receiver.requests[12].webhook_id == receiver.accepted[12].webhook_id


async def test_entries_left_pending_by_a_dead_consumer_are_claimed_by_the_next(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    batch = events(3)
    receiver.script = [HANG]
    first = make_service(
        webhook_config(timeout_s=30),
        real_time=True,
        consumer="old-host",
        registry=CollectorRegistry(),
    )
    task = asyncio.create_task(first.run())
    await first.outbox.append(batch)
    await receiver.wait_until(lambda r: len(r.requests) == 1)
    task.cancel()  # a crash: nothing drained, nothing acked
    await asyncio.gather(task, return_exceptions=True)

    second = make_service(webhook_config(), real_time=True, consumer="new-host")
    async with running(second):
        await receiver.wait_accepted(3)
    assert receiver.accepted_event_ids() == ids_of(batch)
