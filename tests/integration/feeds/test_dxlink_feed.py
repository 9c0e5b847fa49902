"""The DXLink adapter against an in-process tastytrade/DXLink fake speaking the real protocol."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from adapters.base import BackoffConfig, FeedGaveUp
from adapters.dxlink.config import DxLinkFeedConfig
from adapters.dxlink.feed import DxLinkFeed
from monitor.clock import FakeClock, LiveClock
from monitor.secrets import SecretRef
from monitor.subscriptions import Subscriptions
from tests.fakes.common import RecordingSink, running
from tests.fakes.dxlink import FakeDxLink

SECRET, REFRESH = "secret-good", "refresh-good"
SYMBOLS = {
    "SPX", "VIX", "SPXW261218P05800000", "SPX261218P05800000", "VIX261216C00020000",
    "VX261216", "VX270120",
}
FUTURES = {dt.date(2026, 12, 16): "/VXZ26:XCBF"}
KEEPALIVE_S = 0.05


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("TT_REFRESH_TOKEN", REFRESH)


@pytest.fixture
async def fakes() -> AsyncIterator[list[FakeDxLink]]:
    started: list[FakeDxLink] = []
    yield started
    for fake in started:
        await fake.close()


async def start_fake(fakes: list[FakeDxLink], **kw: object) -> FakeDxLink:
    kw.setdefault("futures", FUTURES)
    fake = FakeDxLink(**kw)  # type: ignore[arg-type]
    await fake.start()
    fakes.append(fake)
    return fake


def config(fake: FakeDxLink, **kw: object) -> DxLinkFeedConfig:
    base: dict[str, object] = {
        "client_secret": SecretRef(env="TT_CLIENT_SECRET"),
        "refresh_token": SecretRef(env="TT_REFRESH_TOKEN"),
        "api_url": fake.api_url, "keepalive_s": KEEPALIVE_S, "silence_timeout_s": 1.0,
        "action_timeout_s": 2.0, "aggregation_period_s": 0.005,
        "backoff": BackoffConfig(initial_s=0.01, max_s=0.05),
    }
    return DxLinkFeedConfig(**{**base, **kw})  # type: ignore[arg-type]


def expected_subs(types: tuple[str, ...] = ("Quote", "Trade")) -> set[tuple[str, str]]:
    streamers = {"SPX", "VIX", ".SPXW261218P5800", ".SPX261218P5800", ".VIX261216C20",
                 "/VXZ26:XCBF", "/VXF27:XCBF"}
    return {(t, s) for t in types for s in streamers}


async def test_normal_session_follows_the_documented_handshake_and_streams_quotes(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes)
    clock = FakeClock(1_797_000_010_000_000_000)  # after the pushed event times
    feed, sink = DxLinkFeed(config(fake), clock), RecordingSink()
    async with running(feed, sink, Subscriptions(SYMBOLS)):
        await fake.wait_for(lambda: fake.live and fake.subscribed() == expected_subs())
        conn = fake.live[0]
        assert conn.types_received()[:5] == [
            "SETUP", "AUTH", "CHANNEL_REQUEST", "FEED_SETUP", "FEED_SUBSCRIPTION"]
        assert conn.received[2]["channel"] % 2 == 1
        fake.push("Quote", "SPX", bidPrice=5800.5, askPrice=5801.25)
        fake.push("Quote", ".SPXW261218P5800", bidPrice=61.2, askPrice=61.9, bidSize=12.0,
                  askSize=1.5e7)
        fake.push("Quote", ".SPX261218P5800", bidPrice=60.0, askPrice=60.8, bidSize=3.0,
                  askSize=4.0)
        fake.push("Quote", "/VXZ26:XCBF", bidPrice=19.55, askPrice=19.6, bidSize=40.0,
                  askSize=35.0, bidTime=1_797_000_000_000, askTime=1_797_000_000_500)
        spx = await sink.wait_quote("SPX", bid=5800.5)
        assert (spx.ask, spx.bid_size, spx.ask_size) == (5801.25, None, None)
        assert spx.ts == clock.now_ns()  # zero event times are stamped on receipt
        spxw = await sink.wait_quote("SPXW261218P05800000", bid=61.2)
        assert spxw.ask_size == 15_000_000
        assert (await sink.wait_quote("SPX261218P05800000", bid=60.0)).ask == 60.8
        vx = await sink.wait_quote("VX261216", bid=19.55)
        assert vx.ts == 1_797_000_000_500 * 1_000_000
        fake.push("Trade", "SPX", price=5800.75, size=1.0, dayVolume=1.3743299e7)
        spx = await sink.wait_quote("SPX", last=5800.75)
        assert (spx.bid, spx.ask) == (5800.5, 5801.25)
        assert not spx.delayed and not feed.stats.delayed
        assert feed.stats.connected and feed.stats.subscribed == len(SYMBOLS)
        assert feed.stats.parse_errors == 0 and feed.stats.reconnects == 0


async def test_decodes_with_the_servers_field_order_and_several_pairs_per_message(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes, reverse_fields=True, multi_pair=True)
    feed = DxLinkFeed(config(fake, event_types=["Quote", "Trade", "Summary", "Greeks"]),
                      LiveClock())
    sink = RecordingSink()
    async with running(feed, sink, Subscriptions(SYMBOLS)):
        await fake.wait_for(lambda: fake.live and fake.subscribed() == expected_subs(
            ("Quote", "Trade", "Summary")) | {("Greeks", s) for s in (
                ".SPXW261218P5800", ".SPX261218P5800", ".VIX261216C20")})
        fake.push("Quote", ".VIX261216C20", bidPrice=2.15, askPrice=2.25, bidSize=100.0,
                  askSize=80.0)
        fake.push("Trade", ".VIX261216C20", price=2.2, size=5.0)
        fake.push("Greeks", ".VIX261216C20", volatility=0.98, delta=0.41, gamma=0.05,
                  theta=-0.02, rho=0.01, vega=0.03, price=2.2)
        fake.push("Summary", ".VIX261216C20", openInterest=12345.0, prevDayClosePrice="NaN")
        # all four events travel in one FEED_DATA message, decoded before the quote is out
        await sink.wait_quote("VIX261216C00020000", bid=2.15, last=2.2)
    assert feed.greeks["VIX261216C00020000"].volatility == 0.98
    summary = feed.summaries["VIX261216C00020000"]
    assert summary.open_interest == 12345.0 and summary.prev_day_close is None
    assert feed.stats.parse_errors == 0


async def test_keepalives_flow_both_ways_and_the_server_never_times_us_out(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes, keepalive_timeout_s=0.5)
    feed = DxLinkFeed(config(fake), LiveClock())
    async with running(feed, RecordingSink(), Subscriptions({"SPX"})):
        await fake.wait_for(lambda: fake.live and fake.live[0].count("KEEPALIVE") >= 5)
        assert len(fake.conns) == 1
        assert fake.live[0].count("ERROR") == 0
    # SETUP told the server we drop it after 1 s of silence; it keepalives at half that
    assert fake.conns[0].received[0]["keepaliveTimeout"] == 1.0


async def test_bad_credentials_give_up_after_the_retry_budget_without_logging_secrets(
    fakes: list[FakeDxLink], monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = await start_fake(fakes)
    monkeypatch.setenv("TT_REFRESH_TOKEN", "refresh-revoked")
    feed = DxLinkFeed(config(fake, backoff=BackoffConfig(initial_s=0.01, max_retries=2)),
                      LiveClock())
    with capture_logs() as logs, pytest.raises(FeedGaveUp, match="AuthError"):
        await asyncio.wait_for(feed.run(RecordingSink(), Subscriptions({"SPX"})), 5)
    assert fake.rest_calls.count("oauth") == 3
    assert not fake.conns
    assert "refresh-revoked" not in repr(logs) and SECRET not in repr(logs)
    assert [e["retries_left"] for e in logs if e["event"] == "feed_reconnecting"] == [1, 0]


async def test_a_rejected_quote_token_is_replaced_and_the_session_established(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes)
    feed, sink = DxLinkFeed(config(fake), LiveClock()), RecordingSink()
    original = fake.token_valid
    rejected: list[str] = []

    def reject_first(token: str | None) -> bool:
        if not rejected and token is not None:
            rejected.append(token)
            return False
        return original(token)

    fake.token_valid = reject_first  # type: ignore[method-assign]
    async with running(feed, sink, Subscriptions({"SPX"})):
        await fake.wait_for(lambda: len(fake.live) == 1 and fake.subscribed())
        fake.push("Quote", "SPX", bidPrice=1.0, askPrice=2.0)
        await sink.wait_quote("SPX", bid=1.0)
    assert fake.conns[0].received[1] == {"type": "AUTH", "channel": 0, "token": rejected[0]}
    assert fake.conns[1].received[1]["token"] != rejected[0]
    assert fake.rest_calls.count("api-quote-tokens") == 2


async def test_an_unreadable_token_expiry_fails_the_session_and_the_feed_reconnects(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes)
    fake.bad_expiry_tokens = 1
    feed, sink = DxLinkFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions({"SPX"})):
        await fake.wait_for(lambda: len(fake.live) == 1 and fake.subscribed())
        fake.push("Quote", "SPX", bidPrice=1.0, askPrice=2.0)
        await sink.wait_quote("SPX", bid=1.0)
    assert fake.rest_calls.count("api-quote-tokens") == 2
    assert feed.stats.reconnects == 1


async def test_token_expiry_mid_run_reconnects_with_a_new_token_and_resubscribes(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes, announce_expiry=False)
    feed, sink = DxLinkFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions(SYMBOLS)):
        await fake.wait_for(lambda: fake.live and fake.subscribed() == expected_subs())
        fake.expire_tokens()
        await fake.wait_for(lambda: len(fake.conns) == 2 and fake.live
                            and fake.subscribed() == expected_subs())
        fake.push("Quote", "VIX", bidPrice=17.1, askPrice=17.2)
        await sink.wait_quote("VIX", bid=17.1)
    first, second = (c.received[1]["token"] for c in fake.conns)
    assert first != second
    assert fake.conns[0].received[-1]["type"] != "AUTH"  # no re-auth was attempted in place
    assert feed.stats.reconnects == 1


async def test_token_is_refreshed_before_expiry_and_reauthed_on_the_live_connection(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes, token_ttl_s=0.6)
    feed = DxLinkFeed(config(fake, token_refresh_margin_s=0.4), LiveClock())
    sink = RecordingSink()
    async with running(feed, sink, Subscriptions({"SPX"})):
        await fake.wait_for(lambda: fake.live and fake.live[0].count("AUTH") >= 3, within_s=3)
        fake.push("Quote", "SPX", bidPrice=3.0, askPrice=4.0)
        await sink.wait_quote("SPX", bid=3.0)
    assert len(fake.conns) == 1 and feed.stats.reconnects == 0
    tokens = [m["token"] for m in fake.conns[0].received if m["type"] == "AUTH"]
    assert len(set(tokens)) == len(tokens)


async def test_a_failed_refresh_keeps_the_live_token_and_retries_before_expiry(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes, token_ttl_s=1.5)
    feed = DxLinkFeed(config(fake, token_refresh_margin_s=1.3, action_timeout_s=0.1),
                      LiveClock())
    async with running(feed, RecordingSink(), Subscriptions({"SPX"})):
        await fake.wait_for(lambda: fake.live and fake.subscribed())
        fake.fail_quote_tokens = 2
        await fake.wait_for(lambda: fake.live and fake.live[0].count("AUTH") == 2, within_s=3)
    assert len(fake.conns) == 1 and feed.stats.reconnects == 0
    assert fake.rest_calls.count("api-quote-tokens") == 4  # first, two failures, the new one


async def test_server_drop_and_return_restores_the_same_subscriptions_and_quotes_resume(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes)
    feed, sink = DxLinkFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions(SYMBOLS)):
        await fake.wait_for(lambda: fake.live and fake.subscribed() == expected_subs())
        fake.fail_upgrades = 2
        fake.drop_all()
        await fake.wait_for(lambda: len(fake.conns) == 2 and fake.live
                            and fake.subscribed() == expected_subs())
        fake.push("Quote", ".SPXW261218P5800", bidPrice=70.0, askPrice=70.5)
        await sink.wait_quote("SPXW261218P05800000", bid=70.0)
    assert fake.upgrade_failures == 2
    assert feed.stats.reconnects == 3
    adds = [(a["type"], a["symbol"]) for m in fake.conns[1].received
            if m["type"] == "FEED_SUBSCRIPTION" for a in m.get("add", [])]
    assert len(adds) == len(set(adds))  # nothing subscribed twice
    assert fake.conns[1].received[4].get("reset") is True


async def test_silent_stall_is_detected_within_two_keepalive_periods_and_reconnected(
    fakes: list[FakeDxLink],
) -> None:
    keepalive_s = 0.1
    fake = await start_fake(fakes)
    feed = DxLinkFeed(config(fake, keepalive_s=keepalive_s, silence_timeout_s=2 * keepalive_s),
                      LiveClock())
    sink = RecordingSink()
    loop = asyncio.get_running_loop()
    async with running(feed, sink, Subscriptions({"SPX"})):
        await fake.wait_for(lambda: fake.live and fake.subscribed())
        fake.stall()
        stalled_at = loop.time()
        await fake.wait_for(lambda: not fake.live)  # we dropped the silent socket
        detected_after = loop.time() - stalled_at
        fake.resume()
        await fake.wait_for(lambda: len(fake.conns) == 2 and fake.live and fake.subscribed())
        fake.push("Quote", "SPX", bidPrice=9.0, askPrice=9.5)
        await sink.wait_quote("SPX", bid=9.0)
    assert feed.stats.stalls == 1
    # the socket stays open and silent: only our 2 x keepalive watchdog can notice;
    # the margin covers scheduling on a loaded machine
    assert detected_after < 2 * keepalive_s + 0.3


async def test_malformed_and_truncated_frames_are_counted_and_skipped(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes)
    feed, sink = DxLinkFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions({"SPX", "VIX"})):
        await fake.wait_for(lambda: fake.live and fake.subscribed())
        fake.push("Quote", "VIX", bidPrice=15.0, askPrice=15.1)
        await sink.wait_quote("VIX", bid=15.0)
        for raw in (
            '{"type":"FEED_DATA","channel":1,"data":["Quote",["Quote","SPX",1.0',  # truncated
            '{"type":"FEED_DATA","channel":1,"data":["Quote",["Quote","SPX",1.0]]}',  # length
            '{"type":"FEED_DATA","channel":1,"data":["Candle",[1,2]]}',  # unknown layout
            "not json at all",
            b"\x00\x01binary",
        ):
            await fake.send_raw(raw)
        fake.push("Quote", "SPX", bidPrice=5000.0, askPrice=5001.0)
        await sink.wait_quote("SPX", bid=5000.0)
    assert feed.stats.parse_errors == 5
    assert feed.stats.reconnects == 0 and len(fake.conns) == 1


async def test_oversized_subscription_frames_are_chunked_below_the_limit(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes, max_frame_bytes=8192)
    many = {f"SPXW261218P{k * 1000:08d}" for k in range(3000, 6000, 5)}
    feed, sink = DxLinkFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions(many)):
        await fake.wait_for(lambda: fake.live and len(fake.subscribed()) == 2 * len(many))
    frames = [m for m in fake.conns[0].received if m["type"] == "FEED_SUBSCRIPTION"]
    assert len(frames) > 1
    assert all(len(json.dumps(m, separators=(",", ":"))) <= 8192 for m in frames)
    assert feed.stats.reconnects == 0


async def test_a_1009_close_halves_the_chunk_size_until_the_server_accepts(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes, max_frame_bytes=8192)
    many = {f"SPXW261218C{k * 1000:08d}" for k in range(3000, 6000, 5)}
    feed = DxLinkFeed(config(fake, max_subscription_bytes=40_000), LiveClock())
    async with running(feed, RecordingSink(), Subscriptions(many)):
        await fake.wait_for(lambda: fake.live and len(fake.subscribed()) == 2 * len(many))
    assert feed.max_subscription_bytes <= 8192
    assert feed.stats.reconnects == 3  # 40000 -> 20000 -> 10000 -> 5000


async def test_slow_consumer_conflates_quotes_and_keeps_the_session_alive(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes)
    names = [f".SPXW261218P{k}" for k in range(5000, 5100)]
    canon = {f"SPXW261218P0{k}000" for k in range(5000, 5100)}
    feed, sink = DxLinkFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions(canon)):
        await fake.wait_for(lambda: fake.live and len(fake.subscribed()) == 200)
        sink.gate.clear()
        for i in range(20):
            flushes = fake.flushes
            for name in names:
                fake.push("Quote", name, bidPrice=float(i), askPrice=float(i) + 0.5)
            await fake.wait_for(lambda: fake.flushes > flushes)  # noqa: B023
        await fake.wait_for(lambda: fake.live[0].count("KEEPALIVE") >= 3)
        sink.gate.set()
        await sink.wait_for(lambda: all(
            sink.latest.get(s) is not None and sink.latest[s].bid == 19.0 for s in canon))
    assert feed.stats.reconnects == 0
    assert feed.stats.conflated > 0
    assert len(sink.quotes) < feed.stats.quotes


async def test_portfolio_reload_sends_only_the_subscription_difference(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes)
    subs = Subscriptions({"SPX", "VIX"})
    feed = DxLinkFeed(config(fake), LiveClock())
    async with running(feed, RecordingSink(), subs):
        await fake.wait_for(lambda: fake.live and len(fake.subscribed()) == 4)
        subs.replace({"SPX", "VIX9D"})
        await fake.wait_for(lambda: fake.subscribed() == {
            ("Quote", "SPX"), ("Trade", "SPX"), ("Quote", "VIX9D"), ("Trade", "VIX9D")})
    updates = [m for m in fake.conns[0].received if m["type"] == "FEED_SUBSCRIPTION"][1:]
    assert not any("reset" in m for m in updates)
    assert {a["symbol"] for m in updates for a in m.get("add", [])} == {"VIX9D"}
    assert {r["symbol"] for m in updates for r in m.get("remove", [])} == {"VIX"}
    assert feed.stats.subscribed == 2


async def test_unsolicited_channel_close_reopens_the_feed(fakes: list[FakeDxLink]) -> None:
    fake = await start_fake(fakes)
    feed, sink = DxLinkFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions({"SPX"})):
        await fake.wait_for(lambda: fake.live and fake.subscribed())
        await fake.close_channel()
        await fake.wait_for(lambda: len(fake.conns) == 2 and fake.live and fake.subscribed())
        fake.push("Quote", "SPX", bidPrice=4.0, askPrice=4.5)
        await sink.wait_quote("SPX", bid=4.0)


async def test_sandbox_token_level_marks_the_feed_and_its_quotes_delayed(
    fakes: list[FakeDxLink],
) -> None:
    fake = await start_fake(fakes, level="demo")
    feed, sink = DxLinkFeed(config(fake), LiveClock()), RecordingSink()
    async with running(feed, sink, Subscriptions({"SPX"})):
        await fake.wait_for(lambda: fake.live and fake.subscribed())
        fake.push("Quote", "SPX", bidPrice=1.0, askPrice=1.5)
        assert (await sink.wait_quote("SPX", bid=1.0)).delayed
    assert feed.stats.delayed
