"""Record the demo session from the simulator: 30 minutes of 2026-11-16 from 09:30 ET.

The story the demo tells (config/portfolio.toml, README "Two commands"):

- 09:30-09:42 ET, calm: VIX about 15, the ~15-delta 45-DTE condor well inside its break-evens,
  nothing fires.
- 09:42 ET, the shock: SPX gaps down, volatility jumps; the short-dated VIX call layer (L1-DEC)
  pops through its first harvest threshold (150%) and the roll advisory comes with it.
- 09:46 ET, the shock extends: the layer crosses 200%; the put side and the VX curve now
  warrant attention too.

One JSON array of quotes per line, one line per 5-second snapshot, only quotes that changed since
the previous snapshot (plus a full refresh every 5 minutes, as real feeds resend). Every date
comes from the project's calendar (``monitor.pricing.calendar``): the session day is a business
day and the VX curve holds the monthly VIX expiries that follow it. Deterministic: same seed,
same bytes on the same machine.

    .venv/bin/python scripts/make_sample_session.py [--out monitor/data/sample-session.jsonl.gz]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import io
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from adapters.simulator.market import SimMarket, default_universe
from monitor import settings, symbols
from monitor.model import Quote
from monitor.pricing import calendar

START = dt.datetime(2026, 11, 16, 9, 30, tzinfo=ZoneInfo("America/New_York"))
VX_MONTHS = 8  # the term-structure rule's default curve_months
STEP_S = 5.0
DURATION_S = 30 * 60
FULL_REFRESH_EVERY = 60  # snapshots


@dataclass(frozen=True, slots=True)
class Shock:
    after_s: int
    spx_gap: float
    vol_mult: float


# two legs so the layer crosses 150% and 200% minutes apart, as a spike that builds does
SHOCKS = (
    Shock(after_s=12 * 60, spx_gap=-0.016, vol_mult=1.30),
    Shock(after_s=16 * 60, spx_gap=-0.004, vol_mult=1.06),
)


def vx_expiries(after: dt.date, months: int = VX_MONTHS) -> list[dt.date]:
    """Return the next ``months`` monthly VIX expiries (final settlement dates) after ``after``."""
    out: list[dt.date] = []
    year, month = after.year, after.month
    while len(out) < months:
        expiry = calendar.vix_monthly_expiry(year, month)
        if expiry > after:
            out.append(expiry)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000


def _portfolio_legs(path: Path) -> set[str]:
    portfolio = settings.load_portfolio(path)
    legs = {leg.symbol for b in portfolio.books for c in b.condors for leg in c.legs}
    return legs | {leg.symbol for b in portfolio.books for y in b.layers for leg in y.legs}


def _arm(market: SimMarket, start_ns: int, shock: Shock) -> None:
    market.p.spike_spx_gap = shock.spx_gap
    market.p.spike_vol_mult = shock.vol_mult
    market.spike_at_ns = start_ns + shock.after_s * 1_000_000_000


def record(out: Path, portfolio: Path, seed: int = 11) -> int:
    """Write the session to ``out``; return the number of quotes written."""
    if not calendar.is_business_day(START.date()):
        raise SystemExit(f"{START.date()} is not an exchange business day")
    legs = _portfolio_legs(portfolio)
    start_ns = _ns(START)
    market = SimMarket(seed, start_ns, None)
    pending = list(SHOCKS)
    spx_exp = sorted(
        {e for s in legs if s.startswith("SPX") and (e := symbols.parse(s).expiry) is not None}
    )
    vx = vx_expiries(START.date())
    universe = sorted(set(default_universe(market.spx, vx, spx_exp)) | legs)
    instruments = [symbols.parse(s) for s in universe]
    last: dict[str, tuple[float | None, float | None, float | None]] = {}
    buf = io.BytesIO()
    enc = msgspec.json.Encoder()
    count = 0
    for i in range(int(DURATION_S / STEP_S) + 1):
        if i:
            for _ in range(int(STEP_S)):
                if market.spike_at_ns is None and pending:
                    _arm(market, start_ns, pending.pop(0))
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
    ap.add_argument("--out", type=Path, default=settings.DATA_DIR / "sample-session.jsonl.gz")
    ap.add_argument("--portfolio", type=Path, default=settings.DATA_DIR / "portfolio.toml")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    n = record(args.out, args.portfolio, args.seed)
    print(f"wrote {n} quotes to {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
