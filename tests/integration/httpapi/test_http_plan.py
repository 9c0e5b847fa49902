"""The roll plan and the vega baseline over a real HTTP server, the CLI and a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from monitor import cli
from monitor.baseline_store import BaselineStore
from monitor.http import HttpPolicy, HttpServer, make_app
from monitor.plan import api as plan_api
from tests.unit.plan.plan_world import Desk

TOKEN = "s3cret-baseline-token"
FIELDS = {
    "vega_now_usd", "vega_after_harvest_usd", "vega_after_roll_usd", "vega_baseline_usd",
    "roll_contracts", "roll_cost_usd", "recycle_fraction_used", "binding",
}  # fmt: skip


class View:
    """The app as the HTTP layer sees it, over a real engine on the simulated desk."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def status(self) -> dict[str, Any]:
        return {}

    def snapshot(self) -> dict[str, Any] | None:
        return None

    def ready(self) -> tuple[bool, str]:
        return True, "ok"

    async def reload(self) -> tuple[bool, str]:
        return True, "reloaded"

    def plan(self, book: str | None) -> tuple[int, dict[str, Any]]:
        return plan_api.plan(self.desk.engine, book)

    async def set_baseline(self, body: bytes) -> tuple[int, dict[str, Any]]:
        return plan_api.set_baseline(self.desk.engine, body, self.desk.now_ns)


@contextlib.asynccontextmanager
async def serving(desk: Desk, policy: HttpPolicy | None = None) -> AsyncIterator[str]:
    server = HttpServer(make_app(View(desk), CollectorRegistry(), policy))
    await server.start("127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def request(method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.request(method, url, **kw) as resp:
        return resp.status, await resp.json(content_type=None)


def popped() -> Desk:
    desk = Desk()
    desk.tick()
    desk.tick(vol=0.20)
    return desk


async def test_get_plan_serves_the_books_plan_with_its_contract_fields() -> None:
    async with serving(popped()) as base:
        status, body = await request("GET", f"{base}/api/v1/plan?book=main")
        missing, _ = await request("GET", f"{base}/api/v1/plan?book=nope")
        bare, _ = await request("GET", f"{base}/api/v1/plan")
    assert status == 200 and FIELDS <= set(body["plan"]) and body["action"]
    assert (missing, bare) == (404, 400)


async def test_post_baseline_is_token_protected_like_reload() -> None:
    desk = popped()
    policy = HttpPolicy(token=TOKEN)
    async with serving(desk, policy) as base:
        refused, _ = await request("POST", f"{base}/api/v1/baseline", json={"book": "main"})
        ok, body = await request(
            "POST",
            f"{base}/api/v1/baseline",
            json={"book": "main", "value_usd": 25.0},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert refused == 401 and ok == 200
    assert body["vega_baseline_usd"] == 25.0 and body["vega_baseline_source"].startswith("set by")
    b = desk.engine.memory.vega.get("main")
    assert b is not None and (b.value_usd, b.source) == (25.0, "command")


async def test_vixmon_baseline_set_without_a_value_takes_the_net_vega_now(tmp_path: Path) -> None:
    desk = popped()
    async with serving(desk) as base:
        config = tmp_path / "vixmon.toml"
        config.write_text(f'[http]\nhost = "127.0.0.1"\nport = {base.rsplit(":", 1)[1]}\n')
        code = await asyncio.to_thread(
            cli.main, ["baseline", "set", "main", "--config", str(config)]
        )
    cycle = desk.engine.last_cycle
    assert code == 0 and cycle is not None and cycle.rules is not None
    b = desk.engine.memory.vega.get("main")
    assert b is not None and b.value_usd == float(cycle.rules.analysis.net_vega.book[0])


async def test_baselines_survive_a_restart_through_redis(redis: aioredis.Redis) -> None:
    desk = popped()
    desk.engine.memory.vega.set("main", -77.0, "command", desk.now_ns)
    await BaselineStore(redis, prefix="t").save(desk.engine.memory.vega.drain())
    restarted = Desk()
    restarted.engine.memory.vega.load(await BaselineStore(redis, prefix="t").load())
    c = restarted.tick()
    assert c.rules is not None and c.rules.analysis.vega_baseline[0] == -77.0
    b = restarted.engine.memory.vega.get("main")
    assert b is not None and b.source == "command"
