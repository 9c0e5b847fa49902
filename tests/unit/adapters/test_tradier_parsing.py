"""Tradier parsing from recorded payloads (tests/resources/tradier)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest

from adapters.tradier import parsing
from adapters.tradier.symbols import to_tradier

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "tradier"
TS_INIT = 1_795_500_000_000_000_000
MS = 1_000_000


def recorded(name: str) -> bytes:
    return (RESOURCES / name).read_bytes()


AFTER_RECORDING = 1_797_000_010_000_000_000
"""A receipt time after every event time in stream.jsonl (a venue never stamps ahead)."""


def test_stream_lines_keep_tradiers_mixed_types_straight() -> None:
    out = parsing.parse_frame(recorded("stream.jsonl"), AFTER_RECORDING)
    quote, trade, tradex, timesale, vix = [q for q in out.quotes if q.settle is None]
    assert (quote.sym, quote.bid, quote.ask, quote.bid_size, quote.ask_size, quote.ts) == (
        "SPXW261218P05800000", 61.2, 61.9, 12, 8, 1_797_000_000_123 * MS)
    assert (trade.sym, trade.last, trade.bid, trade.ts) == (
        "SPXW261218P05800000", 61.5, None, 1_797_000_001_000 * MS)
    assert (tradex.sym, tradex.last) == ("SPX", 5915.37)
    assert (timesale.sym, timesale.bid, timesale.ask, timesale.last) == (
        "SPX261218P05800000", 60.0, 60.8, 60.4)
    # null dates: stamped on receipt; bid 0.0 / ask 0.0 on an index means "no quote"
    assert (vix.bid, vix.ask, vix.ts) == (None, None, AFTER_RECORDING)
    [summary] = out.summaries
    assert (summary.prev_close, summary.close, summary.open) == (5893.97, 5915.37, 5893.1)
    [settle] = [q for q in out.quotes if q.settle is not None]  # the summary, as settlement
    assert (settle.sym, settle.settle, settle.bid, settle.last) == ("SPX", 5893.97, None, None)
    assert settle.settle_date == dt.date(2026, 12, 10)  # business day before receipt (12-11)
    assert out.errors == ["VX/Z6 is not a valid symbol"]
    assert out.bad == 1  # the truncated last line


def test_one_frame_may_hold_one_payload_without_a_line_break() -> None:
    out = parsing.parse_frame('{"type":"quote","symbol":"SPX","bid":1,"ask":2}', TS_INIT)
    assert [(q.bid, q.ask) for q in out.quotes] == [(1.0, 2.0)]


@pytest.mark.parametrize("line", [
    '{"type":"trade","symbol":"SPX","price":"abc"}',
    '{"type":"quote"}',
    '{"type":"quote","symbol":"SPX","bid":[1]}',
    "garbage",
])
def test_undecodable_payloads_are_counted_not_raised(line: str) -> None:
    out = parsing.parse_frame(line, TS_INIT)
    assert out.quotes == [] and out.bad == 1


def test_unknown_symbols_are_skipped() -> None:
    out = parsing.parse_frame('{"type":"quote","symbol":"AAPL","bid":1,"ask":2}', TS_INIT)
    assert out.quotes == [] and out.unknown_symbols == 1


def test_subscription_payload_is_the_documented_shape() -> None:
    payload = msgspec.json.decode(parsing.subscription_payload(
        ["VIX", "SPX"], "sid", ["quote", "trade"], valid_only=True))
    assert payload == {"symbols": ["SPX", "VIX"], "sessionid": "sid",
                       "filter": ["quote", "trade"], "linebreak": True, "validOnly": True}


def test_session_response_gives_the_http_stream_url_and_id() -> None:
    assert parsing.parse_session(recorded("session.json")) == (
        "https://stream.tradier.com/v1/markets/events", "c8638963-a6d4-4fb9-9bc6-e25fbd8c60c3")


@pytest.mark.parametrize(("name", "dates"), [
    ("expirations.json", [dt.date(2026, 12, 11), dt.date(2026, 12, 18), dt.date(2026, 12, 21)]),
    ("expirations_single.json", [dt.date(2026, 12, 18)]),  # one date arrives as a bare string
    ("expirations_empty.json", []),
])
def test_expirations_survive_list_collapse(name: str, dates: list[dt.date]) -> None:
    assert list(parsing.parse_expirations(recorded(name))) == dates


def test_expirations_with_strikes_collapse_per_date_too() -> None:
    assert parsing.parse_expirations(recorded("expirations_strikes.json")) == {
        dt.date(2026, 12, 18): [5795.0, 5800.0, 5805.0], dt.date(2026, 12, 21): [5800.0]}


def test_chain_rows_keep_roots_apart_and_tolerate_nulls() -> None:
    rows = parsing.parse_chain(recorded("chain.json"))
    assert [r.root_symbol for r in rows] == ["SPX", "SPXW", "SPXW"]
    assert rows[0].last is None and rows[1].last == 61.5
    assert rows[1].iv == 0.1633
    assert rows[2].iv == 0.187  # mid_iv 0.0 on an illiquid row: smv_vol
    assert parsing.listed_strikes(rows) == {
        ("SPX", dt.date(2026, 12, 18)): [5800.0],
        ("SPXW", dt.date(2026, 12, 18)): [5800.0, 5805.0],
    }


def test_a_single_chain_row_and_an_empty_chain() -> None:
    assert [r.symbol for r in parsing.parse_chain(recorded("chain_single.json"))] == [
        "SPXW261221P05800000"]
    assert parsing.parse_chain(recorded("chain_empty.json")) == []


def test_vx_futures_are_not_offered_by_tradier() -> None:
    assert to_tradier("VX261216") is None
    assert to_tradier("SPXW261218P05800000") == "SPXW261218P05800000"
    assert to_tradier("VIX9D") == "VIX9D"
