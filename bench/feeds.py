"""Venue decode throughput: bytes off the wire to canonical quotes, per venue, one core.

- DXLink: COMPACT FEED_DATA messages (``--events`` Quote events each, Java-style numbers, NaN
  sizes), decoded with the server's field order: ``decode_message`` + ``FeedDataDecoder``.
- Tradier: stream lines, quotes (numbers) and trades (strings) alternating: ``parse_frame``.
- Cboe: the full-size ``_SPX.json`` (30,000 contracts, ~14 MB), every contract kept (the
  worst case; the adapter keeps only subscribed ones). Target: <= 1 s and <= 200 MB peak
  (tracemalloc peak while reading the file and parsing it, the body included).

    .venv/bin/python bench/feeds.py [--messages 10000] [--events 50] [--lines 200000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fakes' encoders (tests/fakes) build the payloads

from adapters.cboe import parsing as cboe  # noqa: E402
from adapters.dxlink import parsing as dxlink  # noqa: E402
from adapters.tradier import parsing as tradier  # noqa: E402
from tests.fakes.cboe import spx_file  # noqa: E402
from tests.fakes.dxlink import compact_data  # noqa: E402

TS_INIT = 1_795_500_000_000_000_000
QUOTE_FIELDS = ["eventType", *dxlink.NEEDED["Quote"]]


def _symbols(n: int) -> list[tuple[str, str]]:
    """(streamer, canonical) pairs for ``n`` SPXW puts."""
    return [(f".SPXW261218P{4000 + 5 * i}", f"SPXW261218P{(4000 + 5 * i) * 1000:08d}")
            for i in range(n)]


def dxlink_messages(count: int, events: int) -> tuple[list[bytes], dict[str, str]]:
    pairs = _symbols(2000)
    messages = []
    for m in range(count):
        rows = []
        for e in range(events):
            streamer, _ = pairs[(m * events + e) % len(pairs)]
            bid = 1.0 + (m + e) % 400 * 0.05
            size = float("nan") if e % 17 == 0 else float(10 + e)
            rows.append(["Quote", streamer, 0, 0, 0, bid, bid + 0.1, size, 1.5e7])
        data = compact_data([("Quote", rows)])
        messages.append(f'{{"type":"FEED_DATA","channel":1,"data":{data}}}'.encode())
    return messages, dict(pairs)


def bench_dxlink(count: int, events: int) -> tuple[float, float]:
    messages, to_canonical = dxlink_messages(count, events)
    decoder = dxlink.FeedDataDecoder(to_canonical.get)
    decoder.configure(dxlink.FeedConfig(channel=1, event_fields={"Quote": QUOTE_FIELDS}))
    quotes = 0
    started = time.perf_counter()
    for raw in messages:
        msg = dxlink.decode_message(raw)
        assert isinstance(msg, dxlink.FeedData)
        quotes += len(decoder.decode(msg, TS_INIT).quotes)
    elapsed = time.perf_counter() - started
    assert quotes == count * events
    return count / elapsed, quotes / elapsed


def tradier_lines(count: int) -> list[bytes]:
    pairs = _symbols(2000)
    lines = []
    for i in range(count):
        _, sym = pairs[i % len(pairs)]
        price = 1.0 + i % 400 * 0.05
        if i % 2:
            event = {"type": "trade", "symbol": sym, "exch": "C", "price": f"{price:.2f}",
                     "size": "3", "cvol": "1520", "date": "1797000001000", "last": f"{price:.2f}"}
        else:
            event = {"type": "quote", "symbol": sym, "bid": price, "bidsz": 12, "bidexch": "C",
                     "biddate": "1797000000000", "ask": price + 0.1, "asksz": 8, "askexch": "C",
                     "askdate": "1797000000123"}
        lines.append(msgspec.json.encode(event) + b"\n")
    return lines


def bench_tradier(count: int) -> tuple[float, float]:
    lines = tradier_lines(count)
    quotes = 0
    started = time.perf_counter()
    for line in lines:
        quotes += len(tradier.parse_frame(line, TS_INIT).quotes)
    elapsed = time.perf_counter() - started
    assert quotes == count
    return count / elapsed, quotes / elapsed


def bench_cboe() -> tuple[float, float, int, float]:
    """Return (parse s, peak MB, contracts, file MB) for the 30k-contract file."""
    body = spx_file(30_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "_SPX.json"
        path.write_bytes(body)
        del body
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            snap = cboe.parse_quotes_file(path.read_bytes(), TS_INIT)
            best = min(best, time.perf_counter() - started)
        tracemalloc.start()
        snap = cboe.parse_quotes_file(path.read_bytes(), TS_INIT)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size_mb = path.stat().st_size / 1e6
    return best, peak / 1e6, len(snap.quotes), size_mb


def _row(name: str, fn: Callable[[], tuple[float, float]]) -> None:
    messages_s, quotes_s = fn()
    print(f"{name:<34} {messages_s:>14,.0f} msg/s {quotes_s:>14,.0f} quotes/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=50)
    ap.add_argument("--lines", type=int, default=200_000)
    args = ap.parse_args()
    _row(f"dxlink COMPACT FEED_DATA x{args.events}", lambda: bench_dxlink(args.messages,
                                                                           args.events))
    _row("dxlink COMPACT FEED_DATA x1", lambda: bench_dxlink(args.messages, 1))
    _row("tradier stream lines", lambda: bench_tradier(args.lines))
    seconds, peak_mb, contracts, size_mb = bench_cboe()
    print(f"{'cboe _SPX.json':<34} {size_mb:>9.1f} MB file  {contracts:>6,} quotes  "
          f"parse {seconds:.3f} s ({contracts / seconds:,.0f} quotes/s)  peak {peak_mb:.0f} MB")
    ok = seconds <= 1.0 and peak_mb <= 200
    print(f"cboe target (<= 1 s, <= 200 MB): {'met' if ok else 'MISSED'}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
