"""DXLink (tastytrade) inbound messages, sans I/O: frames and REST bodies in, structs out.

FEED_DATA in COMPACT form is a flat list ``[type, [values...], type, [values...], ...]``; each
values list holds whole events laid out in the order the *server* announced in FEED_CONFIG
``eventFields`` (merged per type, never the order we asked for). Numbers may be the strings
"NaN", "Infinity", "-Infinity"; all of them become None. Event times of 0 (common on quotes)
are replaced by the receive time. FULL form (a list of objects) is decoded too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from monitor.model import Quote
from monitor.quotes import venue_ts

_NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})
_NS_PER_MS = 1_000_000


class _Msg(msgspec.Struct, tag_field="type", rename="camel"):
    channel: int = 0


class Setup(_Msg, tag="SETUP"):
    version: str = ""
    keepalive_timeout: float | None = None
    accept_keepalive_timeout: float | None = None


class AuthState(_Msg, tag="AUTH_STATE"):
    state: str = "UNAUTHORIZED"
    user_id: str | None = None


class ChannelOpened(_Msg, tag="CHANNEL_OPENED"):
    service: str = ""
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)


class ChannelClosed(_Msg, tag="CHANNEL_CLOSED"):
    pass


class FeedConfig(_Msg, tag="FEED_CONFIG"):
    data_format: str = "COMPACT"
    aggregation_period: float | None = None
    event_fields: dict[str, list[str]] | None = None


class FeedData(_Msg, tag="FEED_DATA"):
    data: list[Any] = msgspec.field(default_factory=list)


class Keepalive(_Msg, tag="KEEPALIVE"):
    pass


class Error(_Msg, tag="ERROR"):
    error: str = "UNKNOWN"
    message: str = ""


ServerMessage = Setup | AuthState | ChannelOpened | ChannelClosed | FeedConfig | FeedData \
    | Keepalive | Error


class _Envelope(msgspec.Struct):
    type: str
    channel: int = 0


_MESSAGE: msgspec.json.Decoder[ServerMessage] = msgspec.json.Decoder(ServerMessage)
_ENVELOPE = msgspec.json.Decoder(_Envelope)


class Unhandled(msgspec.Struct, frozen=True):
    """A well-formed message of a type we do not act on (e.g. a DOM service message)."""

    type: str
    channel: int


def decode_message(frame: str | bytes) -> ServerMessage | Unhandled:
    """Decode one text frame; raise msgspec.DecodeError/ValidationError if it is malformed."""
    try:
        return _MESSAGE.decode(frame)
    except msgspec.ValidationError:
        env = _ENVELOPE.decode(frame)
        return Unhandled(env.type, env.channel)


class Greeks(msgspec.Struct, frozen=True, kw_only=True):
    sym: str
    ts: int
    price: float | None
    volatility: float | None
    delta: float | None
    gamma: float | None
    theta: float | None
    rho: float | None
    vega: float | None


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    sym: str
    day_open: float | None
    day_high: float | None
    day_low: float | None
    day_close: float | None
    prev_day_close: float | None
    open_interest: float | None
    day: dt.date | None = None
    prev_day: dt.date | None = None


@dataclass(slots=True)
class Decoded:
    """What one FEED_DATA message held."""

    quotes: list[Quote] = field(default_factory=list)
    greeks: list[Greeks] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)
    events: int = 0
    errors: int = 0
    unknown_symbols: int = 0


def num(v: Any) -> float | None:
    """Return a finite float, or None for NaN/Infinity (numbers or strings) and null."""
    if type(v) is float:
        return v if v - v == 0.0 else None
    if type(v) is int:
        return float(v)
    if v is None or v in _NON_FINITE:
        return None
    raise ValueError(f"not a number: {v!r}")


_MAX_SIZE = 1e18


def size(v: Any) -> int | None:
    x = num(v)
    # a size no int64 holds (or a negative one) is garbage, not a reason to drop the quote
    return None if x is None or not 0 <= x <= _MAX_SIZE else round(x)


def time_ns(v: Any) -> int:
    """Epoch ms (possibly 0, NaN or missing) -> epoch ns, 0 when unknown."""
    x = num(v)
    return 0 if x is None or x <= 0 else int(x) * _NS_PER_MS


_EPOCH = dt.date(1970, 1, 1)

# The fields we need per event type; the first two identify the event.
NEEDED: dict[str, tuple[str, ...]] = {
    "Quote": ("eventSymbol", "eventTime", "bidTime", "askTime", "bidPrice", "askPrice",
              "bidSize", "askSize"),
    "Trade": ("eventSymbol", "eventTime", "time", "price", "size"),
    "Summary": ("eventSymbol", "dayOpenPrice", "dayHighPrice", "dayLowPrice", "dayClosePrice",
                "prevDayClosePrice", "openInterest", "dayId", "prevDayId"),
    "Greeks": ("eventSymbol", "eventTime", "time", "price", "volatility", "delta", "gamma",
               "theta", "rho", "vega"),
}


@dataclass(frozen=True, slots=True)
class _Plan:
    width: int
    index: tuple[int | None, ...]
    """Position of each NEEDED field in an event, None when the server does not send it."""


def _plan(event_type: str, fields: Sequence[str]) -> _Plan | None:
    needed = NEEDED.get(event_type)
    if needed is None or "eventSymbol" not in fields:
        return None
    pos = {name: i for i, name in enumerate(fields)}
    return _Plan(len(fields), tuple(pos.get(name) for name in needed))


def _pick(values: Sequence[Any], offset: int, plan: _Plan) -> list[Any]:
    return [None if i is None else values[offset + i] for i in plan.index]


class FeedDataDecoder:
    """Decode FEED_DATA for one channel with the field order its FEED_CONFIG announced."""

    def __init__(self, to_canonical: Callable[[str], str | None], *, delayed: bool = False) -> None:
        self.to_canonical = to_canonical
        self.delayed = delayed
        self.fields: dict[str, list[str]] = {}
        self._plans: dict[str, _Plan | None] = {}

    def configure(self, cfg: FeedConfig) -> None:
        """Merge a FEED_CONFIG's ``eventFields`` (per type) into what is known."""
        for event_type, names in (cfg.event_fields or {}).items():
            self.fields[event_type] = list(names)
            self._plans[event_type] = _plan(event_type, names)

    def decode(self, msg: FeedData, ts_init_ns: int) -> Decoded:
        """Decode every (type, values) pair; a malformed pair is counted and skipped."""
        out = Decoded()
        data = msg.data
        if data and isinstance(data[0], dict):
            self._decode_full(data, ts_init_ns, out)
            return out
        if len(data) % 2:
            out.errors += 1
            data = data[:-1]
        for i in range(0, len(data), 2):
            event_type, values = data[i], data[i + 1]
            if not isinstance(event_type, str) or not isinstance(values, list):
                out.errors += 1
                continue
            self._decode_pair(event_type, values, ts_init_ns, out)
        return out

    def _decode_pair(self, event_type: str, values: list[Any], ts_init_ns: int,
                     out: Decoded) -> None:
        plan = self._plans.get(event_type)
        if plan is None or len(values) % plan.width:
            # Unknown layout or a length that is not whole events: the batch cannot be
            # sliced safely, so all of it is dropped.
            out.errors += 1
            return
        for offset in range(0, len(values), plan.width):
            self._event(event_type, _pick(values, offset, plan), ts_init_ns, out)

    def _decode_full(self, items: list[Any], ts_init_ns: int, out: Decoded) -> None:
        for item in items:
            event_type = item.get("eventType") if isinstance(item, dict) else None
            needed = NEEDED.get(event_type) if isinstance(event_type, str) else None
            if needed is None:
                out.errors += 1
                continue
            assert isinstance(event_type, str) and isinstance(item, dict)
            self._event(event_type, [item.get(name) for name in needed], ts_init_ns, out)

    def _event(self, event_type: str, v: list[Any], ts_init_ns: int, out: Decoded) -> None:
        sym = self.to_canonical(v[0]) if isinstance(v[0], str) else None
        if sym is None:
            out.unknown_symbols += 1
            return
        try:
            match event_type:
                case "Quote":
                    out.quotes.append(self._quote(sym, v, ts_init_ns))
                case "Trade":
                    if (trade := self._trade(sym, v, ts_init_ns)) is not None:
                        out.quotes.append(trade)
                case "Summary":
                    summary = _summary(sym, v)
                    out.summaries.append(summary)
                    if (settle := _settle_quote(summary, ts_init_ns, self.delayed)) is not None:
                        out.quotes.append(settle)
                case "Greeks":
                    out.greeks.append(_greeks(sym, v, ts_init_ns))
        except (ValueError, TypeError, OverflowError):  # FutureTimestamp is a ValueError
            out.errors += 1
            return
        out.events += 1

    def _quote(self, sym: str, v: list[Any], ts_init_ns: int) -> Quote:
        ts = venue_ts(max(time_ns(v[1]), time_ns(v[2]), time_ns(v[3])) or ts_init_ns, ts_init_ns)
        return Quote(
            sym=sym, ts=ts, bid=num(v[4]), ask=num(v[5]), bid_size=size(v[6]),
            ask_size=size(v[7]), delayed=self.delayed,
        )

    def _trade(self, sym: str, v: list[Any], ts_init_ns: int) -> Quote | None:
        price = num(v[3])
        if price is None:
            return None
        ts = venue_ts(time_ns(v[2]) or time_ns(v[1]) or ts_init_ns, ts_init_ns)
        return Quote(sym=sym, ts=ts, last=price, delayed=self.delayed)


