"""Tradier payloads, sans I/O: stream lines and REST bodies in, quotes and rows out.

Stream types are mixed on purpose by Tradier: ``quote`` prices are numbers, ``trade`` and
``summary`` prices are strings, dates are epoch-ms strings. REST bodies come from an XML-to-JSON
mapping: a one-element list arrives as the bare element and an empty one as null, so every list
field is normalised.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from adapters.tradier.symbols import to_canonical
from monitor.model import Quote
from monitor.pricing.calendar import previous_business_day
from monitor.quotes import venue_ts

_NEW_YORK = ZoneInfo("America/New_York")

Num = float | str | None
_NS_PER_MS = 1_000_000


class _Event(msgspec.Struct, tag_field="type"):
    symbol: str


class StreamQuote(_Event, tag="quote"):
    bid: Num = None
    bidsz: Num = None
    biddate: Num = None
    ask: Num = None
    asksz: Num = None
    askdate: Num = None


class StreamTrade(_Event, tag="trade"):
    price: Num = None
    size: Num = None
    date: Num = None
    last: Num = None
    cvol: Num = None


class StreamTradeX(StreamTrade, tag="tradex"):
    pass


class StreamSummary(_Event, tag="summary"):
    open: Num = None
    high: Num = None
    low: Num = None
    prevClose: Num = None  # Tradier's field name
    close: Num = None


class StreamTimesale(_Event, tag="timesale"):
    bid: Num = None
    ask: Num = None
    last: Num = None
    size: Num = None
    date: Num = None


StreamEvent = StreamQuote | StreamTrade | StreamTradeX | StreamSummary | StreamTimesale


class _ErrorFrame(msgspec.Struct):
    error: str


_EVENT: msgspec.json.Decoder[StreamEvent] = msgspec.json.Decoder(StreamEvent)
_ERROR = msgspec.json.Decoder(_ErrorFrame)


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    sym: str
    open: float | None
    high: float | None
    low: float | None
    prev_close: float | None
    close: float | None


@dataclass(slots=True)
class Parsed:
    """What one frame (one or more newline-separated payloads) held."""

    quotes: list[Quote] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Error payloads sent by the server (``{"error": "..."}``)."""
    bad: int = 0
    """Payloads that could not be decoded."""
    unknown_symbols: int = 0


def num(v: Num) -> float | None:
    """A number or numeric string -> finite float; null and "" -> None."""
    if v is None or v == "":
        return None
    x = float(v)
    return x if x - x == 0.0 else None


_MAX_SIZE = 1e18


def size(v: Num) -> int | None:
    x = num(v)
    # a size no int64 holds (or a negative one) is garbage, not a reason to drop the quote
    return None if x is None or not 0 <= x <= _MAX_SIZE else round(x)


def ms_to_ns(v: Num) -> int:
    x = num(v)
    return 0 if x is None or x <= 0 else int(x) * _NS_PER_MS


def parse_frame(frame: bytes | str, ts_init_ns: int, *, delayed: bool = False) -> Parsed:
    """Parse one websocket frame or stream line; undecodable payloads are counted."""
    out = Parsed()
    raw = frame.encode() if isinstance(frame, str) else frame
    for line in raw.splitlines():
        if line.strip():
            _parse_payload(line, ts_init_ns, delayed, out)
    return out


def _parse_payload(line: bytes, ts_init_ns: int, delayed: bool, out: Parsed) -> None:
    try:
        event = _EVENT.decode(line)
    except msgspec.ValidationError:
        try:
            out.errors.append(_ERROR.decode(line).error)
        except (msgspec.DecodeError, msgspec.ValidationError):
            out.bad += 1
        return
    except msgspec.DecodeError:
        out.bad += 1
        return
    sym = to_canonical(event.symbol)
    if sym is None:
        out.unknown_symbols += 1
        return
    try:
        _convert(event, sym, ts_init_ns, delayed, out)
    except ValueError:
        out.bad += 1


def _convert(event: StreamEvent, sym: str, ts_init_ns: int, delayed: bool, out: Parsed) -> None:
    match event:
        case StreamQuote():
            ts = max(ms_to_ns(event.biddate), ms_to_ns(event.askdate)) or ts_init_ns
            ts = venue_ts(ts, ts_init_ns)
            bid, ask = num(event.bid), num(event.ask)
            if bid == 0.0 and ask == 0.0:  # an index (VIX) has no book: "no quote", not 0/0
                bid = ask = None
            out.quotes.append(Quote(
                sym=sym, ts=ts, bid=bid, ask=ask,
                bid_size=size(event.bidsz), ask_size=size(event.asksz), delayed=delayed,
            ))
        case StreamTrade():
            price = num(event.price) if event.price is not None else num(event.last)
            if price is not None:
                ts = venue_ts(ms_to_ns(event.date) or ts_init_ns, ts_init_ns)
                out.quotes.append(Quote(sym=sym, ts=ts, last=price, delayed=delayed))
        case StreamTimesale():
            ts = venue_ts(ms_to_ns(event.date) or ts_init_ns, ts_init_ns)
            out.quotes.append(Quote(
                sym=sym, ts=ts, bid=num(event.bid), ask=num(event.ask), last=num(event.last),
                delayed=delayed,
            ))
        case StreamSummary():
            summary = Summary(
                sym=sym, open=num(event.open), high=num(event.high), low=num(event.low),
                prev_close=num(event.prevClose), close=num(event.close),
            )
            out.summaries.append(summary)
            if (settle := _settle_quote(summary, ts_init_ns, delayed)) is not None:
                out.quotes.append(settle)


