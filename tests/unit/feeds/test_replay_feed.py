"""Replaying a recorded session: grouping, pacing, restamping, bad lines."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest

from adapters.replay.config import ReplayFeedConfig
from adapters.replay.feed import ReplayFeed, read_groups
from monitor.clock import FakeClock
from monitor.model import Quote
from monitor.subscriptions import Subscriptions

TS = 1_795_530_600_000_000_000


class ListSink:
    """Collects batches; with a clock, each publish takes ``step_ns`` of (fake) time."""

    def __init__(self, clock: FakeClock | None = None, step_ns: int = 0) -> None:
        self.batches: list[list[Quote]] = []
        self.clock, self.step_ns = clock, step_ns

    async def publish(self, feed: str, quotes: Sequence[Quote]) -> None:
        self.batches.append(list(quotes))
        if self.clock is not None:
            self.clock.set(self.clock.now_ns() + self.step_ns)


def write_session(path: Path, lines: list[bytes]) -> Path:
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def line(*quotes: Quote) -> bytes:
    return msgspec.json.encode(list(quotes))


def test_quotes_with_one_event_time_form_one_group(tmp_path: Path) -> None:
    path = write_session(
        tmp_path / "s.jsonl.gz",
        [
            line(Quote(sym="SPX", last=6000.0, ts=TS), Quote(sym="VIX", last=15.0, ts=TS)),
            msgspec.json.encode(Quote(sym="VIX", last=15.5, ts=TS + 5)),
        ],
    )
    groups = [(ts, [q.sym for q in qs]) for ts, qs, _bad in read_groups(path)]
    assert groups == [(TS, ["SPX", "VIX"]), (TS + 5, ["VIX"])]


def test_bad_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    path = write_session(tmp_path / "s.jsonl", [b"{oops", line(Quote(sym="VIX", last=15.0, ts=TS))])
    assert [(len(qs), bad) for _ts, qs, bad in read_groups(path)] == [(1, 1)]


async def test_restamp_shifts_the_session_to_start_now(tmp_path: Path) -> None:
    path = write_session(
        tmp_path / "s.jsonl",
        [line(Quote(sym="VIX", last=15.0, ts=TS)), line(Quote(sym="VIX", last=16.0, ts=TS + 10))],
    )
    clock = FakeClock(start_ns=TS + 1_000)
    feed = ReplayFeed(ReplayFeedConfig(path=str(path), speed=0, restamp=True), clock, tmp_path)
    sink = ListSink(clock, step_ns=10)
    await feed.run(sink, Subscriptions())
    assert [b[0].ts for b in sink.batches] == [TS + 1_000, TS + 1_010]
    assert feed.stats.quotes == 2 and feed.finished.is_set()


async def test_a_restamped_replay_faster_than_the_clock_never_stamps_ahead_of_it(
    tmp_path: Path,
) -> None:
    # 10 recorded seconds between the quotes, published 1 s of clock apart (speed 10)
    path = write_session(
        tmp_path / "s.jsonl",
        [line(Quote(sym="VIX", last=15.0, ts=TS)),
         line(Quote(sym="VIX", last=16.0, ts=TS + 10**10))],
    )
    clock = FakeClock(start_ns=TS + 1_000)
    feed = ReplayFeed(ReplayFeedConfig(path=str(path), speed=0, restamp=True), clock, tmp_path)
    sink = ListSink(clock, step_ns=10**9)
    await feed.run(sink, Subscriptions())
    assert [b[0].ts for b in sink.batches] == [TS + 1_000, TS + 1_000 + 10**9]


async def test_recorded_times_are_kept_without_restamp(tmp_path: Path) -> None:
    write_session(tmp_path / "s.jsonl", [line(Quote(sym="VIX", last=15.0, ts=TS))])
    feed = ReplayFeed(
        ReplayFeedConfig(path="s.jsonl", speed=0, restamp=False), FakeClock(), tmp_path
    )
    sink = ListSink()
    await feed.run(sink, Subscriptions())
    assert sink.batches[0][0].ts == TS and feed.stats.last_quote_ts_ns == TS


class Enough(Exception):
    """Raised by a sink that has seen what the test needs."""


class StopAfter(ListSink):
    def __init__(self, n: int, clock: FakeClock | None = None, step_ns: int = 0) -> None:
        super().__init__(clock, step_ns)
        self.n = n

    async def publish(self, feed: str, quotes: Sequence[Quote]) -> None:
        await super().publish(feed, quotes)
        if len(self.batches) == self.n:
            raise Enough


@pytest.mark.parametrize("restamp", [True, False])
async def test_a_looping_replay_moves_every_pass_after_the_previous_one(
    tmp_path: Path, restamp: bool
) -> None:
    path = write_session(
        tmp_path / "s.jsonl",
        [line(Quote(sym="VIX", last=15.0, ts=TS)), line(Quote(sym="VIX", last=16.0, ts=TS + 10))],
    )
    cfg = ReplayFeedConfig(path=str(path), speed=0, restamp=restamp, loop=True)
    clock = FakeClock(start_ns=TS + 1_000)
    feed = ReplayFeed(cfg, clock, tmp_path)
    sink = StopAfter(6, clock, step_ns=1_000_000)  # each publish takes 1 ms
    with pytest.raises(Enough):
        await feed.run(sink, Subscriptions())
    stamps = [b[0].ts for b in sink.batches]
    start = TS + 1_000 if restamp else TS
    assert stamps[:2] == [start, start + 10]  # the first pass as recorded (or restamped)
    assert all(b - a == 10 for a, b in zip(stamps[::2], stamps[1::2], strict=True))
    assert all(b - a >= 1_000_000 for a, b in zip(stamps[1::2], stamps[2::2], strict=False))


def test_the_shipped_sample_session_is_small_and_readable(project_root: Path) -> None:
    path = project_root / "config" / "sample-session.jsonl.gz"
    assert path.stat().st_size <= 5_000_000
    groups = list(read_groups(path))
    assert sum(bad for _t, _q, bad in groups) == 0
    assert groups[-1][0] - groups[0][0] >= 25 * 60 * 1_000_000_000


def test_a_recorded_quote_no_stream_entry_can_carry_is_a_bad_line(tmp_path: Path) -> None:
    path = write_session(
        tmp_path / "s.jsonl",
        [b'{"sym":"VIX","last":15.0,"ts":100000000000000000000}',
         b'{"sym":"VIX","last":15.0,"ts":%d,"bid_size":100000000000000000000}' % TS,
         line(Quote(sym="VIX", last=16.0, ts=TS))],
    )
    assert [(len(qs), bad) for _ts, qs, bad in read_groups(path)] == [(1, 2)]