def _summary(sym: str, v: list[Any]) -> Summary:
    return Summary(
        sym=sym, day_open=num(v[1]), day_high=num(v[2]), day_low=num(v[3]),
        day_close=num(v[4]), prev_day_close=num(v[5]), open_interest=num(v[6]),
        day=_day(v[7]), prev_day=_day(v[8]),
    )


def _day(v: Any) -> dt.date | None:
    """dxFeed's ``dayId``: days since 1970-01-01 (0 or NaN: unknown)."""
    n = num(v)
    if n is None or n <= 0:
        return None
    return _EPOCH + dt.timedelta(days=int(n))


def _settle_quote(s: Summary, ts_init_ns: int, delayed: bool) -> Quote | None:
    """Turn a Summary into a settlement-only quote: the day's close once it is known, else the
    previous day's close (futures: settlement), with the open interest; None when it has none
    (Summary is reset to NaN before the open)."""
    settle, day = (s.day_close, s.day) if s.day_close is not None else (s.prev_day_close,
                                                                         s.prev_day)
    oi = size(s.open_interest)
    if settle is None and oi is None:
        return None
    return Quote(sym=s.sym, ts=ts_init_ns, delayed=delayed, settle=settle,
                 settle_date=day if settle is not None else None, open_interest=oi)


