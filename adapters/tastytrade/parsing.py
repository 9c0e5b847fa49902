"""tastytrade account payloads, sans I/O: REST bodies and account-streamer frames in, positions,
balances and events out (``PROTOCOL.md`` beside this file says what each field is relied on for).

Numbers arrive as JSON numbers or as decimal strings (tastytrade serializes ``BigDecimal``s as
strings); both are accepted. Position symbols are OCC with the root padded to six characters
(``SPXW  261218P05800000``); the canonical form drops the padding. Anything malformed raises
``ValueError`` / ``msgspec`` errors for the client to count and skip: nothing here trusts the
broker's shapes.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

from monitor.positions.accounts import Balance, parse_rows
from monitor.positions.recognize import Position

Num = float | int | str | None


def num(v: Num) -> float | None:
    """Return a finite float from a JSON number or decimal string, else None."""
    if v is None or isinstance(v, bool):
        return None
    try:
        out = float(v)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def canonical_symbol(occ: str) -> str:
    """Drop the OCC root padding: ``SPXW  261218P05800000`` → ``SPXW261218P05800000``."""
    return "".join(occ.split())


class _Position(msgspec.Struct, rename="kebab"):
    symbol: str
    account_number: str = ""
    instrument_type: str = ""
    quantity: Num = 0
    quantity_direction: str = "Long"
    average_open_price: Num = 0
    multiplier: Num = 100
    expires_at: str | None = None


class _Items(msgspec.Struct):
    items: list[_Position]


class _Balance(msgspec.Struct, rename="kebab"):
    account_number: str = ""
    cash_balance: Num = None
    net_liquidating_value: Num = None
    maintenance_requirement: Num = None
    derivative_buying_power: Num = None


class _Wrapped(msgspec.Struct):
    data: msgspec.Raw


_POSITIONS = msgspec.json.Decoder(_Wrapped)
_ITEMS = msgspec.json.Decoder(_Items)
_BALANCE = msgspec.json.Decoder(_Balance)
_POSITION = msgspec.json.Decoder(_Position)


def position(raw: _Position, account: str) -> Position:
    """Turn one tastytrade position into a signed ``Position`` (cost basis from the average
    open price x multiplier x quantity; negative for a short's credit)."""
    qty_abs = num(raw.quantity)
    if qty_abs is None or qty_abs < 0 or qty_abs != int(qty_abs) or qty_abs > 1e9:
        raise ValueError(f"quantity {raw.quantity!r} of {raw.symbol[:40]!r} is no contract count")
    sign = {"Long": 1, "Short": -1, "Zero": 0}.get(raw.quantity_direction)
    if sign is None:
        raise ValueError(f"quantity-direction {raw.quantity_direction[:20]!r} is unknown")
    mult = num(raw.multiplier) or 100.0
    price = num(raw.average_open_price) or 0.0
    qty = sign * int(qty_abs)
    return Position(symbol=canonical_symbol(raw.symbol), quantity=qty,
                    cost_basis_usd=abs(price) * mult * qty, multiplier=mult,
                    account=raw.account_number or account)


def parse_positions(body: bytes, account: str) -> tuple[list[Position], list[str]]:
    """Decode ``GET /accounts/{n}/positions``; return (positions, problems of skipped rows)."""
    items = _ITEMS.decode(bytes(_POSITIONS.decode(body).data)).items
    return parse_rows(items, lambda raw: position(raw, account))


def _balance(raw: _Balance, account: str) -> Balance:
    return Balance(
        account=raw.account_number or account,
        cash_usd=num(raw.cash_balance),
        net_liquidating_value_usd=num(raw.net_liquidating_value),
        maintenance_requirement_usd=num(raw.maintenance_requirement),
        buying_power_usd=num(raw.derivative_buying_power),
    )


def parse_balances(body: bytes, account: str) -> Balance:
    """Decode ``GET /accounts/{n}/balances``."""
    return _balance(_BALANCE.decode(bytes(_POSITIONS.decode(body).data)), account)


# --- account streamer -------------------------------------------------------------------


class PositionChanged(msgspec.Struct, frozen=True):
    position: Position


class BalanceChanged(msgspec.Struct, frozen=True):
    balance: Balance


class OrderChanged(msgspec.Struct, frozen=True):
    """An order notification: a fill is the cue to reconcile positions over REST."""

    account: str
    status: str


class Reply(msgspec.Struct, frozen=True):
    """The streamer's answer to one of our actions (connect, heartbeat)."""

    action: str
    status: str
    request_id: int | None
    message: str = ""


class Other(msgspec.Struct, frozen=True):
    """A notification vixmon does not use (watchlists, quote alerts, trading status...)."""

    type: str


StreamerEvent = PositionChanged | BalanceChanged | OrderChanged | Reply | Other


class _Frame(msgspec.Struct, rename="kebab"):
    type: str | None = None
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"{}"))
    action: str | None = None
    status: str | None = None
    request_id: int | None = None
    message: str | None = None


class _Order(msgspec.Struct, rename="kebab"):
    account_number: str = ""
    status: str = ""


_FRAME = msgspec.json.Decoder(_Frame)
_ORDER = msgspec.json.Decoder(_Order)


def decode_streamer(frame: str | bytes) -> StreamerEvent:
    """Decode one account-streamer text frame."""
    msg = _FRAME.decode(frame)
    if msg.type is None:
        return Reply(action=msg.action or "", status=msg.status or "",
                     request_id=msg.request_id, message=msg.message or "")
    data = bytes(msg.data)
    match msg.type:
        case "CurrentPosition":
            return PositionChanged(position(_POSITION.decode(data), ""))
        case "AccountBalance":
            return BalanceChanged(_balance(_BALANCE.decode(data), ""))
        case "Order" | "ComplexOrder":
            order = _ORDER.decode(data)
            return OrderChanged(account=order.account_number, status=order.status)
    return Other(type=msg.type[:40])


Action = Literal["connect", "heartbeat"]
_ENCODER = msgspec.json.Encoder()


def action_frame(action: Action, token: str, request_id: int,
                 accounts: list[str] | None = None) -> bytes:
    """Encode one of the two actions vixmon sends: ``connect`` (subscribe the accounts) and
    ``heartbeat``. Nothing that could touch an order exists here."""
    body: dict[str, object] = {"action": action, "auth-token": token, "request-id": request_id}
    if accounts is not None:
        body["value"] = accounts
    return _ENCODER.encode(body)
