"""DXLink parsing from recorded messages (tests/resources/dxlink): frames in, quotes out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest

from adapters.dxlink import parsing
from adapters.dxlink.parsing import (
    AuthState,
    ChannelClosed,
    ChannelOpened,
    Error,
    FeedData,
    FeedDataDecoder,
    Keepalive,
    Setup,
    Unhandled,
    decode_message,
)
from adapters.dxlink.symbols import SymbolMap

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "dxlink"
TS_INIT = 1_797_000_010_000_000_000  # receipt: after every recorded event (none is ahead)
CANONICAL = [
    "SPX", "VIX", "SPXW261218P05800000", "SPXW261218P05795000", "SPXW261218C05800000",
    "VIX261216C00020000", "VX261216",
]


def recorded(name: str) -> bytes:
    return (RESOURCES / name).read_bytes()


@pytest.fixture
def decoder() -> FeedDataDecoder:
    symbol_map = SymbolMap()
    symbol_map.update(CANONICAL, {dt.date(2026, 12, 16): "/VXZ26:XCBF"}, {})
    return FeedDataDecoder(symbol_map.canonical)


def feed_data(name: str) -> FeedData:
    msg = decode_message(recorded(name))
    assert isinstance(msg, FeedData)
    return msg


def configure(decoder: FeedDataDecoder, name: str) -> None:
    msg = decode_message(recorded(name))
    assert isinstance(msg, parsing.FeedConfig)
    decoder.configure(msg)


def test_compact_quotes_decode_with_nan_sizes_as_none_and_zero_times_stamped_on_receipt(
    decoder: FeedDataDecoder,
) -> None:
    configure(decoder, "feed_config_quote.json")
    out = decoder.decode(feed_data("feed_data_quotes.json"), TS_INIT)
    by_sym = {q.sym: q for q in out.quotes}
    assert out.errors == 0 and out.events == 4
    spxw = by_sym["SPXW261218P05800000"]
    assert (spxw.bid, spxw.ask, spxw.bid_size, spxw.ask_size, spxw.ts) == (
        61.2, 61.9, 12, 8, TS_INIT)
    spx = by_sym["SPX"]
    assert (spx.bid, spx.ask, spx.bid_size, spx.ask_size) == (5915.1, 5916.3, None, None)
    assert by_sym["VX261216"].ts == 1_797_000_000_500 * 1_000_000  # latest of bid/ask time
    wing = by_sym["SPXW261218P05795000"]
    assert (wing.bid, wing.bid_size, wing.ask_size) == (None, 0, 1500)  # exponent notation


def test_the_servers_field_order_wins_even_without_event_type(decoder: FeedDataDecoder) -> None:
    configure(decoder, "feed_config_quote_tastyware_order.json")
    out = decoder.decode(feed_data("feed_data_spx_index.json"), TS_INIT)
    [spx] = out.quotes
    assert (spx.sym, spx.bid, spx.ask, spx.bid_size) == ("SPX", 4122.49, 4123.65, None)


def test_several_type_value_pairs_in_one_message_are_all_decoded(
    decoder: FeedDataDecoder,
) -> None:
    configure(decoder, "feed_config_all.json")
    out = decoder.decode(feed_data("feed_data_multi_pair.json"), TS_INIT)
    assert out.errors == 0
    assert [(q.sym, q.last, q.ts) for q in out.quotes if q.last is not None] == [
        ("SPX", 5915.25, 1_797_000_001_000 * 1_000_000),
        ("VIX261216C00020000", 2.2, TS_INIT),
    ]  # the VIX trade with a NaN price carries nothing and is dropped
    [greeks] = out.greeks
    assert (greeks.volatility, greeks.delta, greeks.ts) == (0.9801, 0.4121, 1_797_000_002 * 10**9)
    summaries = {s.sym: s for s in out.summaries}
    assert summaries["VIX261216C00020000"].open_interest == 12345.0
    assert summaries["VIX261216C00020000"].day_close is None
    assert summaries["SPX"].day_close is None  # "Infinity"


def test_a_values_list_that_is_not_whole_events_is_dropped_and_counted(
    decoder: FeedDataDecoder,
) -> None:
    configure(decoder, "feed_config_quote.json")
    msg = FeedData(channel=1, data=["Quote", ["Quote", "SPX", 0, 0, 0, 1.0, 2.0, 3.0]])
    out = decoder.decode(msg, TS_INIT)
    assert out.quotes == [] and out.errors == 1


def test_data_for_a_type_without_announced_fields_is_an_error(decoder: FeedDataDecoder) -> None:
    configure(decoder, "feed_config_initial.json")  # the first FEED_CONFIG has no eventFields
    out = decoder.decode(feed_data("feed_data_quotes.json"), TS_INIT)
    assert out.quotes == [] and out.errors == 1


def test_a_non_numeric_value_spoils_only_its_own_event(decoder: FeedDataDecoder) -> None:
    configure(decoder, "feed_config_quote.json")
    msg = FeedData(channel=1, data=["Quote", [
        "Quote", "SPX", 0, 0, 0, "oops", 2.0, 1.0, 1.0,
        "Quote", "VIX", 0, 0, 0, 17.0, 17.1, 1.0, 1.0]])
    out = decoder.decode(msg, TS_INIT)
    assert [q.sym for q in out.quotes] == ["VIX"] and out.errors == 1


def test_unsubscribed_symbols_are_skipped_not_errors(decoder: FeedDataDecoder) -> None:
    configure(decoder, "feed_config_quote.json")
    msg = FeedData(channel=1, data=["Quote", ["Quote", ".SPY261218P500", 0, 0, 0, 1, 2, 3, 4]])
    out = decoder.decode(msg, TS_INIT)
    assert out.quotes == [] and out.errors == 0 and out.unknown_symbols == 1


def test_full_format_objects_are_decoded_by_name(decoder: FeedDataDecoder) -> None:
    out = decoder.decode(feed_data("feed_data_full.json"), TS_INIT)
    assert [(q.sym, q.bid, q.ask, q.bid_size) for q in out.quotes] == [
        ("SPXW261218C05800000", 181.4, 183.0, None),
        ("SPXW261218P05800000", 0.0, 0.05, None),  # a 0.00 bid is a real price
    ]


def test_connection_messages_decode_to_their_types() -> None:
    lines = recorded("server_messages.jsonl").splitlines()
    decoded = [decode_message(line) for line in lines]
    assert [type(m) for m in decoded] == [
        Setup, AuthState, AuthState, ChannelOpened, Keepalive, Error, ChannelClosed, Unhandled]
    setup = decoded[0]
    assert isinstance(setup, Setup) and setup.keepalive_timeout == 60
    authorized = decoded[2]
    assert isinstance(authorized, AuthState) and authorized.user_id == "user-1"


@pytest.mark.parametrize("frame", [b'{"type":"FEED_DATA","channel":1,"data":["Quo', b"[1,2]",
                                   b'{"channel":1}'])
def test_malformed_frames_raise_decode_errors(frame: bytes) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        decode_message(frame)


def test_quote_token_response_gives_the_dxlink_url_and_expiry() -> None:
    token = parsing.parse_quote_token(recorded("api_quote_token.json"), TS_INIT)
    assert token.dxlink_url == "wss://tasty-openapi-dxlink-md-ws.dxfeed.com/realtime"
    assert token.level == "api" and token.issued_ns == TS_INIT
    assert token.expires_ns == 1_795_480_160_214_000_000
    assert "quote-token-xyz" not in repr(token)


def test_sandbox_token_has_no_expiry_and_demo_level() -> None:
    token = parsing.parse_quote_token(recorded("api_quote_token_sandbox.json"), TS_INIT)
    assert (token.level, token.expires_ns) == ("demo", None)


def test_oauth_futures_and_error_bodies() -> None:
    assert parsing.parse_oauth(recorded("oauth_token.json")) == ("access-abc", 900)
    assert parsing.parse_futures(recorded("futures_vx.json")) == {
        dt.date(2026, 12, 16): "/VXZ26:XCBF", dt.date(2027, 1, 20): "/VXF27:XCBF"}
    assert parsing.api_error(recorded("error_customer_not_found.json")).startswith(
        "quote_streamer.customer_not_found_error")


def test_summary_events_become_settlement_quotes_for_monthly_and_weekly_futures() -> None:
    futures = parsing.parse_futures(recorded("futures_vx_weeklies.json"))
    assert futures[dt.date(2026, 10, 14)] == "/VX41V26:XCBF"  # a weekly, listed by REST
    symbol_map = SymbolMap()
    symbol_map.update(["VX261021", "VX261014", "VIX261216C00020000", "SPX"], futures, {})
    decoder = FeedDataDecoder(symbol_map.canonical)
    configure(decoder, "feed_config_summary.json")
    out = decoder.decode(feed_data("feed_data_summary.json"), TS_INIT)
    assert out.errors == 0 and len(out.summaries) == 4
    by_sym = {q.sym: q for q in out.quotes}
    monthly, weekly = by_sym["VX261021"], by_sym["VX261014"]
    # no day close yet: the previous day's settlement, dated by prevDayId
    assert (monthly.settle, monthly.settle_date, monthly.open_interest) == (
        17.4555, dt.date(2026, 10, 5), 172238)
    assert (weekly.settle, weekly.open_interest) == (17.2105, 812)
    option = by_sym["VIX261216C00020000"]  # the day's close is known: it wins
    assert (option.settle, option.settle_date) == (2.1, dt.date(2026, 10, 6))
    assert all(q.bid is None and q.ask is None and q.last is None for q in out.quotes)
    assert "SPX" not in by_sym  # reset before the open: every value NaN, nothing to send
