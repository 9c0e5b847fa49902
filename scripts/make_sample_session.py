"""Record the demo session from the simulator: 30 minutes of 2026-11-24 from 09:30 ET.

A calm stretch, then at 09:42 ET a shock (SPX gaps down, volatility jumps) that makes the
short-dated VIX call layer of config/portfolio.toml pop. One JSON array of quotes per line, one
line per 5-second snapshot, only quotes that changed since the previous snapshot (plus a full
refresh every 5 minutes, as real feeds resend). Deterministic: same seed, same bytes.

    .venv/bin/python scripts/make_sample_session.py [--out config/sample-session.jsonl.gz]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from adapters.simulator.market import SimMarket, default_universe
from monitor import settings, symbols
from monitor.model import Quote

ROOT = Path(__file__).resolve().parent.parent
START = dt.datetime(2026, 11, 24, 9, 30, tzinfo=ZoneInfo("America/New_York"))
VX_EXPIRIES = [
    dt.date(2026, 12, 16),
    dt.date(2027, 1, 20),
    dt.date(2027, 2, 17),
    dt.date(2027, 3, 17),
    dt.date(2027, 4, 21),
    dt.date(2027, 5, 19),
    dt.date(2027, 6, 16),
]
STEP_S = 5.0
DURATION_S = 30 * 60
SPIKE_AFTER_S = 12 * 60
FULL_REFRESH_EVERY = 60  # snapshots


def _ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000


def record(out: Path, seed: int = 11) -> int:
    portfolio = settings.load_portfolio(ROOT / "config" / "portfolio.toml")
    legs = {leg.symbol for b in portfolio.books for c in b.condors for leg in c.legs}
    legs |= {leg.symbol for b in portfolio.books for y in b.layers for leg in y.legs}
    start_ns = _ns(START)
    market = SimMarket(seed, start_ns, start_ns + SPIKE_AFTER_S * 1_000_000_000)
    spx_exp = sorted({symbols.parse(s).expiry for s in legs if s.startswith("SPX")} - {None})
    universe = sorted(set(default_universe(market.spx, VX_EXPIRIES, spx_exp)) | legs)
    instruments = [symbols.parse(s) for s in universe]
    last: dict[str, tuple[float | None, float | None, float | None]] = {}
    buf = io.BytesIO()
    enc = msgspec.json.Encoder()
    count = 0
    for i in range(int(DURATION_S / STEP_S) + 1):
        if i:
            for _ in range(int(STEP_S)):
                market.step(1.0)
        changed: list[Quote] = []
        for q in market.quotes(instruments):
            key = (q.bid, q.ask, q.last)
            if i % FULL_REFRESH_EVERY == 0 or last.get(q.sym) != key:
                changed.append(q)
                last[q.sym] = key
        if changed:
            buf.write(enc.encode(changed) + b"\n")
            count += len(changed)
    out.write_bytes(gzip.compress(buf.getvalue(), compresslevel=9, mtime=0))
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "config" / "sample-session.jsonl.gz")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    n = record(args.out, args.seed)
    print(f"wrote {n} quotes to {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
