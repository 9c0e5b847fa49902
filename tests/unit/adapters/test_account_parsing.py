"""The account parsers on payloads shaped like the brokers' (PROTOCOL.md beside each)."""

from __future__ import annotations

import pytest

from adapters.tastytrade import parsing as tasty
from adapters.tradier import account_parsing as tradier

TASTY_POSITIONS = b"""{"data": {"items": [
  {"account-number": "5WT00001", "symbol": "SPXW  261231P05675000", "instrument-type":
   "Equity Option", "quantity": "2", "quantity-direction": "Short",
   "average-open-price": "24.85", "multiplier": 100, "expires-at": "2026-12-31T21:15:00.000+00:00"},
  {"account-number": "5WT00001", "symbol": "VIX   261216C00020000", "quantity": 4,
   "quantity-direction": "Long", "average-open-price": 0.9, "multiplier": "100.0"},
  {"account-number": "5WT00001", "symbol": "SPXW  261231C06350000", "quantity": "1.5",
   "quantity-direction": "Long", "average-open-price": "1"}
]}, "context": "/accounts/5WT00001/positions"}"""


def test_tastytrade_positions_are_signed_with_cost_basis_and_a_bad_row_is_reported() -> None:
    positions, problems = tasty.parse_positions(TASTY_POSITIONS, "5WT00001")
    assert [(p.symbol, p.quantity) for p in positions] == [
        ("SPXW261231P05675000", -2), ("VIX261216C00020000", 4)]
    assert [p.cost_basis_usd for p in positions] == pytest.approx([-4970.0, 360.0])
    assert len(problems) == 1 and "1.5" in problems[0]


def test_tastytrade_streamer_frames() -> None:
    reply = tasty.decode_streamer(b'{"status":"ok","action":"connect","request-id":2,'
                                  b'"web-socket-session-id":"x","value":["5WT00001"]}')
    assert reply == tasty.Reply(action="connect", status="ok", request_id=2)
    order = tasty.decode_streamer(b'{"type":"Order","data":{"account-number":"5WT00001",'
                                  b'"status":"Filled"},"timestamp":1}')
    assert order == tasty.OrderChanged(account="5WT00001", status="Filled")
    assert tasty.decode_streamer(b'{"type":"QuoteAlert","data":{}}') == tasty.Other("QuoteAlert")
    frame = tasty.action_frame("connect", "tok", 7, ["5WT00001"])
    assert frame == (b'{"action":"connect","auth-token":"tok","request-id":7,'
                     b'"value":["5WT00001"]}')


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"positions": "null"}', []),
    (b'{"positions": {"position": {"cost_basis": -1420.0, "quantity": -1.0,'
     b' "symbol": "SPXW270115P05600000", "id": 1}}}', [("SPXW270115P05600000", -1, -1420.0)]),
    (b'{"positions": {"position": [{"cost_basis": 360.0, "quantity": 4.0,'
     b' "symbol": "VIX270120C00025000"}, {"cost_basis": 980, "quantity": 1,'
     b' "symbol": "SPXW270115P05500000"}]}}',
     [("VIX270120C00025000", 4, 360.0), ("SPXW270115P05500000", 1, 980.0)]),
], ids=["flat", "one position is a bare object", "a list"])
def test_tradier_positions(body: bytes, expected: list[tuple[str, int, float]]) -> None:
    positions, problems = tradier.parse_positions(body, "VA1")
    assert [(p.symbol, p.quantity, p.cost_basis_usd) for p in positions] == expected
    assert problems == []


def test_tradier_profile_balances_and_events() -> None:
    assert tradier.parse_profile(b'{"profile": {"account": {"account_number": "VA1"}}}') == ["VA1"]
    assert tradier.parse_profile(
        b'{"profile": {"account": [{"account_number": "VA1"}, {"account_number": "VA2"}]}}'
    ) == ["VA1", "VA2"]
    bal = tradier.parse_balances(
        b'{"balances": {"account_number": "VA1", "total_cash": 100.5, "total_equity": 200,'
        b' "current_requirement": 30, "margin": {"option_buying_power": 70}}}', "VA1")
    assert (bal.cash_usd, bal.maintenance_requirement_usd, bal.buying_power_usd) == (
        100.5, 30.0, 70.0)
    event = tradier.decode_event(b'{"id": 1, "event": "order", "status": "filled",'
                                 b' "account": "VA1"}')
    assert event == tradier.AccountEvent(event="order", account="VA1", status="filled")
