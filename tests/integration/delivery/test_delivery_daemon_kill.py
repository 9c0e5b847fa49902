"""kill -9 of a real ``vixmon run`` in the middle of a burst of alert deliveries, then restart:
every pending event arrives, in order, under its original webhook-id; no secret is ever shown."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from monitor.sinks.outbox import Outbox
from tests.integration.delivery.support import (
    HANG,
    SECRET,
    Receiver,
    events,
    ids_of,
    is_event,
    webhook_daemon_config,
)
from tests.support.daemon import get_json, run_daemon

pytestmark = pytest.mark.slow

PREFIX = "kill9"
STARTUP_S = 60.0




async def test_kill_9_of_vixmon_run_mid_burst_then_restart_delivers_everything_once_more(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis, receiver: Receiver
) -> None:
    cfg = webhook_daemon_config(tmp_path, PREFIX, f'url = "{redis_url}"')
    env = {
        "KILL9_WEBHOOK_URL": receiver.url,
        "KILL9_WEBHOOK_SECRET": SECRET,
        # delivery does not price anything: skip numba's compile, which other edits can trigger
        "VIXMON_PRICING_BACKEND": "numpy",
    }
    burst = events(30)
    receiver.script = [200] * 10 + [HANG]  # the 11th delivery is in flight at the kill

    async with run_daemon(cfg, "--role", "engine", env=env) as daemon:
        await daemon.wait_log(is_event("alert_outbox_groups_created"), STARTUP_S)
        port = await daemon.http_port()
        outbox_ids = await Outbox(redis, prefix=PREFIX).append(burst)
        await receiver.wait_until(lambda r: len(r.requests) == 11, timeout_s=30)
        status = str(await get_json(f"http://127.0.0.1:{port}/api/v1/status"))
        await daemon.kill()
    assert len(receiver.accepted) == 10

    async with run_daemon(cfg, "--role", "engine", env=env) as again:
        await receiver.wait_accepted(30, timeout_s=STARTUP_S)
        assert await again.stop() == 0
    ours = set(ids_of(burst))  # the engine may add alerts of its own (no quotes: stale data)
    assert [i for i in receiver.accepted_event_ids() if i in ours] == ids_of(burst)
    assert all(r.webhook_id == r.event_ids[0] for r in receiver.requests)
    pending = await redis.xpending_range(f"{{{PREFIX}:alerts}}", "hook", "-", "+", 1000)
    assert not {p["message_id"].decode() for p in pending} & set(outbox_ids)
    for secret in (receiver.url, SECRET):
        assert secret not in status
        assert not any(secret in line for line in daemon.raw + again.raw)
