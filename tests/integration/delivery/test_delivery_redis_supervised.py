"""kill -9 of the embedded redis-server under a live ``vixmon run``: the daemon stays up, says it
is not ready while Redis is gone, starts Redis again on the same data and socket, raises a
``redis_restarted`` alert, counts the restart, and goes on delivering alerts."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError

from monitor.redis_server import EmbeddedRedis, RedisHealth
from monitor.sinks.outbox import Outbox
from tests.integration.delivery.support import (
    SECRET,
    Receiver,
    events,
    ids_of,
    is_event,
    webhook_daemon_config,
)
from tests.support.daemon import get_text, run_daemon

PREFIX = "supervised"
STARTUP_S = 60.0




async def readyz(base: str) -> int:
    async with aiohttp.ClientSession() as s, s.get(f"{base}/readyz") as resp:
        return resp.status


async def until_ready(base: str, status: int, timeout_s: float = 30.0) -> None:
    """Poll /readyz until it answers ``status`` (readiness changes tell no one)."""
    deadline = time.monotonic() + timeout_s
    while await readyz(base) != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz never answered {status}")
        await asyncio.sleep(0.05)


def _rules(receiver: Receiver) -> list[str]:
    return [e["rule"] for r in receiver.accepted for e in r.json()["events"]]


@pytest.mark.slow
async def test_kill_9_of_the_embedded_redis_is_survived_restarted_alerted_and_counted(
    tmp_path: Path, receiver: Receiver
) -> None:
    cfg = webhook_daemon_config(tmp_path, PREFIX, 'state_dir = "state"')
    socket_path = tmp_path / "state" / "redis.sock"
    env = {
        "SUPERVISED_WEBHOOK_URL": receiver.url,
        "SUPERVISED_WEBHOOK_SECRET": SECRET,
        "VIXMON_PRICING_BACKEND": "numpy",  # no numba compile: this test prices nothing
    }
    before, after = events(5), events(5)
    ours = set(ids_of(before + after))

    async with run_daemon(cfg, "--role", "engine", env=env) as daemon:
        started = await daemon.wait_log(is_event("embedded_redis_started"), STARTUP_S)
        base = f"http://127.0.0.1:{await daemon.http_port(STARTUP_S)}"
        await until_ready(base, 200)
        client = aioredis.Redis(unix_socket_path=str(socket_path))
        await Outbox(client, prefix=PREFIX).append(before)
        await receiver.wait_until(lambda r: set(ids_of(before)) <= set(r.accepted_event_ids()))
        await client.aclose()

        os.kill(int(started["pid"]), signal.SIGKILL)
        # keep the socket path taken, so that Redis stays down until the test has looked
        socket_path.unlink(missing_ok=True)
        socket_path.mkdir()
        await daemon.wait_log(is_event("embedded_redis_exited"), 10)
        await daemon.wait_log(is_event("embedded_redis_restart_failed"), 10)
        assert await readyz(base) == 503
        socket_path.rmdir()
        await daemon.wait_log(is_event("embedded_redis_restarted"), 30)
        await until_ready(base, 200)

        client = aioredis.Redis(unix_socket_path=str(socket_path))
        await Outbox(client, prefix=PREFIX).append(after)
        await receiver.wait_until(lambda r: ours <= set(r.accepted_event_ids()), timeout_s=30)
        await receiver.wait_until(lambda r: "redis_restarted" in _rules(r), timeout_s=30)
        await client.aclose()
        metrics = await get_text(f"{base}/metrics")
        assert daemon.proc.returncode is None
        assert await daemon.stop() == 0

    assert "vixmon_redis_restarts_total 1.0" in metrics
    delivered = [i for i in receiver.accepted_event_ids() if i in ours]
    assert list(dict.fromkeys(delivered)) == ids_of(before + after)  # in order; at least once
    assert all(r.webhook_id == r.event_ids[0] for r in receiver.requests)
    assert not [line for line in daemon.lines if line.get("event") == "task_failed"]


async def test_a_killed_embedded_redis_comes_back_on_the_same_socket_with_its_data(
    tmp_path: Path,
) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    await server.start()
    client = aioredis.Redis(unix_socket_path=str(server.socket_path))
    await client.config_set("appendfsync", "always")  # so that kill -9 loses no write here
    await client.xadd("{vixmon:alerts}", {"event": "1"})
    await client.aclose()
    downs: list[int | None] = []
    up = asyncio.Event()

    async def on_up(_down_s: float) -> None:
        up.set()

    supervisor = asyncio.create_task(server.supervise(on_down=downs.append, on_up=on_up))
    try:
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)
        await asyncio.wait_for(up.wait(), 30)
        client = aioredis.Redis(unix_socket_path=str(server.socket_path))
        assert await client.xlen("{vixmon:alerts}") == 1
        await client.aclose()
    finally:
        supervisor.cancel()
        await server.stop()
    assert downs == [-signal.SIGKILL]
    assert server.restarts == 1


async def test_a_stopped_embedded_redis_is_not_restarted(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    await server.start()
    supervisor = asyncio.create_task(
        server.supervise(on_down=lambda _rc: None, on_up=lambda _s: asyncio.sleep(0))
    )
    await server.stop()
    await asyncio.wait_for(supervisor, 10)  # returns by itself: no restart attempted
    assert (server.restarts, server.pid) == (0, None)


async def test_a_loop_that_loses_redis_waits_for_it_resumes_and_runs_again(
    redis: aioredis.Redis,
) -> None:
    health = RedisHealth(CollectorRegistry())
    runs: list[str] = []
    seen_down: list[str | None] = []

    async def run() -> None:
        runs.append("run")
        if len(runs) == 1:
            raise RedisConnectionError("Connection closed by server.")

    async def resume() -> None:
        seen_down.append(health.down_reason)
        runs.append("resume")

    await asyncio.wait_for(health.keep_running("engine", run, redis, resume=resume), 10)
    assert runs == ["run", "resume", "run"]
    assert seen_down == [None]  # reachable again before resuming
    assert health.down_reason is None
