"""Ingest throughput: quotes/s from a feed through Redis Streams into the engine's state.

Measured in one run against one embedded Redis:
- raw: pipelined XADD of one small JSON entry each (the server's ceiling for tiny entries);
- end to end: the replay feed's quotes (the shipped sample session, looped) published in batches
  by ``QuoteWriter`` while a ``QuoteConsumer`` reads, decodes, validates, applies them to the
  engine's ``MarketState`` and acks — producer and consumer in one process, concurrently.
Target (issue 2): >= 200,000 quotes/s end to end per process.

    .venv/bin/python bench/ingest.py [--quotes 1000000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from adapters.replay.feed import read_groups
from monitor import bus
from monitor.market import MarketState
from monitor.model import Quote
from monitor.quotes import encode_batch
from monitor.redis_server import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
SESSION = ROOT / "config" / "sample-session.jsonl.gz"


def load_quotes(n: int) -> list[Quote]:
    base = [q for _ts, group, _bad in read_groups(SESSION) for q in group]
    out: list[Quote] = []
    while len(out) < n:
        out.extend(base[: n - len(out)])
    return out


async def raw_xadd(url: str, entries: int, payload: bytes) -> float:
    """Pipelined XADD of ``entries`` copies of a pre-encoded payload; return entries/s."""
    r = bus.connect(url, socket_timeout_s=30)
    t0 = time.perf_counter()
    for start in range(0, entries, 1000):
        async with r.pipeline(transaction=False) as pipe:
            for _ in range(min(1000, entries - start)):
                pipe.xadd("raw:quotes", {"q": payload}, maxlen=1_000_000, approximate=True)
            await pipe.execute()
    dt = time.perf_counter() - t0
    await r.delete("raw:quotes")
    await r.aclose()
    return entries / dt


async def end_to_end(url: str, quotes: list[Quote], batch: int) -> tuple[float, int]:
    r = bus.connect(url, socket_timeout_s=30)
    await r.delete("bench:quotes")
    writer = bus.QuoteWriter(r, prefix="bench", maxlen=10_000_000)
    consumer = bus.QuoteConsumer(
        r,
        prefix="bench",
        group="engine",
        consumer="c1",
        block_ms=100,
        count=64,
        claim_idle_ms=60_000,
        dead_maxlen=1000,
    )
    await consumer.ensure_group()
    market = MarketState()
    done = asyncio.Event()
    applied = 0

    async def produce() -> None:
        for i in range(0, len(quotes), batch):
            await writer.publish("bench", quotes[i : i + batch])

    async def consume() -> None:
        nonlocal applied
        while applied < len(quotes):
            b = await consumer.read()
            market.apply(b.quotes)
            await consumer.ack(b)
            applied += len(b.quotes)
        done.set()

    t0 = time.perf_counter()
    await asyncio.gather(produce(), consume())
    dt = time.perf_counter() - t0
    await r.delete("bench:quotes")
    await r.aclose()
    return len(quotes) / dt, len(market)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quotes", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--raw-entries", type=int, default=200_000)
    args = ap.parse_args()
    quotes = load_quotes(args.quotes)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp))
        await server.start()
        try:
            one = b'{"sym":"VIX","bid":17.1,"ask":17.2,"ts":1795536000000000000}'
            raw = await raw_xadd(server.url, args.raw_entries, one)
            batch_payload = encode_batch(quotes[: args.batch])
            raw_batched = await raw_xadd(server.url, args.raw_entries // 50, batch_payload)
            e2e, instruments = await end_to_end(server.url, quotes, args.batch)
        finally:
            await server.stop()
    ceiling = raw_batched * args.batch
    print(f"raw pipelined XADD, 1 JSON quote/entry:        {raw:12,.0f} quotes/s")
    print(f"raw pipelined XADD, {args.batch} quotes/entry, no reader: {ceiling:12,.0f} quotes/s")
    print(
        f"end to end, write+read+decode+apply+ack:      {e2e:12,.0f} quotes/s "
        f"({len(quotes):,} quotes, {instruments} instruments)"
    )
    print(
        f"end to end / raw batched XADD = {e2e / ceiling:.2f}; end to end / raw 1-quote XADD = "
        f"{e2e / raw:.1f}x; target: >= 200,000 quotes/s end to end"
    )

if __name__ == "__main__":
    asyncio.run(main())
