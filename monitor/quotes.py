"""The quote stream contract, sans I/O: encode batches for XADD, decode and validate entries.

An entry carries either ``q`` (JSON: one quote object or an array of them — what anyone can write
with redis-cli) or ``b`` (msgpack, array-like rows: what our adapters write, several times faster
to decode). ``f`` optionally names the producing feed. Every quote that fails validation becomes a
``Reject`` with one of ``REJECT_REASONS``; the rest of its entry is still used.
"""

from __future__ import annotations

import math
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
)


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


Price = Annotated[float, msgspec.Meta(ge=0.0, le=1e15)]


class _CheckedRow(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """The binary row with its numeric checks done by msgspec in C: the fast path."""

    sym: str
    ts: Annotated[int, msgspec.Meta(gt=0)]
    bid: Price | None = None
    ask: Price | None = None
    bid_size: int | None = None
    ask_size: int | None = None
    last: Price | None = None
    delayed: bool = False


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
            QuoteRow(q.sym, q.ts, q.bid, q.ask, q.bid_size, q.ask_size, q.last, q.delayed)
            for q in quotes
        ]
    )


def encode_json(quotes: Sequence[Quote]) -> bytes:
    """Encode quotes as the JSON ``q`` field (the public form)."""
    return msgspec.json.encode(list(quotes))


def _check(q: QuoteLike) -> str | None:
    """Return a reject reason, or None for a valid quote."""
    if q.ts <= 0:
        return "missing_ts"
    prices = (q.bid, q.ask, q.last)
    for p in prices:
        if p is not None and not math.isfinite(p):
            return "non_finite"
    for p in prices:
        if p is not None and p < 0:
            return "negative_price"
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


def _schema_reason(exc: msgspec.MsgspecError) -> str:
    text = str(exc)
    if "`ts`" in text and "missing" in text:
        return "missing_ts"
    return "non_finite" if "out of range" in text else "bad_schema"


def _json_reason(raw: bytes) -> str:
    """Classify undecodable JSON: bare NaN/Infinity tokens are non-finite numbers."""
    return "non_finite" if any(t in raw for t in _NON_FINITE_TOKENS) else "bad_json"


def _decode_json(payload: bytes, out: list[QuoteLike], rejects: list[Reject]) -> None:
    stripped = payload.lstrip()
    try:
        items = _RAW_LIST.decode(stripped) if stripped[:1] == b"[" else [msgspec.Raw(stripped)]
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        rejects.append(Reject(_json_reason(payload), str(exc), payload))
        return
    for raw in items:
        try:
            q = _QUOTE_JSON.decode(raw)
        except msgspec.ValidationError as exc:
            rejects.append(Reject(_schema_reason(exc), str(exc), bytes(raw)))
            continue
        except msgspec.DecodeError as exc:
            rejects.append(Reject(_json_reason(bytes(raw)), str(exc), bytes(raw)))
            continue
        _accept(q, out, rejects, bytes(raw))


def _accept(q: Quote, out: list[QuoteLike], rejects: list[Reject], raw: bytes) -> None:
    reason = _check(q)
    if reason is None:
        out.append(q)
    else:
        rejects.append(Reject(reason, q.sym, raw))


def _decode_binary(payload: bytes, out: list[QuoteLike], rejects: list[Reject]) -> None:
    try:
        rows = _CHECKED_ROWS.decode(payload)
    except msgspec.ValidationError:
        _decode_binary_rowwise(payload, out, rejects)  # some row is bad: find which
        return
    except msgspec.DecodeError as exc:
        rejects.append(Reject("bad_schema", str(exc), payload[:512]))
        return
    for r in rows:
        if r.bid is not None and r.ask is not None and r.bid > r.ask:
            rejects.append(Reject("crossed", r.sym, msgspec.json.encode(r)))
        elif not _known(r.sym):
            rejects.append(Reject("unknown_symbol", r.sym, msgspec.json.encode(r)))
        else:
            out.append(r)


def _decode_binary_rowwise(payload: bytes, out: list[QuoteLike], rejects: list[Reject]) -> None:
    """The slow path: decode and check each row on its own to reject only the bad ones."""
    try:
        raws = _RAW_ROWS.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        rejects.append(Reject("bad_schema", str(exc), payload[:512]))
        return
    for raw in raws:
        try:
            r = _ROW.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            rejects.append(Reject(_schema_reason(exc), str(exc), bytes(raw)))
            continue
        reason = _check(r)
        if reason is None:
            out.append(r)
        else:
            rejects.append(Reject(reason, r.sym, bytes(raw)))


def decode_entry(fields: Mapping[bytes, bytes]) -> tuple[str, list[QuoteLike], list[Reject]]:
    """Decode one stream entry into (feed, valid quotes, rejects)."""
    feed_raw = fields.get(FIELD_FEED)
    feed = feed_raw.decode(errors="replace") if feed_raw else EXTERNAL_FEED
    quotes: list[QuoteLike] = []
    rejects: list[Reject] = []
    if (binary := fields.get(FIELD_BINARY)) is not None:
        _decode_binary(binary, quotes, rejects)
    if (text := fields.get(FIELD_JSON)) is not None:
        _decode_json(text, quotes, rejects)
    if binary is None and text is None:
        rejects.append(Reject("empty_entry", "no q or b field", b""))
    return feed, quotes, rejects
