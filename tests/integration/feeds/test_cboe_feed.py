"""The Cboe delayed-quotes adapter against an in-process CDN fake."""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator

import pytest

from adapters.base import BackoffConfig
from adapters.cboe.config import CboeFeedConfig
from adapters.cboe.feed import CboeFeed
from monitor.clock import LiveClock
from monitor.subscriptions import Subscriptions
from tests.fakes.cboe import FakeCboe, fixture, spx_file
from tests.fakes.common import RecordingSink, running

SPX_OPTIONS = fixture("options_SPX.json")
VIX_OPTIONS = fixture("options_VIX.json")
VIX9D = fixture("quotes_VIX9D.json")
FUTURES = fixture("get_quotes_combined.json")
SYMBOLS = {
    "SPX", "VIX", "VIX9D", "SPXW261218P05800000", "SPX261218P05800000",
    "SPXW261218C05800000", "VIX261216C00020000", "VIXW261209C00020000", "VX261216",
    "VX270120", "VX261209",
}
POLL_S = 0.02
NS = 1_000_000_000


@pytest.fixture
async def fake() -> AsyncIterator[FakeCboe]:
    server = FakeCboe(browser_only=True, cache_control="max-age=0")
    server.set_json("options/_SPX", SPX_OPTIONS)
    server.set_json("options/_VIX", VIX_OPTIONS)
    server.set_json("quotes/_VIX9D", VIX9D)
    server.set_json("quotes/_SPX", {"data": SPX_OPTIONS["data"] | {"options": []}})
    server.set_json("quotes/_VIX", {"data": VIX_OPTIONS["data"] | {"options": []}})
    server.set_json("futures", FUTURES)
    await server.start()
    yield server
    await server.close()


def feed_for(fake: FakeCboe, **kw: object) -> CboeFeed:
    base: dict[str, object] = {
        "cdn_url": fake.cdn_url, "futures_url": fake.futures_url, "poll_interval_s": POLL_S,
        "silence_timeout_s": 1.0, "backoff": BackoffConfig(initial_s=0.05, max_s=0.2),
    }
    cfg = CboeFeedConfig(**{**base, **kw})  # type: ignore[arg-type]
    return CboeFeed(cfg, LiveClock(), min_interval_s=POLL_S)


async def test_polls_every_subscribed_file_and_publishes_delayed_canonical_quotes(
    fake: FakeCboe,
) -> None:
    feed, sink = feed_for(fake), RecordingSink()
    async with running(feed, sink, Subscriptions(SYMBOLS)):
        await sink.wait_for(lambda: {"SPXW261218C05800000", "VX270120", "VIX9D",
                                     "VIXW261209C00020000"} <= sink.latest.keys())
        assert feed.stats.connected
    latest = sink.latest
    assert all(q.delayed for q in sink.quotes) and feed.stats.delayed
    close_ns = 1_795_468_500 * NS  # 2026-11-23 16:15:00 New York = 21:15:00 UTC
    spxw, spx = latest["SPXW261218P05800000"], latest["SPX261218P05800000"]
    assert (spxw.bid, spxw.ask, spxw.last, spxw.ts) == (61.2, 61.9, 61.5, close_ns)
    assert (spx.bid, spx.ask, spx.bid_size, spx.ask_size) == (60.0, 60.8, 25, 31)
    assert latest["SPXW261218C05800000"].last is None  # never traded
    assert latest["SPX"].last == 5915.37
    assert latest["VIX9D"].ts == 1_795_482_312 * NS  # no last trade: UTC publication time
    assert latest["VX261216"].last == 18.85
    assert latest["VX270120"].last is None  # untraded monthly: its settlement only
    assert latest["VX270120"].settle == 19.6021
    assert "VX261209" not in latest  # a weekly (cloned settlement) is never used
    assert latest["VX261216"].ts == 1_795_468_446_760_668_000
    assert feed.stats.parse_errors == 0


async def test_requests_look_like_a_browser_and_skip_files_nobody_needs(fake: FakeCboe) -> None:
    feed, sink = feed_for(fake), RecordingSink()
    async with running(feed, sink, Subscriptions({"SPX", "SPXW261218P05800000"})):
        await fake.wait_for(lambda: len(fake.served("options/_SPX", 200)) >= 1
                            and len(fake.served("quotes/_SPX")) >= 2)
    assert not fake.served("options/_VIX") and not fake.served("futures")
    headers = fake.requests[0].headers
    assert headers["Origin"] == "https://www.cboe.com" and "Mozilla" in headers["User-Agent"]


async def test_cache_headers_set_the_pace_and_unchanged_files_are_not_refetched(
    fake: FakeCboe,
) -> None:
    fake.cache_control = "max-age=0, s-maxage=1"
    feed, sink = feed_for(fake), RecordingSink()
    async with running(feed, sink, Subscriptions({"VIX9D"})):
        await fake.wait_for(lambda: len(fake.served("quotes/_VIX9D")) >= 2, within_s=3)
    first, second = fake.served("quotes/_VIX9D")[:2]
    assert second.at - first.at >= 1.0  # content stays fresh at the CDN for s-maxage
    assert second.status == 304 and second.headers["If-None-Match"]
    assert len(sink.quotes) == 1


async def test_403_is_tolerated_with_backoff_then_polling_resumes(fake: FakeCboe) -> None:
    fake.forbid_next = 3
    feed, sink = feed_for(fake), RecordingSink()
    async with running(feed, sink, Subscriptions({"VIX9D"})):
        await sink.wait_quote("VIX9D", last=15.82)
    refused = fake.served("quotes/_VIX9D", 403)
    assert len(refused) == 3 and feed.stats.reconnects == 3
    gaps = [b.at - a.at for a, b in itertools.pairwise(refused)]
    assert gaps[1] > gaps[0] * 1.2 or gaps[1] >= 0.05  # exponential, jittered, from 0.05 s


