"""History across a restart with the real pieces: Redis for the memory, an in-process HTTP
server for Cboe's VIX history CSV, a cache file for when the network says no."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from monitor.history.store import HistoryKeeper, MemoryStore, fetch_vix_history
from tests.unit.rules.rules_world import World

CSV = (Path(__file__).resolve().parents[2] / "resources" / "cboe" / "VIX_History.csv").read_text()
TODAY = dt.date(2026, 11, 24)


class CsvServer:
    """Serves ``/VIX_History.csv`` the way Cboe's CDN does (text/csv), or fails on demand."""

    def __init__(self) -> None:
        self.body, self.status, self.requests = CSV, 200, 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.Response(text=self.body, status=self.status, content_type="text/csv")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/VIX_History.csv", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/VIX_History.csv"


@pytest.fixture
async def server() -> AsyncIterator[CsvServer]:
    s = CsvServer()
    await s.start()
    yield s
    assert s.runner is not None
    await s.runner.cleanup()


async def test_the_csv_is_fetched_cached_and_then_read_from_the_cache(
    server: CsvServer, tmp_path: Path
) -> None:
    cache = tmp_path / "VIX_History.csv"
    got = await fetch_vix_history(server.url, cache, timeout_s=5.0)
    assert got.source == "network" and cache.read_text() == CSV
    server.status = 503
    again = await fetch_vix_history(server.url, cache, timeout_s=5.0)
    assert again.source == "cache" and again.text == CSV


async def test_a_body_that_is_not_the_csv_is_never_cached(
    server: CsvServer, tmp_path: Path
) -> None:
    cache = tmp_path / "VIX_History.csv"
    server.body = "<html>blocked</html>"
    got = await fetch_vix_history(server.url, cache, timeout_s=5.0)
    assert got.source == "none" and not cache.exists()


async def test_without_a_url_only_the_cache_is_read_and_nothing_is_requested(
    server: CsvServer, tmp_path: Path
) -> None:
    cache = tmp_path / "VIX_History.csv"
    assert (await fetch_vix_history("", cache, timeout_s=5.0)).source == "none"
    cache.write_text(CSV)
    assert (await fetch_vix_history("", cache, timeout_s=5.0)).source == "cache"
    assert server.requests == 0


async def test_rule_memory_saved_in_redis_comes_back_after_a_restart(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    before = World()
    for _ in range(30):
        before.tick(60.0)
    store = MemoryStore(redis, prefix="t")
    keeper = HistoryKeeper(before.engine.memory, store, url="", cache=tmp_path / "none.csv",
                           fetch_timeout_s=1.0, save_interval_s=60.0, max_age_ns=3600 * 10**9)
    await keeper.save(before.now_ns)
    after = World()
    restarted = HistoryKeeper(after.engine.memory, store, url="", cache=tmp_path / "none.csv",
                              fetch_timeout_s=1.0, save_interval_s=60.0,
                              max_age_ns=3600 * 10**9)
    await restarted.start(before.now_ns, TODAY)
    assert restarted.restored
    assert after.engine.memory.bars["1m"].close == before.engine.memory.bars["1m"].close


async def test_the_start_backfills_daily_bars_from_the_cached_copy(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    cache = tmp_path / "VIX_History.csv"
    cache.write_text(CSV)
    w = World()
    keeper = HistoryKeeper(w.engine.memory, MemoryStore(redis, prefix="t2"), url="",
                           cache=cache, fetch_timeout_s=1.0, save_interval_s=60.0,
                           max_age_ns=3600 * 10**9)
    await keeper.start(w.now_ns, TODAY)
    assert not keeper.restored  # nothing stored yet
    c = w.tick()
    assert c.backfilled_bars is not None and c.backfilled_bars["1d"] == 40
