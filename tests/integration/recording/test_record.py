"""``vixmon record``: a simulator run written through Redis is recorded, and the recording
replays to the same alerts as the quotes the simulator published."""

from __future__ import annotations

import asyncio
import gzip
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from adapters.simulator.config import SimulatorFeedConfig
from adapters.simulator.feed import SimulatorFeed
from monitor import bus, replay_report, settings
from monitor.clock import LiveClock
from monitor.model import Quote
from monitor.recording.files import SessionFiles, line
from monitor.recording.recorder import record
from monitor.subscriptions import MarketView, Subscriptions, required_symbols
from tests.support.clocked import DEMO_START_AT, DEMO_START_NS
from tests.support.daemon import ROOT, run_command

TICKS = 120


class Tee:
    """The feed's sink: writes to the quote stream and keeps what it published."""

    def __init__(self, writer: bus.QuoteWriter) -> None:
        self.writer = writer
        self.batches: list[list[Quote]] = []
        self.done = asyncio.Event()

    async def publish(self, feed: str, quotes: Sequence[Quote]) -> None:
        await self.writer.publish(feed, quotes)
        self.batches.append(list(quotes))
        if len(self.batches) >= TICKS:
            self.done.set()


async def simulate(r: aioredis.Redis, loaded: settings.Loaded) -> Tee:
    clock = LiveClock()
    # on the demo book's day, whatever the date: replay_report runs it on market time
    cfg = SimulatorFeedConfig(
        tick_interval_ms=10, speed=60.0, spike_after_s=30.0, start=DEMO_START_AT
    )
    subs = Subscriptions(required_symbols(loaded.portfolio, MarketView(), DEMO_START_NS))
    tee = Tee(bus.QuoteWriter(r, prefix="vixmon", maxlen=1_000_000))
    task = asyncio.create_task(SimulatorFeed(cfg, clock).run(tee, subs))
    try:
        await tee.done.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return tee


def concatenated(paths: list[Path], out: Path) -> Path:
    out.write_bytes(b"".join(gzip.decompress(p.read_bytes()) for p in paths))
    return out


@pytest.mark.slow
async def test_a_recorded_simulator_run_replays_to_the_same_alerts(
    tmp_path: Path, redis_url: str
) -> None:
    loaded = settings.load(settings.DEFAULT_CONFIG)
    r = aioredis.Redis.from_url(redis_url)
    files = SessionFiles(tmp_path / "sessions")
    stop = asyncio.Event()
    try:
        recorder = asyncio.create_task(record(r, files, stop, block_ms=50))
        tee = await simulate(r, loaded)
        stop.set()
        written = await asyncio.wait_for(recorder, 60)
    finally:
        await r.aclose()
    published = sum(len(b) for b in tee.batches)
    assert written == published
    recorded = concatenated(files.files(), tmp_path / "recorded.jsonl")
    reference = tmp_path / "published.jsonl"
    reference.write_bytes(b"".join(line(b) for b in tee.batches))
    assert recorded.read_bytes() == reference.read_bytes()
    live = replay_report.run(reference, loaded)["alerts"]
    again = replay_report.run(recorded, loaded)["alerts"]
    assert live, "the simulated spike should fire alerts"
    assert [(a["key"], a["status"]) for a in again] == [(a["key"], a["status"]) for a in live]


@pytest.mark.slow
async def test_vixmon_record_writes_the_stream_and_exits_0_on_sigint(
    tmp_path: Path, redis_url: str
) -> None:
    r = aioredis.Redis.from_url(redis_url)
    quotes = [Quote(sym="VIX", ts=1_794_839_400_000_000_000 + i, last=15.0 + i) for i in range(3)]
    writer = bus.QuoteWriter(r, prefix="vixmon", maxlen=1000)
    for q in quotes:
        await writer.publish("test", [q])
    out = tmp_path / "sessions"
    argv = [sys.executable, "-m", "monitor.cli", "record", "--redis", redis_url, "--out", str(out)]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    try:
        async with run_command(argv, env=env, cwd=ROOT) as proc:
            await proc.wait_log(lambda x: x.get("event") == "recording", 60)
            # the three entries were in the stream before the recorder's group existed
            await writer.publish("test", [Quote(sym="VIX", ts=quotes[-1].ts + 1, last=19.0)])
            proc.proc.send_signal(signal.SIGINT)
            assert await proc.stop() == 0
            stopped = await proc.wait_log(lambda x: x.get("event") == "recording_stopped", 5)
    finally:
        await r.aclose()
    assert stopped["quotes"] == 4
    [path] = SessionFiles(out).files()
    assert path.name == "session-2026-11-16.jsonl.gz"
