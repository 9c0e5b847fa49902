"""Venue adapters write valid batches of the quote stream contract into a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
import redis.asyncio as aioredis

from adapters.base import BackoffConfig
from adapters.cboe.config import CboeFeedConfig
from adapters.cboe.feed import CboeFeed
from adapters.dxlink.config import DxLinkFeedConfig
from adapters.dxlink.feed import DxLinkFeed
from monitor import bus
from monitor.clock import LiveClock
from monitor.model import Quote
from monitor.quotes import decode_entry
from monitor.secrets import SecretRef
from monitor.subscriptions import Subscriptions
from tests.fakes.cboe import FakeCboe, fixture
from tests.fakes.common import RecordingSink, running
from tests.fakes.dxlink import FakeDxLink

PREFIX = "feedtest"


class RedisSink(RecordingSink):
    """The production writer, observed: publishes to Redis, then records."""

    def __init__(self, writer: bus.QuoteWriter) -> None:
        super().__init__()
        self.writer = writer

    async def publish(self, feed: str, quotes: Sequence[Quote]) -> None:
        await self.writer.publish(feed, quotes)
        await super().publish(feed, quotes)


@pytest.fixture
def sink(redis: aioredis.Redis) -> RedisSink:
    return RedisSink(bus.QuoteWriter(redis, prefix=PREFIX, maxlen=10_000))


async def stream(redis: aioredis.Redis) -> tuple[list[Quote], list[str], set[str]]:
    quotes: list[Quote] = []
    rejects: list[str] = []
    feeds: set[str] = set()
    for _id, fields in await redis.xrange(bus.quotes_key(PREFIX)):
        feed, good, bad = decode_entry(fields)
        feeds.add(feed)
        quotes += good
        rejects += [r.reason for r in bad]
    return quotes, rejects, feeds


@pytest.fixture
async def dxlink() -> AsyncIterator[FakeDxLink]:
    fake = FakeDxLink()
    await fake.start()
    yield fake
    await fake.close()


async def test_dxlink_quotes_land_in_the_stream_without_rejects(
    dxlink: FakeDxLink, sink: RedisSink, redis: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TT_SECRET", "secret-good")
    monkeypatch.setenv("TT_REFRESH", "refresh-good")
    cfg = DxLinkFeedConfig(
        client_secret=SecretRef(env="TT_SECRET"), refresh_token=SecretRef(env="TT_REFRESH"),
        api_url=dxlink.api_url, backoff=BackoffConfig(initial_s=0.01))
    feed = DxLinkFeed(cfg, LiveClock())
    async with running(feed, sink, Subscriptions({"SPX", "SPXW261218P05800000"})):
        await dxlink.wait_for(lambda: dxlink.live and len(dxlink.subscribed()) == 4)
        dxlink.push("Quote", "SPX", bidPrice=5915.1, askPrice=5916.3)  # NaN sizes
        dxlink.push("Quote", ".SPXW261218P5800", bidPrice=0.0, askPrice=0.05, bidSize=0.0,
                    askSize=12.0)
        dxlink.push("Trade", "SPX", price=5915.5, size=1.0)
        await sink.wait_quote("SPX", last=5915.5)
        await sink.wait_quote("SPXW261218P05800000", ask=0.05)
    quotes, rejects, feeds = await stream(redis)
    assert rejects == [] and feeds == {"tastytrade"}
    latest = {q.sym: q for q in quotes}
    assert (latest["SPX"].bid_size, latest["SPX"].last) == (None, 5915.5)
    assert latest["SPXW261218P05800000"].bid == 0.0


async def test_cboe_quotes_land_in_the_stream_flagged_delayed(
    sink: RedisSink, redis: aioredis.Redis,
) -> None:
    fake = FakeCboe(cache_control="max-age=0")
    fake.set_json("options/_SPX", fixture("options_SPX.json"))
    fake.set_json("futures", fixture("get_quotes_combined.json"))
    await fake.start()
    try:
        cfg = CboeFeedConfig(cdn_url=fake.cdn_url, futures_url=fake.futures_url,
                             poll_interval_s=0.05)
        feed = CboeFeed(cfg, LiveClock(), min_interval_s=0.05)
        wanted = {"SPXW261218P05800000", "SPXW261218C05800000", "VX261216", "VX270120"}
        async with running(feed, sink, Subscriptions(wanted)):
            await sink.wait_for(lambda: wanted <= sink.latest.keys())
    finally:
        await fake.close()
    quotes, rejects, feeds = await stream(redis)
    assert rejects == [] and feeds == {"cboe"}
    assert {q.sym for q in quotes} == wanted and all(q.delayed for q in quotes)