def _greeks(sym: str, v: list[Any], ts_init_ns: int) -> Greeks:
    return Greeks(
        sym=sym, ts=time_ns(v[2]) or time_ns(v[1]) or ts_init_ns, price=num(v[3]),
        volatility=num(v[4]), delta=num(v[5]), gamma=num(v[6]), theta=num(v[7]),
        rho=num(v[8]), vega=num(v[9]),
    )


# --- tastytrade REST bodies ----------------------------------------------------------------


class QuoteToken(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    dxlink_url: str
    level: str
    issued_ns: int
    expires_ns: int | None

    def __repr__(self) -> str:  # the token never reaches a log line
        return f"QuoteToken(level={self.level!r}, dxlink_url={self.dxlink_url!r})"


class _QuoteTokenData(msgspec.Struct, rename="kebab"):
    token: str
    dxlink_url: str
    level: str = "api"
    expires_at: str | None = None


class _Wrapped(msgspec.Struct):
    data: msgspec.Raw


class _OAuth(msgspec.Struct):
    access_token: str
    expires_in: float = 900.0


class _Future(msgspec.Struct, rename="kebab"):
    expiration_date: dt.date
    streamer_symbol: str | None = None
    product_code: str = ""


class _Items(msgspec.Struct):
    items: list[_Future]


class _ApiError(msgspec.Struct):
    code: str = ""
    message: str = ""


class _ErrorBody(msgspec.Struct):
    error: _ApiError


def _unwrap(body: bytes) -> bytes:
    try:
        return bytes(msgspec.json.decode(body, type=_Wrapped).data)
    except msgspec.ValidationError:
        return body


def parse_oauth(body: bytes) -> tuple[str, float]:
    """Return (access token, lifetime in s) from ``POST /oauth/token``."""
    resp = msgspec.json.decode(_unwrap(body), type=_OAuth)
    return resp.access_token, resp.expires_in


def parse_quote_token(body: bytes, now_ns: int) -> QuoteToken:
    """Decode ``GET /api-quote-tokens`` (``{"data": {...}, "context": ...}``)."""
    data = msgspec.json.decode(_unwrap(body), type=_QuoteTokenData)
    expires_ns = None
    if data.expires_at:
        try:
            when = dt.datetime.fromisoformat(data.expires_at.replace("Z", "+00:00"))
            expires_ns = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
        except (ValueError, OverflowError, OSError) as exc:
            raise ValueError(f"expires-at {data.expires_at[:40]!r} is not a time") from exc
    return QuoteToken(
        token=data.token, dxlink_url=data.dxlink_url, level=data.level,
        issued_ns=now_ns, expires_ns=expires_ns,
    )


def parse_futures(body: bytes) -> dict[dt.date, str]:
    """Map VX final settlement dates to streamer symbols from ``GET /instruments/futures``."""
    items = msgspec.json.decode(_unwrap(body), type=_Items).items
    return {f.expiration_date: f.streamer_symbol for f in items
            if f.streamer_symbol and f.product_code in ("VX", "")}


def api_error(body: bytes) -> str:
    """Return ``code: message`` of a tastytrade error body, or a short excerpt."""
    try:
        err = msgspec.json.decode(body, type=_ErrorBody).error
        return f"{err.code}: {err.message}"
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body[:200].decode(errors="replace")
