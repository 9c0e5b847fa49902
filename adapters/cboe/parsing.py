"""Cboe delayed-quotes JSON, sans I/O: bodies in, delayed quotes out.

Times: the file's ``timestamp`` is UTC publication time, sometimes time-only (the date is then
the one that makes it closest to, and not after, receipt); ``last_trade_time`` is New York
local time without a zone; the futures' ``lastUpdate`` carries its offset (Central). The file
keeps being republished after the close with frozen quotes, so a snapshot is dated by the
underlying's last trade, not by publication. Options carry only the fields we need; a 14 MB
``_SPX.json`` (30,000 contracts) decodes into small structs in well under a second.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import msgspec

from adapters.cboe.symbols import (
    MONTHLY_FUTURE,
    future_to_canonical,
    index_to_canonical,
    is_weekly_future,
)
from monitor import symbols
from monitor.model import Quote
from monitor.pricing.calendar import previous_business_day
from monitor.quotes import venue_ts

NEW_YORK = ZoneInfo("America/New_York")
_OPTION = re.compile(r"^(SPXW?|VIXW?)(\d{6})([CP])(\d{8})$")
_LATE_TOLERANCE_NS = 3600 * 1_000_000_000


class Option(msgspec.Struct):
    option: str
    bid: float | None = None
    ask: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    last_trade_price: float | None = None
    last_trade_time: str | None = None
    prev_day_close: float | None = None
    open_interest: float | None = None


class Underlying(msgspec.Struct):
    symbol: str = ""
    current_price: float | None = None
    bid: float | None = None
    ask: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    last_trade_time: str | None = None
    prev_day_close: float | None = None
    options: list[Option] = msgspec.field(default_factory=list)


class QuotesFile(msgspec.Struct):
    """``options/_X.json`` and ``quotes/_X.json`` (the latter without options)."""

    data: Underlying
    timestamp: str | None = None
    symbol: str | None = None


class Future(msgspec.Struct):
    symbol: str
    expiration: str = ""
    last_price: float | None = None
    settlement: float | None = None
    prev_open_int: int | None = None
    current_open_int: int | None = None


class FuturesFile(msgspec.Struct):
    data: list[Future]
    lastUpdate: str | None = None  # Cboe's field name


_QUOTES = msgspec.json.Decoder(QuotesFile)
_FUTURES = msgspec.json.Decoder(FuturesFile)


@dataclass(slots=True)
class Snapshot:
    quotes: list[Quote] = field(default_factory=list)
    as_of_ns: int = 0
    contracts: int = 0
    """Contracts in the file (subscribed or not)."""
    options: list[Option] = field(default_factory=list)


def utc_timestamp_ns(text: str, received_ns: int) -> int:
    """Parse ``YYYY-MM-DD HH:MM:SS`` or a time-only ``HH:MM:SS`` (UTC) to epoch ns."""
    if len(text) <= 8:
        t = dt.time.fromisoformat(text)
        received = dt.datetime.fromtimestamp(received_ns / 1e9, dt.UTC)
        when = dt.datetime.combine(received.date(), t, dt.UTC)
        if _ns(when) > received_ns + _LATE_TOLERANCE_NS:  # published before midnight UTC
            when -= dt.timedelta(days=1)
        return _ns(when)
    return _ns(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC))


def new_york_ns(text: str) -> int:
    """Parse a zoneless New York ``YYYY-MM-DDTHH:MM:SS`` to epoch ns (DST-aware)."""
    return _ns(dt.datetime.fromisoformat(text).replace(tzinfo=NEW_YORK))


def _ns(when: dt.datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def _size(x: float | None) -> int | None:
    # a size no int64 holds (or a negative one) is garbage, not a reason to drop the quote
    return None if x is None or not 0 <= x <= 1e18 else round(x)


def snapshot_time_ns(file: QuotesFile, received_ns: int) -> int:
    """Date a file by its underlying's last trade, else its publication time, else receipt.

    A time that is unreadable or after the receipt (beyond the clock skew) is passed over: a
    file is a snapshot just received, never one from the future.
    """
    for text, parse in ((file.data.last_trade_time, new_york_ns),
                        (file.timestamp, lambda t: utc_timestamp_ns(t, received_ns))):
        if text:
            with contextlib.suppress(ValueError, OverflowError):
                return venue_ts(parse(text), received_ns)
    return received_ns


def parse_quotes_file(
    body: bytes, received_ns: int, wanted: Container[str] | None = None, *,
    keep_options: bool = False,
) -> Snapshot:
    """Decode an options or index-quote file into delayed quotes.

    ``wanted`` filters by canonical symbol (None keeps every SPX/SPXW/VIX/VIXW contract).
    ``keep_options`` also returns the raw option rows (for listed strikes).
    """
    file = _QUOTES.decode(body)
    as_of = snapshot_time_ns(file, received_ns)
    snap = Snapshot(as_of_ns=as_of, contracts=len(file.data.options))
    if keep_options:
        snap.options = file.data.options
    index = _index_quote(file.data, as_of, wanted)
    if index is not None:
        snap.quotes.append(index)
    close_date = previous_close_date(as_of)
    for o in file.data.options:
        sym = o.option
        if (sym in wanted) if wanted is not None else _OPTION.match(sym) is not None:
            bid, ask = _book(o.bid, o.ask)
            close = _positive(o.prev_day_close)
            snap.quotes.append(Quote(
                sym=sym, ts=as_of, bid=bid, ask=ask, bid_size=_size(o.bid_size),
                ask_size=_size(o.ask_size),
                last=_positive(o.last_trade_price) if o.last_trade_time is not None else None,
                delayed=True, settle=close, settle_date=close_date if close else None,
                open_interest=_size(o.open_interest),
            ))
    return snap


def _book(bid: float | None, ask: float | None) -> tuple[float | None, float | None]:
    """``bid: 0.0, ask: 0.0`` is Cboe's "no quote" (the ``_VIX`` index has it), not a locked
    book at zero: both sides become null. A 0.0 bid under a positive ask is a real price."""
    if bid == 0.0 and ask == 0.0:
        return None, None
    return bid, ask


def _positive(x: float | None) -> float | None:
    """Cboe writes 0.0 for "never traded" / "no close": a price only when above zero."""
    return x if x is not None and x > 0.0 else None


def previous_close_date(as_of_ns: int) -> dt.date:
    """Return the session a ``prev_day_close`` belongs to: the business day before the
    snapshot's New York date."""
    day = dt.datetime.fromtimestamp(as_of_ns / 1e9, NEW_YORK).date()
    return previous_business_day(day)


