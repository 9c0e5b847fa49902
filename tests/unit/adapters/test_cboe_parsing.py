"""Cboe delayed-quote parsing from recorded-shape files (tests/resources/cboe)."""

from __future__ import annotations

import datetime as dt
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.cboe import parsing
from tests.fakes.cboe import spx_file

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "cboe"
NS = 1_000_000_000
RECEIVED = 1_795_482_400 * NS  # 2026-11-24 01:06:40 UTC


def recorded(name: str) -> bytes:
    return (RESOURCES / name).read_bytes()


def as_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(recorded(name))
    return data


def utc(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * NS


def test_options_file_gives_delayed_quotes_dated_by_the_underlyings_last_trade() -> None:
    snap = parsing.parse_quotes_file(recorded("options_SPX.json"), RECEIVED)
    by_sym = {q.sym: q for q in snap.quotes}
    assert snap.contracts == 6 and snap.as_of_ns == utc(2026, 11, 23, 21, 15)
    assert all(q.delayed and q.ts == snap.as_of_ns for q in snap.quotes)
    assert by_sym["SPX261218P05800000"].bid == 60.0
    assert by_sym["SPXW261218P05800000"].bid == 61.2  # same date and strike, other contract
    assert by_sym["SPXW261218P05800000"].bid_size == 12
    assert by_sym["SPXW261218C05800000"].last is None  # last_trade_time null: never traded
    assert by_sym["SPXW261221P04000000"].bid == 0.0  # a 0.00 bid is a price, not a null
    spx = by_sym["SPX"]
    assert (spx.bid, spx.ask, spx.last) == (5872.4, 5978.34, 5915.37)


def test_subscribed_symbols_filter_the_file() -> None:
    wanted = frozenset({"VIXW261209C00020000", "VIX"})
    snap = parsing.parse_quotes_file(recorded("options_VIX.json"), RECEIVED, wanted)
    assert {q.sym for q in snap.quotes} == wanted


def test_index_quote_without_a_last_trade_is_dated_by_utc_publication_time() -> None:
    [q] = parsing.parse_quotes_file(recorded("quotes_VIX9D.json"), RECEIVED).quotes
    assert (q.sym, q.last, q.ts) == ("VIX9D", 15.82, utc(2026, 11, 24, 1, 5, 12))


def test_time_only_timestamps_take_the_date_of_receipt() -> None:
    received = utc(2026, 11, 23, 21, 20)
    assert parsing.utc_timestamp_ns("21:15:09", received) == utc(2026, 11, 23, 21, 15, 9)


def test_time_only_timestamps_published_before_the_utc_date_roll_keep_their_day() -> None:
    received = utc(2026, 11, 24, 0, 0, 5)  # 7 pm in New York: UTC is already tomorrow
    assert parsing.utc_timestamp_ns("23:59:58", received) == utc(2026, 11, 23, 23, 59, 58)


def test_new_york_times_follow_daylight_saving() -> None:
    assert parsing.new_york_ns("2026-07-02T15:59:56") == utc(2026, 7, 2, 19, 59, 56)  # EDT
    assert parsing.new_york_ns("2026-11-23T16:15:00") == utc(2026, 11, 23, 21, 15)  # EST


def test_a_file_without_an_underlying_trade_time_uses_its_time_only_timestamp() -> None:
    data = as_json("options_VIX.json")
    data["data"]["last_trade_time"] = None
    received = utc(2026, 11, 23, 21, 16)
    snap = parsing.parse_quotes_file(json.dumps(data).encode(), received)
    assert snap.as_of_ns == utc(2026, 11, 23, 21, 15, 9)


def test_futures_are_last_only_with_the_settlement_beside_the_last_trade() -> None:
    quotes = parsing.parse_futures(recorded("get_quotes_combined.json"), RECEIVED)
    assert [(q.sym, q.last, q.settle) for q in quotes] == [
        ("VX261216", 18.85, 18.9055), ("VX270120", None, 19.6021), ("VX270217", 20.1, 20.2511)]
    assert quotes[0].ts == utc(2026, 11, 23, 21, 14, 6) + 760_668_000  # Central, with offset
    assert all(q.delayed and q.bid is None and q.ask is None for q in quotes)
    # dated the business day before lastUpdate (Monday 2026-11-23 -> Friday 11-20)
    assert {q.settle_date for q in quotes} == {dt.date(2026, 11, 20)}
    assert quotes[0].open_interest == 172238


def test_cloned_weekly_settlements_never_pass_for_the_front_month() -> None:
    data = as_json("get_quotes_combined.json")
    weekly = data["data"][0]
    assert weekly["symbol"] == "VX48/X6" and weekly["last_price"] == 0.0
    assert weekly["settlement"] == data["data"][1]["settlement"]  # VX/Z6's, cloned
    quotes = parsing.parse_futures(json.dumps(data).encode(), RECEIVED, frozenset({"VX261125"}))
    assert quotes == []


def test_weekly_futures_are_quoted_as_vx_and_their_settlement_date() -> None:
    quotes = parsing.parse_futures(recorded("get_quotes_combined_weeklies.json"), RECEIVED)
    by_sym = {q.sym: q for q in quotes}
    assert list(by_sym) == ["VX261007", "VX261021", "VX261118", "VX261216", "VX270120"]
    traded = by_sym["VX261007"]  # VX40/V6, a weekly that traded: its own settlement too
    assert (traded.last, traded.settle, traded.open_interest) == (16.95, 17.1015, 4120)
    assert "VX261014" not in by_sym and "VX261028" not in by_sym  # untraded, cloned settlement
    assert by_sym["VX261118"].open_interest == 98011  # current_open_int 0 -> previous


def test_a_zero_bid_and_zero_ask_index_quote_means_no_quote() -> None:
    data = as_json("quotes_VIX9D.json")
    data["data"].update(bid=0.0, ask=0.0, current_price=17.31, prev_day_close=16.9)
    snap = parsing.parse_quotes_file(json.dumps(data).encode(), RECEIVED)
    (index,) = snap.quotes
    assert (index.bid, index.ask, index.last) == (None, None, 17.31)
    assert index.settle == 16.9


def test_a_zero_bid_under_a_positive_ask_stays_a_price() -> None:
    data = as_json("options_SPX.json")
    data["data"]["options"][0].update(bid=0.0, ask=0.05)
    sym = data["data"]["options"][0]["option"]
    snap = parsing.parse_quotes_file(json.dumps(data).encode(), RECEIVED)
    q = next(q for q in snap.quotes if q.sym == sym)
    assert (q.bid, q.ask) == (0.0, 0.05)


def test_options_carry_their_previous_close_and_open_interest() -> None:
    snap = parsing.parse_quotes_file(recorded("options_SPX.json"), RECEIVED)
    data = as_json("options_SPX.json")
    for row in data["data"]["options"]:
        q = next((q for q in snap.quotes if q.sym == row["option"]), None)
        if q is None:
            continue
        close = row.get("prev_day_close") or None
        assert q.settle == close
        assert q.settle_date == (dt.date(2026, 11, 20) if close else None)
        assert q.open_interest == (round(row["open_interest"]) if "open_interest" in row else None)


def test_listed_strikes_per_root_and_expiry() -> None:
    snap = parsing.parse_quotes_file(recorded("options_SPX.json"), RECEIVED, keep_options=True)
    strikes = parsing.listed_strikes(snap.options)
    assert strikes[("SPX", dt.date(2026, 12, 18))] == [5800.0]
    assert strikes[("SPXW", dt.date(2026, 12, 21))] == [4000.0, 7500.0]


@pytest.mark.parametrize("body", [b'{"timestamp": "2026-11-23 21:15:07", "data": {"opt',
                                  b'{"data": []}', b"<html>403</html>"])
def test_malformed_files_raise_decode_errors(body: bytes) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        parsing.parse_quotes_file(body, RECEIVED)


@pytest.mark.parametrize(("header", "configured", "delay"), [
    ("max-age=0, s-maxage=5", 15.0, 15.0),
    ("max-age=0, s-maxage=5", 1.0, 5.0),  # never more often than every 5 s
    ("max-age=30", 15.0, 30.0),  # fresh for longer than our interval: wait it out
    (None, 0.5, 5.0),
    ("no-cache, max-age=oops", 15.0, 15.0),
])
def test_poll_delay_honours_cache_control_and_the_floor(
    header: str | None, configured: float, delay: float,
) -> None:
    assert parsing.poll_delay_s(header, configured, floor_s=5.0) == delay


def test_the_30k_contract_spx_file_parses_within_a_second_and_200_mb() -> None:
    body = spx_file(30_000)
    assert len(body) > 13_000_000
    started = time.perf_counter()
    snap = parsing.parse_quotes_file(body, RECEIVED)
    elapsed = time.perf_counter() - started
    assert snap.contracts == 30_000 and len(snap.quotes) == 30_001
    assert elapsed < 1.0
    tracemalloc.start()
    try:
        parsing.parse_quotes_file(bytes(body), RECEIVED)  # the copy counts towards the peak
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 1024 * 1024


def test_the_vix_files_index_quote_has_no_book_only_its_value_and_previous_close() -> None:
    snap = parsing.parse_quotes_file(recorded("options_VIX.json"), RECEIVED)
    vix = next(q for q in snap.quotes if q.sym == "VIX")
    assert (vix.bid, vix.ask, vix.last) == (None, None, 17.03)  # bid 0.0 / ask 0.0: no quote
    assert (vix.settle, vix.settle_date) == (17.45, dt.date(2026, 11, 20))


def test_a_null_last_trade_time_means_no_last_trade_whatever_the_price_field_says() -> None:
    data = as_json("options_VIX.json")
    row = next(o for o in data["data"]["options"] if o["last_trade_time"] is None)
    row["last_trade_price"] = 2.5  # a stale price left in the row
    snap = parsing.parse_quotes_file(json.dumps(data).encode(), RECEIVED)
    q = next(q for q in snap.quotes if q.sym == row["option"])
    assert q.last is None and (q.bid, q.ask) == (row["bid"], row["ask"])
