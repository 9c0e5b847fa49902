"""The quote stream contract, sans I/O: encode batches for XADD, decode and validate entries.

An entry carries either ``q`` (JSON: one quote object or an array of them — what anyone can write
with redis-cli) or ``b`` (msgpack, array-like rows: what our adapters write, several times faster
to decode). ``f`` optionally names the producing feed. Every quote that fails validation becomes a
``Reject`` with one of ``REJECT_REASONS``; the rest of its entry is still used.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Final

import msgspec

from monitor import symbols
from monitor.model import Quote, QuoteLike

FIELD_JSON: Final = b"q"
FIELD_BINARY: Final = b"b"
FIELD_FEED: Final = b"f"
EXTERNAL_FEED: Final = "external"

REJECT_REASONS: Final = (
    "bad_json",
    "bad_schema",
    "missing_ts",
    "unknown_symbol",
    "non_finite",
    "negative_price",
    "crossed",
    "empty_entry",
    "future_ts",
    "price_cap",
    "internal_error",
    "entry_too_large",
)
TS_MAX_NS: Final = 2**63 - 1
"""No ``ts`` beyond int64 (the market arrays' type) is ever accepted: ``future_ts``."""
PRICE_CAP: Final = 1e15
"""No price above this is accepted: ``price_cap``."""
VENUE_MAX_SKEW_NS: Final = 5_000_000_000
"""How far ahead of its receipt a venue may stamp an event (clocks differ a little)."""


class FutureTimestamp(ValueError):
    """A venue stamped an event after its receipt by more than the allowed skew."""


def venue_ts(ts_ns: int, ts_init_ns: int, max_skew_ns: int = VENUE_MAX_SKEW_NS) -> int:
    """Return a venue event time checked against its receipt ``ts_init_ns``.

    Parsers call this where a venue time enters, so no adapter emits a quote from the future
    (or beyond int64), nor one before the epoch; raise ``FutureTimestamp`` or ValueError
    (counted as a bad event).
    """
    if ts_ns > min(TS_MAX_NS, ts_init_ns + max_skew_ns):
        raise FutureTimestamp(f"event time {ts_ns} is after receipt {ts_init_ns} + skew")
    if ts_ns <= 0:
        raise ValueError(f"event time {ts_ns} is not after the epoch")
    return ts_ns


class QuoteRow(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """The binary row layout: positional, so a batch is a msgpack array of arrays."""

    sym: str
    ts: int
    bid: float | None = None
    ask: float | None = None
    bid_size: int | None = None
    ask_size: int | None = None
    last: float | None = None
    delayed: bool = False
    settle: float | None = None
    settle_date: dt.date | None = None
    open_interest: int | None = None


Price = Annotated[float, msgspec.Meta(ge=0.0, le=PRICE_CAP)]


class _CheckedRow(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """The binary row with its numeric checks done by msgspec in C: the fast path."""

    sym: str
    ts: Annotated[int, msgspec.Meta(gt=0, le=TS_MAX_NS)]
    bid: Price | None = None
    ask: Price | None = None
    bid_size: int | None = None
    ask_size: int | None = None
    last: Price | None = None
    delayed: bool = False
    settle: Price | None = None
    settle_date: dt.date | None = None
    open_interest: Annotated[int, msgspec.Meta(ge=0)] | None = None


class Reject(msgspec.Struct, frozen=True):
    reason: str
    detail: str
    raw: bytes


_ENCODER = msgspec.msgpack.Encoder()
_CHECKED_ROWS = msgspec.msgpack.Decoder(list[_CheckedRow])
_RAW_ROWS = msgspec.msgpack.Decoder(list[msgspec.Raw])
_ROW = msgspec.msgpack.Decoder(QuoteRow)
_KNOWN_SYMBOLS: set[str] = set()
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_QUOTE_JSON = msgspec.json.Decoder(Quote)


def encode_batch(quotes: Sequence[Quote]) -> bytes:
    """Encode quotes as the binary ``b`` field."""
    return _ENCODER.encode(
        [
            QuoteRow(q.sym, q.ts, q.bid, q.ask, q.bid_size, q.ask_size, q.last, q.delayed,
                     q.settle, q.settle_date, q.open_interest)
            for q in quotes
        ]
    )


def encodable(q: Quote) -> bool:
    """Whether a quote can travel as a stream entry: ``ts`` in (0, int64], ints msgpack holds."""
    if not 0 < q.ts <= TS_MAX_NS:
        return False
    ints = (q.bid_size, q.ask_size, q.open_interest)
    return all(v is None or -(2**63) <= v <= 2**64 - 1 for v in ints)


def encode_json(quotes: Sequence[Quote]) -> bytes:
    """Encode quotes as the JSON ``q`` field (the public form)."""
    return msgspec.json.encode(list(quotes))


def _check(q: QuoteLike, max_ts_ns: int = TS_MAX_NS) -> str | None:
    """Return a reject reason, or None for a valid quote (``ts`` at most ``max_ts_ns``)."""
    if q.ts <= 0:
        return "missing_ts"
    if q.ts > max_ts_ns:
        return "future_ts"
    prices = (q.bid, q.ask, q.last, q.settle)
    for p in prices:
        if p is not None and not math.isfinite(p):
            return "non_finite"
    for p in prices:
        if p is not None and p < 0:
            return "negative_price"
    for p in prices:
        if p is not None and p > PRICE_CAP:
            return "price_cap"
    if q.open_interest is not None and q.open_interest < 0:
        return "bad_schema"
    if q.bid is not None and q.ask is not None and q.bid > q.ask:
        return "crossed"
    return None if _known(q.sym) else "unknown_symbol"


def _known(sym: str) -> bool:
    if sym in _KNOWN_SYMBOLS:
        return True
    try:
        symbols.parse(sym)
    except symbols.SymbolError:
        return False
    _KNOWN_SYMBOLS.add(sym)
    return True


_NON_FINITE_TOKENS: Final = (b"NaN", b"Infinity")
_AT_BYTE = re.compile(r"\(byte (\d+)\)")
_BARE = re.compile(rb"(?:NaN|Infinity)")
_MARKED = re.compile(rb'"\\u0000(-?(?:NaN|Infinity))"')
_MAX_REPAIRS: Final = 64
"""Bare NaN/Infinity tokens quoted per array before the whole entry is given up on."""


def _schema_reason(exc: msgspec.MsgspecError) -> str:
    text = str(exc)
    if "`ts`" in text and "missing" in text:
        return "missing_ts"
    return "non_finite" if "out of range" in text else "bad_schema"


def _json_reason(raw: bytes) -> str:
    """Classify undecodable JSON: bare NaN/Infinity tokens are non-finite numbers."""
    return "non_finite" if any(t in raw for t in _NON_FINITE_TOKENS) else "bad_json"


def _split_array(payload: bytes) -> list[msgspec.Raw]:
    """Split a JSON array into its items; raise DecodeError if it is not one.

    A bare ``NaN``/``Infinity`` (not JSON, but what many encoders write) would make the whole
    array undecodable and cost its good quotes: each is quoted as a marked string instead, so
    only its own item fails (and is classified ``non_finite`` by the mark).
    """
    for _ in range(_MAX_REPAIRS):
        try:
            return _RAW_LIST.decode(payload)
        except msgspec.DecodeError as exc:
            m = _AT_BYTE.search(str(exc))
            token = _BARE.match(payload, int(m[1])) if m else None
            if token is None:
                raise
            start = token.start() - (payload[token.start() - 1 : token.start()] == b"-")
            marked = b'"\\u0000' + payload[start : token.end()] + b'"'
            payload = payload[:start] + marked + payload[token.end() :]
    return _RAW_LIST.decode(payload)


def _decode_json(
    payload: bytes, out: list[QuoteLike], rejects: list[Reject], max_ts_ns: int
) -> None:
    stripped = payload.lstrip()
    try:
        items = _split_array(stripped) if stripped[:1] == b"[" else [msgspec.Raw(stripped)]
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        rejects.append(Reject(_json_reason(payload), str(exc), payload))
        return
    for item in items:
        raw = bytes(item)
        try:
            q = _QUOTE_JSON.decode(raw)
        except msgspec.ValidationError as exc:
            if _MARKED.search(raw):
                rejects.append(Reject("non_finite", str(exc), _MARKED.sub(rb"\1", raw)))
            else:
                rejects.append(Reject(_schema_reason(exc), str(exc), raw))
            continue
        except msgspec.DecodeError as exc:
            rejects.append(Reject(_json_reason(raw), str(exc), raw))
            continue
        _accept(q, out, rejects, raw, max_ts_ns)


def _accept(
    q: Quote, out: list[QuoteLike], rejects: list[Reject], raw: bytes, max_ts_ns: int
) -> None:
    reason = _check(q, max_ts_ns)
    if reason is None:
        out.append(q)
    else:
        rejects.append(Reject(reason, q.sym, raw))


def _decode_binary(
    payload: bytes, out: list[QuoteLike], rejects: list[Reject], max_ts_ns: int
) -> None:
    try:
        rows = _CHECKED_ROWS.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError):
        # some row is bad (a bound, a type, invalid UTF-8 in a string): find which
        _decode_binary_rowwise(payload, out, rejects, max_ts_ns)
        return
    if _all_pass(rows, max_ts_ns):
        out.extend(rows)
        return
    for r in rows:
        if r.ts > max_ts_ns:
            rejects.append(Reject("future_ts", r.sym, msgspec.json.encode(r)))
        elif r.bid is not None and r.ask is not None and r.bid > r.ask:
            rejects.append(Reject("crossed", r.sym, msgspec.json.encode(r)))
        elif not _known(r.sym):
            rejects.append(Reject("unknown_symbol", r.sym, msgspec.json.encode(r)))
        else:
            out.append(r)


def _all_pass(rows: list[_CheckedRow], max_ts_ns: int) -> bool:
    """Whether every row passes the checks msgspec cannot make (``ts`` bound, crossed, symbol).

    The common batch has no reject: one comprehension with no call per row proves it, cheaper
    than the loop that gives each row its verdict (and learns a new symbol), which runs only
    when some row fails here.
    """
    known = _KNOWN_SYMBOLS
    failing = [
        r
        for r in rows
        if r.ts > max_ts_ns
        or (r.bid is not None and r.ask is not None and r.bid > r.ask)
        or r.sym not in known
    ]
    return not failing


def _decode_binary_rowwise(
    payload: bytes, out: list[QuoteLike], rejects: list[Reject], max_ts_ns: int
) -> None:
    """The slow path: decode and check each row on its own to reject only the bad ones."""
    try:
        raws = _RAW_ROWS.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        rejects.append(Reject("bad_schema", str(exc), payload))
        return
    for raw in raws:
        try:
            r = _ROW.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            rejects.append(Reject(_schema_reason(exc), str(exc), bytes(raw)))
            continue
        reason = _check(r, max_ts_ns)
        if reason is None:
            out.append(r)
        else:
            rejects.append(Reject(reason, r.sym, bytes(raw)))


def decode_entry(
    fields: Mapping[bytes, bytes], *, max_ts_ns: int = TS_MAX_NS, max_bytes: int | None = None
) -> tuple[str, list[QuoteLike], list[Reject]]:
    """Decode one stream entry into (feed, valid quotes, rejects).

    ``max_ts_ns``: the latest acceptable ``ts`` (the clock plus its skew); a quote stamped after
    it is rejected as ``future_ts``, as is any ``ts`` beyond int64 whatever the bound.
    ``max_bytes``: a larger payload is rejected whole (``entry_too_large``) without decoding,
    so no single entry holds the engine's loop for long.
    """
    feed_raw = fields.get(FIELD_FEED)
    feed = feed_raw.decode(errors="replace") if feed_raw else EXTERNAL_FEED
    size = sum(len(fields.get(k) or b"") for k in (FIELD_BINARY, FIELD_JSON))
    if max_bytes is not None and size > max_bytes:
        payload = fields.get(FIELD_BINARY) or fields.get(FIELD_JSON) or b""
        return feed, [], [Reject("entry_too_large", f"{size} bytes > {max_bytes}", payload)]
    max_ts_ns = min(max_ts_ns, TS_MAX_NS)
    quotes: list[QuoteLike] = []
    rejects: list[Reject] = []
    if (binary := fields.get(FIELD_BINARY)) is not None:
        _decode_binary(binary, quotes, rejects, max_ts_ns)
    if (text := fields.get(FIELD_JSON)) is not None:
        _decode_json(text, quotes, rejects, max_ts_ns)
    if binary is None and text is None:
        rejects.append(Reject("empty_entry", "no q or b field", b""))
    return feed, quotes, rejects
