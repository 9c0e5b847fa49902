"""Fuzz the account parsers: nothing a broker sends may raise anything but the decode errors the
clients count and skip, and whatever parses must go through recognition without an exception.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.account_source import DECODE_ERRORS
from adapters.tastytrade import parsing as tasty
from adapters.tradier import account_parsing as tradier
from monitor.positions.accounts import AccountState
from monitor.positions.recognize import Position, recognize, structures

EXAMPLES = int(os.environ.get("VIXMON_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
SYMBOLS = st.sampled_from([
    "SPXW  261218P05800000", "SPXW261218C06300000", "VIX   270120C00025000", "VIXW270127C00025000",
    "VX270120", "SPX", "AAPL", "", "SPXW261218P0580000", "SPXW999999P05800000", "/ESZ6",
])
NUMS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                 st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                 st.sampled_from(["2", "-3", "1e400", "NaN", "0.5", "1.25"]))


def _positions_ok(positions: list[Position]) -> None:
    result = recognize(positions, book="b")
    state = AccountState(source="fuzz", book="b", stale_after_s=1.0)
    state.apply_snapshot("A", positions, 1)
    for p in positions:
        state.apply_position(p, 2)
    state.recognized()
    held = {leg.symbol for s in structures(result.book)
            for leg in s.legs}
    assert held.isdisjoint({u.symbol for u in result.unplaced if u.reason != "excluded"})


def tasty_body(data: bytes) -> None:
    try:
        positions, _ = tasty.parse_positions(data, "A")
    except DECODE_ERRORS:
        return
    _positions_ok(positions)


def tasty_frame(data: bytes) -> None:
    try:
        event = tasty.decode_streamer(data)
    except DECODE_ERRORS:
        return
    if isinstance(event, tasty.PositionChanged):
        _positions_ok([event.position])


def tradier_body(data: bytes) -> None:
    for parse in (tradier.parse_profile, tradier.parse_session, tradier.decode_event,
                  lambda b: tradier.parse_balances(b, "A")):
        try:
            parse(data)
        except DECODE_ERRORS:
            pass
    try:
        positions, _ = tradier.parse_positions(data, "A")
    except DECODE_ERRORS:
        return
    _positions_ok(positions)


def tasty_position() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"symbol": st.one_of(SYMBOLS, NUMS)}, optional={
        "quantity": NUMS, "quantity-direction": st.one_of(
            st.sampled_from(["Long", "Short", "Zero", "long"]), NUMS),
        "average-open-price": NUMS, "multiplier": NUMS, "account-number": NUMS})


def tradier_position() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"symbol": st.one_of(SYMBOLS, NUMS)}, optional={
        "quantity": NUMS, "cost_basis": NUMS, "id": NUMS})


@FUZZ
@given(st.binary(max_size=300))
def test_raw_bytes_never_crash_the_account_parsers(data: bytes) -> None:
    tasty_body(data)
    tasty_frame(data)
    tradier_body(data)


@FUZZ
@given(st.lists(tasty_position(), max_size=8))
def test_tastytrade_positions_of_any_shape(items: list[dict[str, Any]]) -> None:
    tasty_body(json.dumps({"data": {"items": items}}).encode())
    for item in items:
        tasty_frame(json.dumps({"type": "CurrentPosition", "data": item}).encode())


@FUZZ
@given(st.one_of(st.lists(tradier_position(), max_size=8), tradier_position(), NUMS))
def test_tradier_positions_of_any_shape(rows: Any) -> None:
    tradier_body(json.dumps({"positions": {"position": rows}}).encode())
    tradier_body(json.dumps({"balances": {"margin": rows, "total_cash": rows}}).encode())
