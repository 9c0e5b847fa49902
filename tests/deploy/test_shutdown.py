"""Shutdown: SIGTERM drains within shutdown.drain_timeout_s and exits 0; a drain that cannot
finish is cut at the limit; a second SIGINT skips the drain.

A drain that hangs is made real by freezing the daemon's embedded Redis (SIGSTOP): the drain's
reads block on it exactly as they would on a wedged server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import simulator_feed, vixmon_daemon, write_config
from tests.support.daemon import Daemon

pytestmark = pytest.mark.slow  # every test runs the daemon

Line = dict[str, Any]


def event(name: str, **fields: object) -> Callable[[Line], bool]:
    return lambda line: (
        line.get("event") == name and all(line.get(k) == v for k, v in fields.items())
    )


def at(line: Line) -> dt.datetime:
    return dt.datetime.fromisoformat(line["timestamp"])


@contextlib.asynccontextmanager
async def daemon_with_frozen_redis(tmp_path: Path, drain_s: float) -> AsyncIterator[Daemon]:
    """Run a daemon and freeze its embedded Redis; the test thaws it with ``thaw(daemon)``."""
    cfg = write_config(
        tmp_path, feeds=simulator_feed(), tables=f"[shutdown]\ndrain_timeout_s = {drain_s}\n"
    )
    async with vixmon_daemon(cfg) as daemon:  # which also ends a Redis left frozen
        pid = (await daemon.wait_log(event("embedded_redis_started"), 30))["pid"]
        await daemon.http_port()
        os.kill(pid, signal.SIGSTOP)
        yield daemon


async def finishes_shutdown(daemon: Daemon) -> None:
    """The daemon completes its own shutdown (its exit code may be 1: Redis timed out on it)."""
    await daemon.stop()
    assert any(line["event"] == "stopped" for line in daemon.lines), "\n".join(daemon.raw[-20:])


def thaw(daemon: Daemon) -> None:
    started = next(line for line in daemon.lines if event("embedded_redis_started")(line))
    os.kill(started["pid"], signal.SIGCONT)


async def test_sigterm_drains_stops_redis_and_exits_zero(tmp_path: Path) -> None:
    # the simulator's shock after a second fires the demo book's alerts: proof of evaluation
    feeds = simulator_feed() + "spike_after_s = 1.0\n"
    async with vixmon_daemon(write_config(tmp_path, feeds=feeds)) as daemon:
        await daemon.http_port()
        await daemon.wait_log(event("alert"), 30)  # the engine has evaluated
        assert await daemon.stop(signal.SIGTERM) == 0
    events = [line["event"] for line in daemon.lines]
    tail = events[events.index("signal_received") :]
    assert [
        e for e in tail if e in {"stopping", "drained", "embedded_redis_stopped", "stopped"}
    ] == [
        "stopping",
        "drained",
        "embedded_redis_stopped",
        "stopped",
    ]


async def test_a_drain_that_cannot_finish_is_cut_at_the_limit(tmp_path: Path) -> None:
    async with daemon_with_frozen_redis(tmp_path, drain_s=1.0) as daemon:
        daemon.proc.send_signal(signal.SIGTERM)
        draining = await daemon.wait_log(event("draining", limit_s=1.0), 30)
        cut = await daemon.wait_log(event("drain_cut_short", reason="timeout"), 30)
        assert 0.9 <= (at(cut) - at(draining)).total_seconds() < 3
        thaw(daemon)
        await finishes_shutdown(daemon)


async def test_a_second_sigint_skips_the_drain(tmp_path: Path) -> None:
    async with daemon_with_frozen_redis(tmp_path, drain_s=60.0) as daemon:
        daemon.proc.send_signal(signal.SIGINT)
        draining = await daemon.wait_log(event("draining", limit_s=60.0), 30)
        daemon.proc.send_signal(signal.SIGINT)
        cut = await daemon.wait_log(event("drain_cut_short", reason="forced"), 30)
        assert (at(cut) - at(draining)).total_seconds() < 10  # not the 60 s limit
        thaw(daemon)
        await finishes_shutdown(daemon)