async def test_a_hung_response_is_abandoned_after_the_silence_timeout(fake: FakeCboe) -> None:
    feed, sink = feed_for(fake, silence_timeout_s=0.2), RecordingSink()
    async with running(feed, sink, Subscriptions({"VIX9D"})):
        await sink.wait_quote("VIX9D", last=15.82)
        changed = copy.deepcopy(VIX9D)
        changed["data"]["current_price"] = 16.01
        fake.set_json("quotes/_VIX9D", changed)
        fake.hang.clear()
        seen = len(fake.arrivals)
        await fake.wait_for(lambda: len(fake.arrivals) >= seen + 2)
        hung, retried = fake.arrivals[seen:seen + 2]
        fake.hang.set()
        await sink.wait_quote("VIX9D", last=16.01)
    assert feed.stats.stalls >= 1
    # silence_timeout_s (0.2) and then the first backoff step (at most 0.05)
    assert 0.2 <= retried - hung < 0.2 + 0.05 + 0.3  # margin for a loaded machine


async def test_truncated_bodies_are_counted_and_the_next_poll_recovers(fake: FakeCboe) -> None:
    fake.truncate_next = 1
    feed, sink = feed_for(fake), RecordingSink()
    async with running(feed, sink, Subscriptions({"SPXW261218P05800000"})):
        await sink.wait_quote("SPXW261218P05800000", bid=61.2)
    assert feed.stats.parse_errors == 1
    assert fake.served("options/_SPX")[1].headers.get("If-None-Match") is None


async def test_server_down_and_back_resumes_polling(fake: FakeCboe) -> None:
    feed, sink = feed_for(fake), RecordingSink()
    async with running(feed, sink, Subscriptions({"VIX9D"})):
        await sink.wait_quote("VIX9D", last=15.82)
        await fake.go_down()
        changed = copy.deepcopy(VIX9D)
        changed["data"]["current_price"] = 14.5
        fake.set_json("quotes/_VIX9D", changed)
        await fake.wait_for(lambda: fake.resets >= 3)  # aiohttp retries a reset once itself
        await fake.come_back()
        await sink.wait_quote("VIX9D", last=14.5)
    assert feed.stats.reconnects >= 1


async def test_slow_consumer_gets_the_latest_quote_once_it_catches_up(fake: FakeCboe) -> None:
    feed, sink = feed_for(fake), RecordingSink()
    async with running(feed, sink, Subscriptions({"VIX9D"})):
        await sink.wait_quote("VIX9D", last=15.82)
        sink.gate.clear()
        for price in (15.0, 15.5, 16.0):
            changed = copy.deepcopy(VIX9D)
            changed["data"]["current_price"] = price
            fake.set_json("quotes/_VIX9D", changed)
            polls = len(fake.served("quotes/_VIX9D", 200))
            await fake.wait_for(lambda: len(fake.served("quotes/_VIX9D", 200)) > polls)  # noqa: B023
        # polls of one file are sequential: the next request means the last body was applied
        polls = len(fake.served("quotes/_VIX9D"))
        await fake.wait_for(lambda: len(fake.served("quotes/_VIX9D")) > polls)
        sink.gate.set()
        await sink.wait_quote("VIX9D", last=16.0)
    assert [q.last for q in sink.quotes if q.sym == "VIX9D"][-1] == 16.0
    assert feed.stats.conflated >= 1


async def test_the_full_size_spx_file_is_served_and_filtered_to_subscriptions(
    fake: FakeCboe,
) -> None:
    fake.set_body("options/_SPX", spx_file())
    wanted = {"SPXW261208P05900000", "SPX261201C05915000"}
    feed, sink = feed_for(fake, poll_interval_s=5.0), RecordingSink()
    async with running(feed, sink, Subscriptions(wanted)):
        await sink.wait_for(lambda: wanted <= sink.latest.keys())
    assert {q.sym for q in sink.quotes} == wanted


async def test_the_options_files_listed_strikes_feed_the_subscription_window(
    fake: FakeCboe,
) -> None:
    """Every contract in ``options/_SPX.json`` counts as listed, subscribed or not."""
    import datetime as dt

    from monitor.subscriptions import ListedStrikes, MarketView, nearest_strikes

    listed = ListedStrikes()
    cfg = CboeFeedConfig(
        cdn_url=fake.cdn_url, futures_url=fake.futures_url, poll_interval_s=POLL_S,
        silence_timeout_s=1.0, backoff=BackoffConfig(initial_s=0.05, max_s=0.2),
    )
    feed, sink = CboeFeed(cfg, LiveClock(), min_interval_s=POLL_S, listed=listed), RecordingSink()
    async with running(feed, sink, Subscriptions({"SPXW261218P05800000"})):
        await sink.wait_for(lambda: "SPXW261218P05800000" in sink.latest)
    strikes = listed.current()
    spxw = strikes[("SPXW", dt.date(2026, 12, 21))]
    assert list(spxw) == [4000.0, 7500.0]  # from the file, though nobody subscribed them
    view = MarketView(spx_spot=5915.0, chain_strikes=strikes)
    assert nearest_strikes(5915.0, view.chain_strikes[("SPXW", dt.date(2026, 12, 21))], 10, 5.0) \
        == [4000.0, 7500.0]
