"""Issue 12's minimal poison inputs, fed to a live daemon: each is dead-lettered and acked, the
daemon stays up, and a restart on the same state (the entries pending again) does not loop."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis

from monitor.quotes import Quote, encode_batch
from tests.deploy.conftest import simulator_feed, vixmon_daemon, write_config
from tests.support.clocked import DEMO_START_NS
from tests.support.daemon import Daemon, get_text

NS = 1_000_000_000
LEG = "VIX261216C00020000"
QUOTES, DEAD = "{vixmon:quotes}", "{vixmon:quotes}:dead"


def poison() -> list[dict[str, bytes]]:
    """One entry per fault of issue 12 (items 1, 2, 4 and 9), each with one good quote."""
    # on the simulator's market clock (the demo's day), before or after its first quote; the
    # future one is a year past the wall clock, so past both clocks
    now, ahead = DEMO_START_NS, time.time_ns() + 365 * 86_400 * NS
    good = {"sym": "VIX9D", "last": 18.0, "ts": now}
    batch = encode_batch([Quote(sym="VIX", ts=now, last=17.0), Quote(sym="SPX", ts=now, last=1.0)])
    return [
        {"q": b'{"sym":"VIX","ts":9223372036854775808}'},
        {"b": msgspec.msgpack.encode([["VIX", 2**63, 1.0, 2.0]]), "f": b"sim"},
        {"q": json.dumps({"sym": LEG, "bid": 9.0, "ask": 9.2, "ts": ahead}).encode()},
        {"q": f'[{json.dumps(good)},{{"sym":"VIX","bid":NaN,"ts":{now}}}]'.encode()},
        {"b": batch.replace(b"\xa3VIX", b"\xa3V\xffX", 1), "f": b"intruder"},
        {"q": json.dumps({"sym": "VIX", "last": 1e300, "ts": now}).encode(), "f": b"intruder"},
    ]


REASONS = ["future_ts", "future_ts", "future_ts", "non_finite", "bad_schema", "price_cap"]
# the good quote beside the NaN token and the good row beside the invalid UTF-8 one, per run
KEPT_PER_RUN = 2


def ingested(metrics: str, feed: str) -> float:
    line = f'vixmon_quotes_ingested_total{{feed="{feed}"}} '
    return sum(float(x.removeprefix(line)) for x in metrics.splitlines() if x.startswith(line))


async def leave_pending(r: aioredis.Redis) -> None:
    """Write the poison and read it as a consumer that then dies: pending, never acked."""
    try:
        await r.xgroup_create(QUOTES, "engine", id="$", mkstream=True)
    except aioredis.ResponseError:
        pass  # the group exists (the second run)
    for fields in poison():
        await r.xadd(QUOTES, fields)  # type: ignore[arg-type]
    await r.xreadgroup("engine", "ghost", {QUOTES: ">"})
    assert int((await r.xpending(QUOTES, "engine"))["pending"]) > 0


async def dead_reasons(r: aioredis.Redis) -> list[bytes]:
    return [f[b"reason"] for _i, f in await r.xrange(DEAD)]


async def until_dead_lettered(r: aioredis.Redis, count: int, daemon: Daemon) -> None:
    """Wait (bounded) until ``count`` dead letters exist and nothing is pending."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert daemon.proc.returncode is None, "\n".join(daemon.raw[-30:])
        pending = int((await r.xpending(QUOTES, "engine"))["pending"])
        if len(await dead_reasons(r)) >= count and pending == 0:
            return
        await asyncio.sleep(0.1)  # polling Redis: the daemon announces no dead letter
    raise AssertionError(f"dead letters: {await dead_reasons(r)}")


@pytest.mark.slow
async def test_poison_quotes_are_dead_lettered_and_a_restart_does_not_loop(
    tmp_path: Path, redis_url: str
) -> None:
    cfg = write_config(tmp_path, feeds=simulator_feed(name="sim"), redis_url=redis_url)
    cfg.write_text(cfg.read_text().replace("[redis]\n", "[redis]\nclaim_idle_ms = 100\n", 1))
    r = aioredis.Redis.from_url(redis_url)
    try:
        for run in (1, 2):
            await leave_pending(r)
            async with vixmon_daemon(cfg) as daemon:
                port = await daemon.http_port(timeout_s=180)  # a cold kernel cache compiles
                await until_dead_lettered(r, len(REASONS) * run, daemon)
                assert await get_text(f"http://127.0.0.1:{port}/healthz")
                metrics = await get_text(f"http://127.0.0.1:{port}/metrics")
                assert 'feed="intruder"' not in metrics
                assert 'vixmon_quotes_rejected_total{feed="external",reason="future_ts"}' in metrics
                # mixed entries kept their good quotes (issue 12, item 4)
                assert ingested(metrics, "external") == KEPT_PER_RUN
                assert await daemon.stop(signal.SIGTERM) == 0
        assert sorted(await dead_reasons(r)) == sorted(x.encode() for x in REASONS * 2)
    finally:
        await r.aclose()
