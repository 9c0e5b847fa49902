"""The app in-process against an existing Redis (``redis.url`` set): readiness, status, stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from monitor import settings
from monitor.app import App
from tests.support.daemon import ROOT, get_json


def config(tmp_path: Path, redis_url: str) -> Path:
    path = tmp_path / "vixmon.toml"
    path.write_text(
        f"""
portfolio = "{ROOT / "config" / "portfolio.toml"}"
[redis]
url = "{redis_url}"
key_prefix = "inproc"
[engine]
time_source = "market"
cadence_ms = 50
[http]
port = 0
[[feeds]]
kind = "replay"
path = "{ROOT / "config" / "sample-session.jsonl.gz"}"
speed = 0
restamp = false
"""
    )
    return path


@pytest.fixture
async def app(tmp_path: Path, redis_url: str) -> AsyncIterator[App]:
    a = App(settings.load(config(tmp_path, redis_url)), handle_signals=False)
    runner = asyncio.create_task(a.run())
    try:
        yield a
    finally:
        a.request_stop()
        assert await asyncio.wait_for(runner, 15) == 0


async def wait_ready(app: App) -> None:
    await asyncio.wait_for(app.started.wait(), 15)
    assert app.loop is not None
    await asyncio.wait_for(app.loop.first_cycle.wait(), 15)


async def test_with_a_redis_url_the_app_uses_that_server_and_reports_it(
    app: App, redis_url: str, redis: aioredis.Redis
) -> None:
    await wait_ready(app)
    status = await get_json(f"http://127.0.0.1:{app.http_port}/api/v1/status")
    assert status["redis"] == {"url": redis_url, "embedded": False}
    assert await redis.exists("{inproc:quotes}") == 1


async def test_readyz_turns_ready_after_the_first_snapshot(app: App) -> None:
    await wait_ready(app)
    ready = await get_json(f"http://127.0.0.1:{app.http_port}/readyz")
    assert ready == {"ready": True, "reason": "ok"}
    health = await get_json(f"http://127.0.0.1:{app.http_port}/healthz")
    assert health == {"status": "ok"}