def _index_quote(data: Underlying, as_of: int, wanted: Container[str] | None) -> Quote | None:
    sym = index_to_canonical(data.symbol)
    if sym is None or (wanted is not None and sym not in wanted):
        return None
    bid, ask = _book(data.bid, data.ask)
    close = _positive(data.prev_day_close)
    return Quote(
        sym=sym, ts=as_of, bid=bid, ask=ask, bid_size=_size(data.bid_size),
        ask_size=_size(data.ask_size), last=data.current_price, delayed=True,
        settle=close, settle_date=previous_close_date(as_of) if close else None,
    )


def parse_futures(
    body: bytes, received_ns: int, wanted: Container[str] | None = None,
) -> list[Quote]:
    """Decode ``get_quotes_combined`` into last-only VX quotes, monthlies and weeklies.

    Rows carry no bid or ask. ``last_price`` 0.0 means no trade today (``last`` null);
    ``settlement`` becomes ``settle``, dated the business day before ``lastUpdate``'s Central
    date (inferred: during the session it equals ``prev_settlement``), with the open interest.
    A weekly that has not traded shows a settlement *cloned* from a monthly: a weekly's
    settlement equal to a monthly's in the same file is dropped, and a weekly with neither a
    trade nor a settlement of its own gives no quote (pricing then interpolates its forward).
    """
    file = _FUTURES.decode(body)
    ts = received_ns
    settle_date = None
    if file.lastUpdate:
        updated = dt.datetime.fromisoformat(file.lastUpdate)
        with contextlib.suppress(ValueError, OverflowError):  # else: receipt (see above)
            ts = venue_ts(_ns(updated), received_ns)
        settle_date = previous_business_day(updated.date())
    monthly_settles = {
        f.settlement for f in file.data if f.settlement and MONTHLY_FUTURE.match(f.symbol)
    }
    out: list[Quote] = []
    for f in file.data:
        sym = future_to_canonical(f.symbol, f.expiration)
        if sym is None or (wanted is not None and sym not in wanted):
            continue
        last = _positive(f.last_price)
        settle = _positive(f.settlement)
        if is_weekly_future(f.symbol) and settle in monthly_settles:
            settle = None  # cloned from a monthly: not this contract's price
        if last is None and settle is None:
            continue
        out.append(Quote(
            sym=sym, ts=ts, last=last, delayed=True, settle=settle,
            settle_date=settle_date if settle is not None else None,
            open_interest=_size(f.current_open_int or f.prev_open_int),
        ))
    return out


def listed_strikes(options: Iterable[Option]) -> dict[tuple[str, dt.date], list[float]]:
    """Group a file's contracts into sorted strikes per (root, expiry)."""
    out: dict[tuple[str, dt.date], set[float]] = {}
    for o in options:
        try:
            inst = symbols.parse(o.option)
        except symbols.SymbolError:
            continue
        assert inst.expiry is not None
        out.setdefault((inst.root, inst.expiry), set()).add(inst.strike)
    return {key: sorted(ks) for key, ks in out.items()}


def cache_max_age_s(cache_control: str | None) -> float:
    """Return the longest freshness lifetime a Cache-Control header grants (0 if none)."""
    best = 0.0
    for part in (cache_control or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() in ("max-age", "s-maxage"):
            try:
                best = max(best, float(value))
            except ValueError:
                continue
    return best


def poll_delay_s(cache_control: str | None, configured_s: float, floor_s: float) -> float:
    """Wait at least ``floor_s`` (5 s), the configured interval, and the content's freshness."""
    return max(floor_s, configured_s, cache_max_age_s(cache_control))
