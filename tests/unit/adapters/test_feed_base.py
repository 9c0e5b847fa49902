"""The shared adapter machinery: backoff, quote merging and conflation, supervision, reconnects."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest
from structlog.testing import capture_logs

from adapters.base import (
    Backoff,
    BackoffConfig,
    FeedError,
    FeedGaveUp,
    FeedStats,
    QuoteBuffer,
    ReconnectingFeed,
    StallError,
    SubscriptionSource,
    merge_quote,
    run_supervised,
)
from monitor.clock import FakeClock
from monitor.model import Quote
from monitor.subscriptions import Subscriptions
from tests.fakes.common import RecordingSink


def test_backoff_grows_exponentially_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(BackoffConfig(initial_s=1.0, max_s=5.0, jitter=0.0))
    assert [backoff.next_delay_s() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next_delay_s() == 1.0


def test_backoff_stays_at_its_cap_through_days_of_failures() -> None:
    backoff = Backoff(BackoffConfig(initial_s=1.0, max_s=60.0, multiplier=100.0, jitter=0.0))
    delays = [backoff.next_delay_s() for _ in range(5_000)]  # ~3.5 days at the cap
    assert delays[-1] == 60.0 and max(d or 0.0 for d in delays) == 60.0


def test_backoff_jitter_stays_within_its_fraction_of_the_delay() -> None:
    backoff = Backoff(BackoffConfig(initial_s=10.0, multiplier=1.0, jitter=0.5), random.Random(3))
    delays = [backoff.next_delay_s() for _ in range(200)]
    assert all(d is not None and 5.0 <= d <= 10.0 for d in delays)
    assert len({round(d or 0, 6) for d in delays}) > 100


def test_backoff_counts_retries_left_and_gives_up_after_the_budget() -> None:
    backoff = Backoff(BackoffConfig(max_retries=2))
    assert backoff.retries_left == 2
    assert backoff.next_delay_s() is not None and backoff.retries_left == 1
    assert backoff.next_delay_s() is not None and backoff.retries_left == 0
    assert backoff.next_delay_s() is None
    assert Backoff(BackoffConfig()).retries_left is None


def q(sym: str = "SPX", ts: int = 1, **kw: object) -> Quote:
    return Quote(sym=sym, ts=ts, **kw)  # type: ignore[arg-type]


def test_a_trade_print_keeps_the_previous_book() -> None:
    book = q(ts=1, bid=1.0, ask=2.0, bid_size=3, ask_size=4)
    assert merge_quote(book, q(ts=2, last=1.5)) == q(
        ts=2, bid=1.0, ask=2.0, bid_size=3, ask_size=4, last=1.5)


def test_a_book_update_replaces_the_whole_book_and_keeps_the_last_trade() -> None:
    prev = q(ts=2, bid=1.0, ask=2.0, bid_size=3, ask_size=4, last=1.5)
    assert merge_quote(prev, q(ts=3, bid=1.1, ask=None)) == q(ts=3, bid=1.1, last=1.5)


def test_merged_time_never_goes_backwards() -> None:
    assert merge_quote(q(ts=5, bid=1.0, ask=2.0), q(ts=4, last=1.5)).ts == 5


def test_the_buffer_conflates_per_symbol_and_skips_unchanged_quotes() -> None:
    stats = FeedStats()
    buffer = QuoteBuffer(stats)
    buffer.put([q("SPX", 1, bid=1.0, ask=2.0), q("VIX", 1, bid=3.0, ask=4.0),
                q("SPX", 2, bid=1.5, ask=2.0)])
    buffer.put([q("VIX", 1, bid=3.0, ask=4.0)])  # identical: nothing new
    assert buffer.take() == [q("VIX", 1, bid=3.0, ask=4.0), q("SPX", 2, bid=1.5, ask=2.0)]
    assert (stats.quotes, stats.conflated, stats.last_quote_ts_ns) == (4, 1, 2)
    assert buffer.take() == []


def test_the_buffer_hands_out_bounded_batches() -> None:
    buffer = QuoteBuffer(FeedStats(), max_batch=2)
    buffer.put([q(f"S{i}", 1, bid=1.0) for i in range(5)])
    assert [len(buffer.take()) for _ in range(4)] == [2, 2, 1, 0]


class FailingSink:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.published: list[Quote] = []
        self.done = asyncio.Event()

    async def publish(self, feed: str, quotes: Sequence[Quote]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis down")
        self.published.extend(quotes)
        self.done.set()


async def test_a_failing_sink_is_retried_and_newer_quotes_are_not_lost() -> None:
    stats = FeedStats()
    buffer = QuoteBuffer(stats)
    sink = FailingSink(failures=2)
    buffer.put([q("SPX", 1, bid=1.0)])
    task = asyncio.create_task(buffer.drain_to("t", sink, retry_s=0.001))
    try:
        await asyncio.wait_for(sink.done.wait(), 2)
    finally:
        task.cancel()
    assert sink.published == [q("SPX", 1, bid=1.0)] and stats.publish_errors == 2


async def test_a_failing_helper_ends_the_supervised_group_with_its_error() -> None:
    main_cancelled = asyncio.Event()

    async def main() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            main_cancelled.set()

    async def helper() -> None:
        raise StallError("quiet")

    with pytest.raises(StallError):
        await run_supervised(main(), helper())
    assert main_cancelled.is_set()


class ScriptedFeed(ReconnectingFeed):
    """Sessions that fail as scripted, then deliver a quote and wait."""

    def __init__(self, script: list[Exception | None]) -> None:
        super().__init__("scripted", FakeClock(), BackoffConfig(initial_s=0.001, max_retries=3))
        self.script = script
        self.sessions = 0

    async def _session(self, subscriptions: SubscriptionSource) -> None:
        self.sessions += 1
        step = self.script.pop(0) if self.script else None
        if step is not None:
            raise step
        self._ready()
        self._deliver([q("SPX", self.sessions, bid=1.0)])
        await asyncio.Event().wait()


async def test_sessions_are_retried_with_logged_retries_left_until_one_holds() -> None:
    feed, sink = ScriptedFeed([FeedError("refused"), StallError("quiet")]), RecordingSink()
    with capture_logs() as logs:
        task = asyncio.create_task(feed.run(sink, Subscriptions({"SPX"})))
        await sink.wait_quote("SPX", ts=3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    retries = [e["retries_left"] for e in logs if e["event"] == "feed_reconnecting"]
    assert retries == [2, 1]
    assert (feed.stats.reconnects, feed.stats.stalls, feed.stats.connected) == (2, 1, False)


async def test_running_out_of_retries_raises() -> None:
    feed = ScriptedFeed([FeedError("no")] * 4)
    with pytest.raises(FeedGaveUp, match="out of retries"):
        await feed.run(RecordingSink(), Subscriptions())
    assert feed.sessions == 4