def _settle_quote(s: Summary, ts_init_ns: int, delayed: bool) -> Quote | None:
    """A settlement-only quote from a ``summary``'s ``prevClose`` (``close`` may still move
    during the session). The event carries no date: it is dated the business day before the
    New York day of receipt."""
    if s.prev_close is None:
        return None
    today = dt.datetime.fromtimestamp(ts_init_ns / 1e9, _NEW_YORK).date()
    return Quote(sym=s.sym, ts=ts_init_ns, delayed=delayed, settle=s.prev_close,
                 settle_date=previous_business_day(today))


def subscription_payload(
    symbols: Iterable[str], session_id: str, filters: Iterable[str], *, valid_only: bool,
) -> bytes:
    """The websocket subscription message; sending it again replaces the symbol set."""
    return msgspec.json.encode({
        "symbols": sorted(symbols), "sessionid": session_id, "filter": list(filters),
        "linebreak": True, "validOnly": valid_only,
    })


# --- REST --------------------------------------------------------------------------------


class _Stream(msgspec.Struct):
    url: str
    sessionid: str


class _SessionBody(msgspec.Struct):
    stream: _Stream


def parse_session(body: bytes) -> tuple[str, str]:
    """Return (HTTP stream URL, session id) from ``POST /v1/markets/events/session``."""
    stream = msgspec.json.decode(body, type=_SessionBody).stream
    return stream.url, stream.sessionid


def arrayify(value: Any) -> list[Any]:
    """Undo Tradier's list collapse: null -> [], a bare element -> [element]."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class _Strikes(msgspec.Struct):
    strike: list[float] | float | None = None


class _Expiration(msgspec.Struct):
    date: str
    strikes: _Strikes | None = None


class _Expirations(msgspec.Struct):
    date: list[str] | str | None = None
    expiration: list[_Expiration] | _Expiration | None = None


class _ExpirationsBody(msgspec.Struct):
    expirations: _Expirations | None = None


def parse_expirations(body: bytes) -> dict[dt.date, list[float]]:
    """Return expiry -> listed strikes (empty unless requested with ``strikes=true``)."""
    exp = msgspec.json.decode(body, type=_ExpirationsBody).expirations
    if exp is None:
        return {}
    out: dict[dt.date, list[float]] = {
        dt.date.fromisoformat(d): [] for d in arrayify(exp.date)
    }
    for item in arrayify(exp.expiration):
        strikes = arrayify(item.strikes.strike) if item.strikes else []
        out[dt.date.fromisoformat(item.date)] = sorted(float(k) for k in strikes)
    return out


class ChainGreeks(msgspec.Struct, frozen=True):
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None
    rho: float | None = None
    bid_iv: float | None = None
    mid_iv: float | None = None
    ask_iv: float | None = None
    smv_vol: float | None = None
    updated_at: str | None = None


class ChainRow(msgspec.Struct, frozen=True):
    symbol: str
    root_symbol: str
    strike: float
    option_type: str
    expiration_date: dt.date
    bid: float | None = None
    ask: float | None = None
    bidsize: int | None = None
    asksize: int | None = None
    last: float | None = None
    open_interest: int | None = None
    greeks: ChainGreeks | None = None

    @property
    def iv(self) -> float | None:
        """ORATS mid IV, or ``smv_vol`` where mid IV is 0.0 (illiquid rows)."""
        if self.greeks is None:
            return None
        mid = self.greeks.mid_iv
        return mid if mid else self.greeks.smv_vol


class _Options(msgspec.Struct):
    option: list[ChainRow] | ChainRow | None = None


class _ChainBody(msgspec.Struct):
    options: _Options | None = None


def parse_chain(body: bytes) -> list[ChainRow]:
    """Return the rows of ``GET /v1/markets/options/chains`` (both roots on shared dates)."""
    options = msgspec.json.decode(body, type=_ChainBody).options
    return arrayify(options.option) if options is not None else []


def listed_strikes(rows: Iterable[ChainRow]) -> dict[tuple[str, dt.date], list[float]]:
    """Group chain rows into sorted strikes per (root, expiry): SPX and SPXW stay apart."""
    out: dict[tuple[str, dt.date], set[float]] = {}
    for row in rows:
        out.setdefault((row.root_symbol, row.expiration_date), set()).add(row.strike)
    return {key: sorted(ks) for key, ks in out.items()}


def api_error(body: bytes) -> str:
    """A short description of an error body (Tradier sends ``{"fault": ...}`` or text)."""
    text = body[:200].decode(errors="replace")
    return text.replace("\n", " ")
