"""DXLink outbound messages and streamer symbols."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from adapters.dxlink import protocol
from adapters.dxlink.symbols import (
    SymbolMap,
    format_strike,
    future_to_streamer,
    streamer_to_option,
    to_streamer,
)

FUTURES = {dt.date(2026, 12, 16): "/VXZ26:XCBF"}


@pytest.mark.parametrize(("canonical", "streamer"), [
    ("SPXW261218P05800000", ".SPXW261218P5800"),
    ("SPX261218P05800000", ".SPX261218P5800"),  # AM monthly: its own root, not SPXW
    ("VIX261216C00020000", ".VIX261216C20"),
    ("VIXW261209C00022500", ".VIXW261209C22.5"),
    ("SPXW261218C00480500", ".SPXW261218C480.5"),
    ("SPX", "SPX"),
    ("VIX3M", "VIX3M"),
    ("VX261216", "/VXZ26:XCBF"),  # from the REST instruments list
    ("VX270120", "/VXF27:XCBF"),  # not listed: the documented pattern
])
def test_canonical_symbols_map_to_streamer_symbols(canonical: str, streamer: str) -> None:
    assert to_streamer(canonical, FUTURES, {}) == streamer


def test_a_weekly_vx_future_is_never_aliased_to_its_monthly() -> None:
    weekly = "VX261209"  # settles Wednesday 2026-12-09, a week before the December monthly
    assert to_streamer(weekly, FUTURES, {}) is None  # not listed: not subscribable
    listed = {**FUTURES, dt.date(2026, 12, 9): "/VX50Z26:XCBF"}
    assert to_streamer(weekly, listed, {}) == "/VX50Z26:XCBF"
    m = SymbolMap()
    assert m.update([weekly, "VX261216"], FUTURES, {}) == {"VX261216": "/VXZ26:XCBF"}


def test_option_streamer_symbols_map_back_to_the_canonical_form() -> None:
    assert streamer_to_option(".SPXW261218P5800") == "SPXW261218P05800000"
    assert streamer_to_option(".VIXW261209C22.5") == "VIXW261209C00022500"
    assert streamer_to_option("/VXZ26:XCBF") is None


def test_overrides_win_and_the_map_answers_both_ways() -> None:
    m = SymbolMap()
    forward = m.update(["VIX9D", "VX261216"], FUTURES, {"VIX9D": "$VIX9D"})
    assert forward == {"VIX9D": "$VIX9D", "VX261216": "/VXZ26:XCBF"}
    assert m.canonical("$VIX9D") == "VIX9D" and m.canonical("/VXZ26:XCBF") == "VX261216"
    assert m.canonical("SPX") is None


def test_strikes_drop_trailing_zeros() -> None:
    assert [format_strike(k) for k in (5800.0, 480.5, 22.25, 0.5)] == [
        "5800", "480.5", "22.25", "0.5"]
    assert future_to_streamer(dt.date(2027, 3, 17)) == "/VXH27:XCBF"


def test_subscription_frames_stay_under_the_limit_and_carry_every_symbol_once() -> None:
    subs = [("Quote", f".SPXW261218P{k}") for k in range(3000, 6000, 5)]
    frames = protocol.subscription_messages(1, add=subs, reset=True, max_bytes=2048)
    decoded = [json.loads(f) for f in frames]
    assert len(frames) > 1 and all(len(f) <= 2048 for f in frames)
    assert decoded[0]["reset"] is True and not any("reset" in d for d in decoded[1:])
    sent = [(a["type"], a["symbol"]) for d in decoded for a in d["add"]]
    assert sent == subs


def test_removes_are_sent_before_adds() -> None:
    frames = protocol.subscription_messages(
        3, add=[("Quote", "VIX")], remove=[("Quote", "SPX")], max_bytes=8192)
    assert [json.loads(f) for f in frames] == [
        {"type": "FEED_SUBSCRIPTION", "channel": 3, "remove": [{"type": "Quote", "symbol": "SPX"}]},
        {"type": "FEED_SUBSCRIPTION", "channel": 3, "add": [{"type": "Quote", "symbol": "VIX"}]},
    ]


def test_a_reset_with_nothing_to_add_still_resets() -> None:
    assert protocol.subscription_messages(1, reset=True) == [
        b'{"type":"FEED_SUBSCRIPTION","channel":1,"reset":true}']


def test_feed_setup_asks_for_compact_data_and_the_decoders_fields() -> None:
    msg = protocol.feed_setup(1, ["Quote"], 0.1)
    assert msg["acceptDataFormat"] == "COMPACT"
    assert msg["acceptEventFields"] == {"Quote": [
        "eventType", "eventSymbol", "eventTime", "bidTime", "askTime", "bidPrice", "askPrice",
        "bidSize", "askSize"]}


def test_greeks_are_only_subscribed_for_options() -> None:
    types = ["Quote", "Greeks"]
    assert protocol.subs_for("SPX", False, types) == [("Quote", "SPX")]
    assert protocol.subs_for(".VIX261216C20", True, types) == [
        ("Quote", ".VIX261216C20"), ("Greeks", ".VIX261216C20")]
