"""Fuzz targets: bytes in, an AssertionError (or any unexpected exception) when an invariant breaks.

One target per place untrusted bytes enter vixmon: the quote stream contract (JSON ``q`` and
msgpack ``b``), each venue parser (DXLink, Tradier, Cboe) and the config loader. Each states
what must hold for *every* input, not only for well-formed ones:

- nothing raises but the errors the caller handles (the contract: nothing at all);
- every quote that comes out is stamped within (0, receipt + skew] (so within int64), and
  whatever passes the contract can be applied to the market arrays and encoded again;
- the config loader fails only with ``ConfigError`` (exit 2), never a traceback.

The same functions are driven by hypothesis in ``test_fuzz_targets.py`` (a short bounded run in
the suite) and by atheris in ``run_atheris.py`` (``make fuzz``: millions of inputs).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from adapters.cboe import parsing as cboe
from adapters.dxlink import parsing as dxlink
from adapters.dxlink.symbols import SymbolMap
from adapters.tradier import parsing as tradier
from monitor import settings
from monitor.market import MarketState
from monitor.model import Quote, QuoteLike
from monitor.quotes import (
    PRICE_CAP,
    REJECT_REASONS,
    VENUE_MAX_SKEW_NS,
    decode_entry,
    encode_batch,
)

NS = 1_000_000_000
TS_INIT = 1_795_500_000 * NS
"""The receipt time every venue input is parsed at."""
CEILING = TS_INIT + VENUE_MAX_SKEW_NS
ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "tests" / "resources"

Target = Callable[[bytes], None]


def _check_accepted(q: QuoteLike, ceiling: int) -> None:
    assert 0 < q.ts <= ceiling, q
    for p in (q.bid, q.ask, q.last):
        assert p is None or (math.isfinite(p) and 0 <= p <= PRICE_CAP), q
    assert q.bid is None or q.ask is None or q.bid <= q.ask, q


def _through_the_contract(fields: dict[bytes, bytes], ceiling: int) -> list[QuoteLike]:
    """Decode an entry as the engine does and apply what passed; return it."""
    _feed, quotes, rejects = decode_entry(fields, max_ts_ns=ceiling)
    for q in quotes:
        _check_accepted(q, ceiling)
    for r in rejects:
        assert r.reason in REJECT_REASONS, r
    MarketState(capacity=4).apply(quotes)
    return quotes


def quote_json(data: bytes) -> None:
    """The JSON ``q`` field, as anyone with stream access can write it."""
    _through_the_contract({b"q": data}, CEILING)


def quote_binary(data: bytes) -> None:
    """The msgpack ``b`` field, as our adapters (or a forger) write it."""
    _through_the_contract({b"b": data}, CEILING)


def _venue_quotes(quotes: Sequence[Quote]) -> None:
    """What an adapter emits: bounded in time, encodable, and safe for the contract."""
    for q in quotes:
        assert 0 < q.ts <= CEILING, q
    if quotes:
        _through_the_contract({b"b": encode_batch(quotes)}, CEILING)


def _dxlink_decoder() -> dxlink.FeedDataDecoder:
    symbol_map = SymbolMap()
    symbol_map.update(["SPX", "VIX", "VIX261216C00020000", "SPXW261218P05800000"], {}, {})
    decoder = dxlink.FeedDataDecoder(symbol_map.canonical)
    for name in ("feed_config_all.json", "feed_config_quote.json"):
        msg = dxlink.decode_message((RESOURCES / "dxlink" / name).read_bytes())
        assert isinstance(msg, dxlink.FeedConfig)
        decoder.configure(msg)
    return decoder


_DXLINK = _dxlink_decoder()
_REST_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, ValueError, OverflowError)
"""What the DXLink REST client turns into a FeedError (a reconnect with backoff)."""


def dxlink_frame(data: bytes) -> None:
    """A DXLink websocket text frame, and the same bytes as a quote-token REST body."""
    try:
        msg = dxlink.decode_message(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        msg = None  # counted as a bad frame by the feed
    if isinstance(msg, dxlink.FeedConfig):
        _dxlink_decoder().configure(msg)
    elif isinstance(msg, dxlink.FeedData):
        out = _DXLINK.decode(msg, TS_INIT)
        settles = [dxlink._settle_quote(s, TS_INIT, False) for s in out.summaries]
        _venue_quotes(out.quotes + [s for s in settles if s is not None])
    try:
        token = dxlink.parse_quote_token(data, TS_INIT)
    except _REST_ERRORS:
        return
    assert token.expires_ns is None or isinstance(token.expires_ns, int)


def tradier_frame(data: bytes) -> None:
    """A Tradier websocket frame or HTTP stream chunk."""
    _venue_quotes(tradier.parse_frame(data, TS_INIT).quotes)


_CBOE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, ValueError)
"""What the Cboe feed counts as a bad file and retries."""


def cboe_file(data: bytes) -> None:
    """A Cboe delayed-quotes file (options/index) and the VX futures file."""
    try:
        snap = cboe.parse_quotes_file(data, TS_INIT)
    except _CBOE_ERRORS:
        pass
    else:
        assert 0 < snap.as_of_ns <= CEILING
        _venue_quotes(snap.quotes)
    try:
        futures = cboe.parse_futures(data, TS_INIT)
    except _CBOE_ERRORS:
        return
    _venue_quotes(futures)


class _ConfigDir:
    """A folder with a valid portfolio beside the fuzzed config, so the loader goes deep."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="vixmon-fuzz-"))
        (self.dir / "portfolio.toml").write_bytes((ROOT / "config" / "portfolio.toml").read_bytes())
        self.path = self.dir / "vixmon.toml"


_CONFIG: _ConfigDir | None = None


def config_file(data: bytes) -> None:
    """A config file: only ConfigError may come out of the loader (exit 2, no traceback)."""
    global _CONFIG
    if _CONFIG is None:
        _CONFIG = _ConfigDir()
    _CONFIG.path.write_bytes(data)
    try:
        settings.load(_CONFIG.path, environ={})
    except settings.ConfigError as exc:
        assert exc.errors and all(isinstance(e, str) for e in exc.errors)


TARGETS: dict[str, Target] = {
    "quote_json": quote_json,
    "quote_binary": quote_binary,
    "dxlink": dxlink_frame,
    "tradier": tradier_frame,
    "cboe": cboe_file,
    "config": config_file,
}


def seeds(name: str) -> list[Path]:
    """Recorded inputs each target's fuzzing starts from."""
    match name:
        case "dxlink":
            return sorted((RESOURCES / "dxlink").glob("*.json"))
        case "tradier":
            return sorted((RESOURCES / "tradier").glob("*.json*"))
        case "cboe":
            return sorted((RESOURCES / "cboe").glob("*.json"))
        case "config":
            return [ROOT / "config" / "vixmon.toml", *sorted((ROOT / "deploy").rglob("*.toml"))]
        case _:
            return []


def quote_seeds() -> dict[str, list[bytes]]:
    """Seeds for the contract targets, built from the public examples."""
    good = [
        Quote(sym="VIX", bid=17.1, ask=17.2, ts=TS_INIT),
        Quote(sym="SPXW261218P05800000", bid=1.0, ask=1.1, bid_size=5, ask_size=7, ts=TS_INIT),
        Quote(sym="VX261216", last=18.0, ts=TS_INIT, delayed=True),
    ]
    return {
        "quote_json": [msgspec.json.encode(good), msgspec.json.encode(good[0])],
        "quote_binary": [encode_batch(good)],
    }
