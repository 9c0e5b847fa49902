"""The Tradier adapter against an in-process Tradier fake: sessions, streams, REST chains."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest
from structlog.testing import capture_logs

from adapters.base import BackoffConfig, FeedGaveUp
from adapters.tradier.config import TradierFeedConfig
from adapters.tradier.feed import TradierFeed
from adapters.tradier.rest import RateLimited, TradierApi, listed_strikes
from monitor.clock import FakeClock, LiveClock
from monitor.secrets import SecretRef
from monitor.subscriptions import Subscriptions
from tests.fakes.common import RecordingSink, running
from tests.fakes.tradier import FakeTradier

TOKEN = "tradier-token"
SYMBOLS = {"SPX", "VIX", "SPXW261218P05800000", "SPX261218P05800000", "VX261216"}
VENUE_SYMBOLS = SYMBOLS - {"VX261216"}
KEEPALIVE_S = 0.05


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADIER_TOKEN", TOKEN)


@pytest.fixture
async def fakes() -> AsyncIterator[list[FakeTradier]]:
    started: list[FakeTradier] = []
    yield started
    for fake in started:
        await fake.close()


async def start_fake(fakes: list[FakeTradier], **kw: object) -> FakeTradier:
    fake = FakeTradier(**kw)  # type: ignore[arg-type]
    await fake.start()
    fakes.append(fake)
    return fake


def config(fake: FakeTradier, **kw: object) -> TradierFeedConfig:
    base: dict[str, object] = {
        "token": SecretRef(env="TRADIER_TOKEN"), "api_url": fake.api_url, "ws_url": fake.ws_url,
        "keepalive_s": KEEPALIVE_S, "silence_timeout_s": 1.0,
        "backoff": BackoffConfig(initial_s=0.01, max_s=0.05),
    }
    return TradierFeedConfig(**{**base, **kw})  # type: ignore[arg-type]


def streaming(fake: FakeTradier, symbols: set[str] = VENUE_SYMBOLS) -> bool:
    return bool(fake.live) and fake.live[-1].symbols == symbols


async def test_normal_session_creates_a_session_subscribes_and_merges_quotes_and_trades(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes)
    # after the pushed event times, each given (the fake's default is the wall clock's)
    clock = FakeClock(1_797_000_010_000_000_000)
    feed, sink = TradierFeed(config(fake), clock), RecordingSink()
    async with running(feed, sink, Subscriptions(SYMBOLS)):
        await fake.wait_for(lambda: streaming(fake))
        payload = fake.live[0].payloads[0]
        assert payload["sessionid"] == fake.current_session
        assert payload["filter"] == ["quote", "trade", "summary"]
        assert payload["linebreak"] is True and payload["validOnly"] is True
        assert "VX261216" not in payload["symbols"]  # Tradier has no VX futures
        await fake.quote("SPXW261218P05800000", 61.2, 61.9, 12, 8, date_ms=1_797_000_000_123)
        await fake.quote("SPX261218P05800000", 60.0, 60.8, date_ms=1_797_000_000_500)
        q = await sink.wait_quote("SPXW261218P05800000", bid=61.2)
        assert (q.ask, q.bid_size, q.ask_size, q.ts) == (61.9, 12, 8, 1_797_000_000_123_000_000)
        await sink.wait_quote("SPX261218P05800000", bid=60.0)
        await fake.trade("SPXW261218P05800000", 61.5, date_ms=1_797_000_001_000)
        q = await sink.wait_quote("SPXW261218P05800000", last=61.5)
        assert (q.bid, q.ask) == (61.2, 61.9)
        await fake.summary("SPX", open_=5790.0, high=5810.0, low=5780.0, prev_close=5795.5,
                           close=5801.0)
        await fake.quote("SPX", 5800.0, 5801.0, date_ms=1_797_000_002_000)
        await sink.wait_quote("SPX", bid=5800.0)
    assert feed.summaries["SPX"].prev_close == 5795.5
    assert feed.stats.subscribed == len(VENUE_SYMBOLS)
    assert feed.stats.parse_errors == 0 and fake.session_requests == 1


async def test_an_invalid_token_gives_up_after_the_retry_budget_without_logging_it(
    fakes: list[FakeTradier], monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = await start_fake(fakes)
    monkeypatch.setenv("TRADIER_TOKEN", "wrong-token-value")
    feed = TradierFeed(config(fake, backoff=BackoffConfig(initial_s=0.01, max_retries=1)),
                       LiveClock())
    with capture_logs() as logs, pytest.raises(FeedGaveUp, match="HTTP 401"):
        await asyncio.wait_for(feed.run(RecordingSink(), Subscriptions({"SPX"})), 5)
    assert not fake.streams
    assert "wrong-token-value" not in repr(logs)


async def test_session_expiry_mid_run_opens_a_new_session_and_restores_symbols(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes)
    feed, sink = TradierFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions(SYMBOLS)):
        await fake.wait_for(lambda: streaming(fake))
        first = fake.current_session
        await fake.expire_sessions()
        await fake.wait_for(lambda: streaming(fake) and fake.current_session != first)
        await fake.quote("VIX", 17.1, 17.2)
        await sink.wait_quote("VIX", bid=17.1)
    assert fake.session_requests == 2
    assert all(p.get("sessionid") != first for p in fake.streams[-1].payloads)


async def test_a_session_opened_elsewhere_ends_ours_and_we_take_a_new_one(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes)
    feed, sink = TradierFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions({"SPX"})):
        await fake.wait_for(lambda: streaming(fake, {"SPX"}))
        await fake.create_session_elsewhere()
        await fake.wait_for(lambda: len(fake.streams) == 2 and streaming(fake, {"SPX"}))
        await fake.quote("SPX", 1.0, 2.0)
        await sink.wait_quote("SPX", bid=1.0)


async def test_server_drop_and_return_resumes_quotes_with_the_same_symbols(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes)
    feed, sink = TradierFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions(SYMBOLS)):
        await fake.wait_for(lambda: streaming(fake))
        fake.drop_all()
        await fake.wait_for(lambda: len(fake.streams) == 2 and streaming(fake))
        await fake.quote("SPXW261218P05800000", 70.0, 70.5)
        await sink.wait_quote("SPXW261218P05800000", bid=70.0)
    assert sorted(fake.streams[1].payloads[0]["symbols"]) == sorted(VENUE_SYMBOLS)
    assert feed.stats.reconnects == 1


async def test_silent_stall_without_pongs_is_detected_within_two_keepalives(
    fakes: list[FakeTradier],
) -> None:
    keepalive_s = 0.1
    fake = await start_fake(fakes)
    feed = TradierFeed(config(fake, keepalive_s=keepalive_s, silence_timeout_s=2 * keepalive_s),
                       LiveClock())
    sink = RecordingSink()
    loop = asyncio.get_running_loop()
    async with running(feed, sink, Subscriptions({"SPX"})):
        await fake.wait_for(lambda: streaming(fake, {"SPX"}))
        fake.stall()
        stalled_at = loop.time()
        await fake.wait_for(lambda: not fake.live)  # we dropped the silent socket
        detected_after = loop.time() - stalled_at
        fake.resume()
        await fake.wait_for(lambda: len(fake.streams) == 2 and streaming(fake, {"SPX"}))
        await fake.quote("SPX", 3.0, 4.0)
        await sink.wait_quote("SPX", bid=3.0)
    assert feed.stats.stalls == 1
    # the last PONG came at most one ping interval before the stall; then 2 x keepalive
    assert detected_after < 3 * keepalive_s + 0.3


async def test_a_quiet_but_healthy_websocket_is_kept_open_by_pongs(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes)
    feed = TradierFeed(config(fake, silence_timeout_s=4 * KEEPALIVE_S), LiveClock())
    async with running(feed, RecordingSink(), Subscriptions({"SPX"})):
        await fake.wait_for(lambda: streaming(fake, {"SPX"}))
        # nothing to wait for: the assertion is that nothing happens in 3 silence timeouts
        await asyncio.sleep(12 * KEEPALIVE_S)
    assert len(fake.streams) == 1 and feed.stats.stalls == 0


async def test_malformed_payloads_and_error_frames_are_counted_and_skipped(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes)
    feed, sink = TradierFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions({"SPX", "VIX"})):
        await fake.wait_for(lambda: streaming(fake, {"SPX", "VIX"}))
        for raw in ('{"type":"quote","symbol":"SPX","bid":58', '{"type":"quote"}',
                    '{"type":"trade","symbol":"SPX","price":"abc"}', b"\x00binary",
                    '{"error":"1234 is not a valid symbol"}'):
            await fake.send_raw(raw)
        await fake.quote("VIX", 15.0, 15.1)
        await sink.wait_quote("VIX", bid=15.0)
    assert feed.stats.parse_errors == 4
    assert feed.stats.reconnects == 0


async def test_an_oversized_subscription_switches_to_http_streaming(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes, max_frame_bytes=4096)
    many = {f"SPXW261218P{k * 1000:08d}" for k in range(3000, 6000, 5)}
    feed, sink = TradierFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions(many)):
        await fake.wait_for(lambda: fake.live and fake.live[-1].kind == "http"
                            and fake.live[-1].symbols == many)
        await fake.quote("SPXW261218P05000000", 20.0, 20.5)
        await sink.wait_quote("SPXW261218P05000000", bid=20.0)
    assert fake.streams[0].kind == "ws" and feed.use_http  # 1009 on the first attempt


async def test_payloads_over_the_configured_limit_go_straight_to_http_streaming(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes)
    feed, sink = TradierFeed(config(fake, max_ws_payload_bytes=100), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions(SYMBOLS)):
        await fake.wait_for(lambda: streaming(fake))
        assert fake.live[0].kind == "http"
        await fake.trade("SPX", 5800.25)
        await sink.wait_quote("SPX", last=5800.25)
    assert not feed.use_http  # only this symbol set was too big


async def test_a_server_without_the_market_websocket_is_read_over_http_streaming(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes)
    fake.websocket_available = False
    feed, sink = TradierFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions({"SPX"})):
        await fake.wait_for(lambda: streaming(fake, {"SPX"}))
        await fake.quote("SPX", 7.0, 8.0)
        await sink.wait_quote("SPX", bid=7.0)
    assert feed.use_http and [s.kind for s in fake.streams] == ["http"]


async def test_http_stream_closed_for_silence_is_reopened_with_a_new_session(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes, http_idle_close_s=0.1)
    feed, sink = TradierFeed(config(fake, transport="http"), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions({"SPX"})):
        await fake.wait_for(lambda: len(fake.streams) >= 2 and streaming(fake, {"SPX"}))
        await fake.quote("SPX", 5.0, 6.0)
        await sink.wait_quote("SPX", bid=5.0)
    assert all(s.kind == "http" for s in fake.streams)
    assert fake.session_requests == len(fake.streams)


async def test_slow_consumer_conflates_and_the_stream_stays_up(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes)
    names = {f"SPXW261218P0{k}000" for k in range(5000, 5050)}
    feed, sink = TradierFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions(names)):
        await fake.wait_for(lambda: streaming(fake, names))
        sink.gate.clear()
        for i in range(40):
            for name in sorted(names):
                await fake.quote(name, float(i), float(i) + 0.5)
        await fake.wait_for(lambda: feed.stats.quotes == 40 * 50, within_s=10)
        sink.gate.set()
        await sink.wait_for(lambda: all(
            s in sink.latest and sink.latest[s].bid == 39.0 for s in names))
    assert feed.stats.reconnects == 0 and feed.stats.conflated > 0


async def test_portfolio_reload_resends_the_full_payload_on_the_same_session(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes)
    subs = Subscriptions({"SPX", "VIX"})
    feed = TradierFeed(config(fake), LiveClock())
    async with running(feed, RecordingSink(), subs):
        await fake.wait_for(lambda: streaming(fake, {"SPX", "VIX"}))
        subs.replace({"SPX", "VIX9D"})
        await fake.wait_for(lambda: streaming(fake, {"SPX", "VIX9D"}))
    stream = fake.streams[0]
    assert len(fake.streams) == 1 and len(stream.payloads) == 2
    assert stream.payloads[1]["sessionid"] == stream.payloads[0]["sessionid"]
    assert stream.payloads[1]["symbols"] == ["SPX", "VIX9D"]


async def test_listed_strikes_come_from_the_chain_with_all_roots(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes)
    friday = dt.date(2026, 12, 18)
    fake.add_chain("SPX", friday, [5795.0, 5800.0])
    fake.add_chain("SPXW", friday, [5795.0, 5800.0, 5805.0])
    fake.add_chain("SPXW", dt.date(2026, 12, 21), [5800.0])  # one row per side: collapsed lists
    api = TradierApi(config(fake), LiveClock())
    async with aiohttp.ClientSession() as http:
        strikes = await listed_strikes(api, http, "SPX")
        rows = await api.chain(http, "SPX", friday, greeks=True)
    assert strikes == {
        ("SPX", friday): [5795.0, 5800.0],
        ("SPXW", friday): [5795.0, 5800.0, 5805.0],
        ("SPXW", dt.date(2026, 12, 21)): [5800.0],
    }
    assert all("includeAllRoots=true" in r for r in fake.rest_requests if "expirations" in r)
    assert rows[0].iv == 0.187  # mid_iv 0.0 falls back to smv_vol


async def test_rate_limited_chain_requests_wait_for_the_window(
    fakes: list[FakeTradier],
) -> None:
    fake = await start_fake(fakes, rate_limit=1, rate_window_s=0.2)
    fake.add_chain("SPXW", dt.date(2026, 12, 21), [5800.0])
    api = TradierApi(config(fake), LiveClock())
    async with aiohttp.ClientSession() as http:
        await api.expirations(http, "SPX")
        with pytest.raises(RateLimited):
            await api.expirations(http, "SPX")
        assert await listed_strikes(api, http, "SPX") == {
            ("SPXW", dt.date(2026, 12, 21)): [5800.0]}


async def test_the_feed_reads_listed_strikes_of_the_subscribed_expiries_once_per_refresh(
    fakes: list[FakeTradier],
) -> None:
    from monitor.subscriptions import ListedStrikes

    fake = await start_fake(fakes)
    friday, later = dt.date(2026, 12, 18), dt.date(2027, 1, 15)
    fake.add_chain("SPX", friday, [5795.0, 5800.0])
    fake.add_chain("SPXW", friday, [5795.0, 5800.0, 5805.0])
    fake.add_chain("SPXW", later, [5800.0])  # listed, but nothing subscribed expires then
    listed = ListedStrikes()
    feed, sink = TradierFeed(config(fake), LiveClock(), listed=listed), RecordingSink()
    async with running(feed, sink, Subscriptions(SYMBOLS)):
        await fake.wait_for(lambda: streaming(fake))
    assert listed.current() == {
        ("SPX", friday): (5795.0, 5800.0), ("SPXW", friday): (5795.0, 5800.0, 5805.0)}
    chains = [r for r in fake.rest_requests if r.startswith("chains")]
    assert len(chains) == 1 and "2026-12-18" in chains[0]
