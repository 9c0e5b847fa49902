"""Tradier brokerage (account) payloads, sans I/O: profile, positions, balances, account events.

Tradier's JSON is a mapping of its XML: a one-element list arrives as the bare element and an
empty one as the string ``"null"`` (or JSON null), so every list is normalised. Quantities are
signed (negative: short) and ``cost_basis`` is the position's total cost in USD, negative for a
short's credit (``PROTOCOL.md``).
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from monitor.positions.accounts import Balance, parse_rows
from monitor.positions.recognize import Position

_ANY = msgspec.json.Decoder(dict[str, Any])


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        out = float(v)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _list(v: Any) -> list[Any]:
    if v is None or v == "null":
        return []
    return v if isinstance(v, list) else [v]


def _obj(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError(f"{what}: expected an object, got {type(v).__name__}")
    return v


def parse_profile(body: bytes) -> list[str]:
    """Return the account numbers ``GET /v1/user/profile`` lists."""
    profile = _obj(_ANY.decode(body).get("profile"), "profile")
    out = []
    for acct in _list(profile.get("account")):
        number = _obj(acct, "profile.account").get("account_number")
        if isinstance(number, str) and number:
            out.append(number)
    return out


def _position(row: Any, account: str) -> Position:
    row = _obj(row, "position")
    sym, qty, cost = row.get("symbol"), _num(row.get("quantity")), _num(row.get("cost_basis"))
    if not isinstance(sym, str) or not sym:
        raise ValueError("position without a symbol")
    if qty is None or qty != int(qty) or abs(qty) > 1e9:
        raise ValueError(f"quantity {row.get('quantity')!r} of {sym[:40]!r} is no contract count")
    return Position(symbol=sym, quantity=int(qty), cost_basis_usd=cost or 0.0, account=account)


def parse_positions(body: bytes, account: str) -> tuple[list[Position], list[str]]:
    """Decode ``GET /v1/accounts/{id}/positions``; return (positions, problems of skipped rows)."""
    block = _ANY.decode(body).get("positions")
    rows = [] if block in (None, "null") else _list(_obj(block, "positions").get("position"))
    return parse_rows(rows, lambda row: _position(row, account))


def parse_balances(body: bytes, account: str) -> Balance:
    """Decode ``GET /v1/accounts/{id}/balances``: cash, equity and the margin requirement.

    The requirement is ``current_requirement`` (margin accounts), else ``option_requirement``.
    """
    b = _obj(_ANY.decode(body).get("balances"), "balances")
    margin_block = b.get("margin")
    margin: dict[str, Any] = margin_block if isinstance(margin_block, dict) else {}
    req = _num(b.get("current_requirement"))
    return Balance(
        account=str(b.get("account_number") or account),
        cash_usd=_num(b.get("total_cash")),
        net_liquidating_value_usd=_num(b.get("total_equity")),
        maintenance_requirement_usd=req if req is not None else _num(b.get("option_requirement")),
        buying_power_usd=_num(margin.get("option_buying_power")),
    )


def parse_session(body: bytes) -> str:
    """Return the session id of ``POST /v1/accounts/events/session``."""
    stream = _obj(_ANY.decode(body).get("stream"), "stream")
    sid = stream.get("sessionid")
    if not isinstance(sid, str) or not sid:
        raise ValueError("stream.sessionid is missing")
    return sid


class AccountEvent(msgspec.Struct, frozen=True):
    """One account-events frame: an order event (a fill is the cue to poll) or a heartbeat."""

    event: str
    account: str = ""
    status: str = ""


def decode_event(frame: str | bytes) -> AccountEvent:
    """Decode one account-events websocket frame."""
    msg = _ANY.decode(frame)
    event = msg.get("event")
    if not isinstance(event, str):
        raise ValueError("account event without an event type")
    account, status = msg.get("account"), msg.get("status")
    return AccountEvent(event=event[:40], account=account if isinstance(account, str) else "",
                        status=status if isinstance(status, str) else "")
