"""Reload (SIGHUP, ``vixmon reload``, POST /api/v1/reload): validate first, swap atomically, keep
the running config when the new one is bad, and let the feeds follow new legs."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor import settings
from monitor.app import App
from tests.deploy.conftest import simulator_feed, vixmon_daemon, write_config
from tests.support.daemon import ROOT, get_json, get_text

NEW_LEG = "VIX270120C00030000"
NEW_LAYER = f"""
[[books.layers]]
name = "L4-JAN"
legs = [{{ symbol = "{NEW_LEG}", quantity = 2, entry_price = 1.10 }}]
"""
BROKEN_LAYER = """
[[books.layers]]
name = "L5-BAD"
legs = [{ symbol = "VIX270120X00030000", quantity = 2, entry_price = 1.10 }]
"""


@pytest.fixture
def portfolio(tmp_path: Path) -> Path:
    path = tmp_path / "portfolio.toml"
    shutil.copy(ROOT / "config" / "portfolio.toml", path)
    return path


@pytest.fixture
async def app(tmp_path: Path, portfolio: Path, redis_url: str) -> AsyncIterator[App]:
    """The whole daemon in-process (signals off, no systemd), started against the test Redis."""
    cfg = write_config(tmp_path, feeds=simulator_feed(), redis_url=redis_url, portfolio=portfolio)
    app = App(settings.load(cfg), handle_signals=False, environ={})
    await app.startup()
    try:
        yield app
    finally:
        await app.shutdown()


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def edit(path: Path, *replacements: tuple[str, str]) -> None:
    text = path.read_text()
    for old, new in replacements:
        text = text.replace(old, new)
    path.write_text(text)


def gauge(app: App, name: str) -> float | None:
    return app.registry.get_sample_value(name)


async def test_reload_adds_a_layer_and_the_feeds_subscribe_to_its_leg(
    app: App, portfolio: Path
) -> None:
    before = gauge(app, "vixmon_config_last_reload_success_timestamp_seconds")
    assert NEW_LEG not in app.subscriptions.current()
    version = app.subscriptions.version
    append(portfolio, NEW_LAYER)

    assert await app.reload() == (True, "reloaded")
    assert NEW_LEG in app.subscriptions.current()
    assert await asyncio.wait_for(app.subscriptions.wait_changed(version), 1) > version
    assert app.engine is not None
    assert "L4-JAN" in [y.name for y in app.engine.portfolio.books[0].layers]
    assert "L4-JAN" in app.status()["books"]["main"]
    assert gauge(app, "vixmon_config_last_reload_successful") == 1
    assert gauge(app, "vixmon_config_last_reload_success_timestamp_seconds") >= (before or 0)


async def test_a_bad_file_keeps_the_running_config(app: App, portfolio: Path) -> None:
    good_ts = gauge(app, "vixmon_config_last_reload_success_timestamp_seconds")
    running, symbols = app.loaded, app.subscriptions.current()
    append(portfolio, BROKEN_LAYER)

    ok, message = await app.reload()
    assert not ok
    assert f"{portfolio}: books[0].layers[3].legs[0].symbol" in message
    assert app.loaded is running and app.subscriptions.current() == symbols
    assert app.engine is not None and app.engine.portfolio is running.portfolio
    assert gauge(app, "vixmon_config_last_reload_successful") == 0
    assert gauge(app, "vixmon_config_last_reload_success_timestamp_seconds") == good_ts

    edit(portfolio, (BROKEN_LAYER, ""))
    assert (await app.reload())[0]
    assert gauge(app, "vixmon_config_last_reload_successful") == 1


async def test_engine_settings_apply_in_place_and_restart_only_ones_are_named(app: App) -> None:
    edit(app.loaded.config_path, ("cadence_ms = 100\n", "cadence_ms = 100\nrate = 0.05\n"),
         ("port = 0", "port = 1"))  # fmt: skip

    ok, message = await app.reload()
    assert ok and message == "reloaded; restart to apply http"
    assert app.engine is not None and app.engine.settings.engine.rate == 0.05
    assert app.engine.rates == app.engine.rates.flat(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def vixmon_reload(cfg: Path) -> tuple[int, str]:
    """Run ``vixmon reload --config cfg``; return its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli", "reload", "--config", str(cfg),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return await proc.wait(), out.decode()


@pytest.mark.slow
async def test_sighup_and_vixmon_reload_reach_a_running_daemon(
    tmp_path: Path, portfolio: Path
) -> None:
    cfg = write_config(tmp_path, feeds=simulator_feed(), portfolio=portfolio, port=free_port())
    async with vixmon_daemon(cfg) as daemon:
        base = f"http://127.0.0.1:{await daemon.http_port()}"

        append(portfolio, NEW_LAYER)
        daemon.proc.send_signal(signal.SIGHUP)
        line = await daemon.wait_log(lambda x: x.get("event") == "config_reloaded", 30)
        assert NEW_LEG in line["subscribed"]
        assert "L4-JAN" in (await get_json(f"{base}/api/v1/status"))["books"]["main"]

        append(portfolio, BROKEN_LAYER)
        code, out = await vixmon_reload(cfg)
        assert code == 2 and "books[0].layers[4].legs[0].symbol" in out
        await daemon.wait_log(lambda x: x.get("event") == "config_reload_failed", 30)
        assert "vixmon_config_last_reload_successful 0.0" in await get_text(f"{base}/metrics")
        assert "L5-BAD" not in (await get_json(f"{base}/api/v1/status"))["books"]["main"]

        edit(portfolio, (BROKEN_LAYER, ""))
        assert await vixmon_reload(cfg) == (0, "reloaded\n")
        assert "vixmon_config_last_reload_successful 1.0" in await get_text(f"{base}/metrics")
        assert await daemon.stop() == 0
