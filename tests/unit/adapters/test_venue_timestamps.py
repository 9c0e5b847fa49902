"""Every venue parser checks an event time where it enters: none from the future (beyond the
skew) or outside int64 ever leaves an adapter, and a feed's buffer never jams on one."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from adapters.base import FeedStats, QuoteBuffer
from adapters.cboe import parsing as cboe
from adapters.dxlink import parsing as dxlink
from adapters.dxlink.symbols import SymbolMap
from adapters.tradier import parsing as tradier
from monitor.model import Quote
from monitor.quotes import encode_batch

NS = 1_000_000_000
TS_INIT = 1_795_500_000 * NS
RESOURCES = Path(__file__).resolve().parents[2] / "resources"

TRADE_CONFIG = json.dumps({
    "type": "FEED_CONFIG", "channel": 1, "dataFormat": "COMPACT",
    "eventFields": {"Trade": ["eventType", "eventSymbol", "eventTime", "time", "price", "size"]},
})


def dxlink_trades(*times: float) -> list[Quote]:
    symbol_map = SymbolMap()
    symbol_map.update(["SPX"], {}, {})
    decoder = dxlink.FeedDataDecoder(symbol_map.canonical)
    cfg = dxlink.decode_message(TRADE_CONFIG)
    assert isinstance(cfg, dxlink.FeedConfig)
    decoder.configure(cfg)
    values: list[object] = []
    for t in times:
        values += ["Trade", "SPX", 0, t, 6000.0, 1]
    msg = dxlink.decode_message(json.dumps(
        {"type": "FEED_DATA", "channel": 1, "data": ["Trade", values]}))
    assert isinstance(msg, dxlink.FeedData)
    return decoder.decode(msg, TS_INIT).quotes


def test_dxlink_drops_a_trade_stamped_after_its_receipt() -> None:
    ok_ms = TS_INIT // 1_000_000 - 1_000
    quotes = dxlink_trades(1e13, ok_ms, 1e300)
    assert [q.ts for q in quotes] == [ok_ms * 1_000_000]


def test_tradier_drops_a_trade_stamped_in_the_year_2286() -> None:
    line = '{"type":"trade","symbol":"SPX","price":"6000","date":"10000000000000"}'
    good = f'{{"type":"trade","symbol":"SPX","price":"6000","date":"{TS_INIT // 10**6}"}}'
    out = tradier.parse_frame(line + "\n" + good, TS_INIT)
    assert [q.ts for q in out.quotes] == [TS_INIT // 10**6 * 10**6]
    assert out.bad == 1


def test_cboe_dates_a_file_from_the_future_by_its_receipt() -> None:
    data = json.loads((RESOURCES / "cboe" / "quotes_VIX9D.json").read_bytes())
    data["data"]["last_trade_time"] = "2300-01-01T00:00:00"
    data["timestamp"] = "2300-01-01 00:00:00"
    snap = cboe.parse_quotes_file(json.dumps(data).encode(), TS_INIT)
    assert snap.as_of_ns == TS_INIT
    assert all(q.ts == TS_INIT for q in snap.quotes)


def test_dxlink_quote_token_with_a_bad_expiry_is_a_value_error() -> None:
    body = b'{"data":{"token":"t","dxlink-url":"wss://x","level":"api","expires-at":"x"}}'
    with pytest.raises(ValueError, match="expires-at"):
        dxlink.parse_quote_token(body, TS_INIT)


def test_dxlink_quote_token_with_a_good_expiry_is_read() -> None:
    body = (b'{"data":{"token":"t","dxlink-url":"wss://x","level":"api",'
            b'"expires-at":"2026-11-25T00:00:00.000Z"}}')
    token = dxlink.parse_quote_token(body, TS_INIT)
    expected = dt.datetime(2026, 11, 25, tzinfo=dt.UTC).timestamp()
    assert token.expires_ns == int(expected) * NS


class JammedSink:
    """A sink that, like the Redis writer, cannot encode a ts above 2^64."""

    def __init__(self) -> None:
        self.published: list[Quote] = []
        self.got = asyncio.Event()

    async def publish(self, feed: str, quotes: Sequence[Quote]) -> None:
        encode_batch(quotes)
        self.published.extend(quotes)
        self.got.set()


def test_a_buffer_refuses_a_quote_whose_ts_no_entry_can_carry() -> None:
    stats = FeedStats()
    buf = QuoteBuffer(stats)
    buf.put([Quote(sym="VIX", ts=2**64, last=1.0), Quote(sym="SPX", ts=TS_INIT, last=1.0)])
    assert [q.sym for q in buf.take()] == ["SPX"]
    assert stats.dropped == 1


async def test_a_quote_the_sink_cannot_encode_is_dropped_not_requeued_forever() -> None:
    stats = FeedStats()
    buf = QuoteBuffer(stats)
    sink = JammedSink()
    # bypass put()'s own check, as a future bug in a merge might
    buf._pending = {"VIX": Quote(sym="VIX", ts=2**65), "SPX": Quote(sym="SPX", ts=TS_INIT)}
    buf._wakeup.set()
    task = asyncio.create_task(buf.drain_to("t", sink, retry_s=3600))
    await asyncio.wait_for(sink.got.wait(), 10)
    task.cancel()
    assert [q.sym for q in sink.published] == ["SPX"]
    assert stats.dropped == 1 and stats.publish_errors == 1
