"""The app books what a portfolio reload closes in the ledger, in Redis, and keeps it on restart."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from monitor import settings
from monitor.app import App
from monitor.positions.ledger import DECODER
from tests.deploy.conftest import simulator_feed, write_config
from tests.support.daemon import ROOT

L1 = """[[books.layers]]
name = "L1-DEC"
legs = [{ symbol = "VIX261216C00020000", quantity = 4, entry_price = 0.90 }]
"""
L1_HALF = L1.replace("quantity = 4", "quantity = 2")
EXIT = """
[[books.exits]]
structure = "L1-DEC"
symbol = "VIX261216C00020000"
price = 1.75
"""


@pytest.fixture
def portfolio(tmp_path: Path) -> Path:
    path = tmp_path / "portfolio.toml"
    shutil.copy(ROOT / "config" / "portfolio.toml", path)
    assert L1 in path.read_text()
    return path


def sell_half_at(portfolio: Path) -> None:
    """The trader sold 2 of L1-DEC's 4 calls at 1.75: the portfolio says so."""
    portfolio.write_text(portfolio.read_text().replace(L1, L1_HALF) + EXIT)


async def started(tmp_path: Path, portfolio: Path, redis_url: str) -> App:
    cfg = write_config(tmp_path, feeds=simulator_feed(), redis_url=redis_url, portfolio=portfolio)
    app = App(settings.load(cfg), handle_signals=False, environ={})
    await app.startup()
    assert app.loop is not None
    await asyncio.wait_for(app.loop.first_cycle.wait(), 15)
    return app


async def stored(redis: aioredis.Redis, app: App) -> list[tuple[str, int, float, str]]:
    raw = await redis.get(f"{app.cfg.redis.key_prefix}:ledger")
    assert raw is not None
    return [(e.structure, e.quantity, e.exit_price, e.source) for e in DECODER.decode(raw).entries]


async def test_a_harvest_reload_is_realized_in_redis_and_a_restart_keeps_it(
    tmp_path: Path, portfolio: Path, redis_url: str, redis: aioredis.Redis
) -> None:
    app = await started(tmp_path, portfolio, redis_url)
    try:
        assert await stored(redis, app) == []  # the first start records the positions only
        sell_half_at(portfolio)
        assert (await app.reload())[0]
        assert await stored(redis, app) == [("L1-DEC", 2, 1.75, "given")]
    finally:
        await app.shutdown()
    again = await started(tmp_path, portfolio, redis_url)
    try:
        assert again.engine is not None
        entries = again.engine.ledger.entries
        assert [(e.structure, e.quantity, e.exit_price) for e in entries] == [("L1-DEC", 2, 1.75)]
        assert again.engine.ledger.realized_usd("main") == pytest.approx(2 * 100 * (1.75 - 0.90))
    finally:
        await again.shutdown()
