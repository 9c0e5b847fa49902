"""Benchmark: a full engine cycle vs a partial evaluation after one changed leg of one book.

The portfolio and market are ``bench/rules.py``'s: 1,000 books x 20 legs on the simulator's demo
universe after a volatility shock. Each round is one full cycle (``Engine.evaluate``, 250 ms of
market time after the last) on alternating quote snapshots, then ``--partials`` quotes 50 ms
apart, each moving one leg of a book drawn at random (its bid and ask up a tick), each followed
by ``Engine.evaluate_books`` of that book, as ``EngineLoop`` does between cadence ticks. Timed:
the engine call and the alert machine's step on its signals. Medians, 95th percentiles, maxima
and the ratio of the medians.

    .venv/bin/python bench/incremental.py [--books 1000] [--rounds 30] [--partials 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import rules as bench_rules  # noqa: E402

from monitor.alerts import AlertMachine  # noqa: E402
from monitor.engine import Engine  # noqa: E402
from monitor.model import Quote  # noqa: E402
from monitor.settings import Settings, load_events  # noqa: E402

S = bench_rules.S
TICK = 0.05


def moved(engine: Engine, symbol: str, ts_ns: int) -> Quote:
    """Return a quote of ``symbol`` a tick above the one the engine holds."""
    row = engine.market.index[symbol]
    bid, ask = float(engine.market.bid[row]), float(engine.market.ask[row])
    return Quote(sym=symbol, bid=round(bid + TICK, 2), ask=round(ask + TICK, 2), ts=ts_ns)


def line(name: str, xs: list[float]) -> str:
    return (f"{name:44s} median {statistics.median(xs):6.2f} ms   "
            f"p95 {bench_rules.pct(xs, 0.95):6.2f} ms   max {max(xs):6.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--books", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--partials", type=int, default=3)
    args = ap.parse_args()
    portfolio = bench_rules.portfolio(args.books)
    settings = msgspec.convert({"portfolio": "bench"}, Settings)
    events = load_events(ROOT / "config" / "events.toml")
    engine = Engine(settings, portfolio, events=events)
    snaps = bench_rules.snapshots(bench_rules.universe())
    machine = AlertMachine(cooldown_s=60, repeat_interval_s=3600)
    now = bench_rules.OPEN_NS + 10 * S
    warm = Engine(settings, bench_rules.portfolio(1))  # compiles the kernels outside the timings
    warm.ingest(snaps[0])
    warm.evaluate(now)
    engine.ingest(snaps[0])
    machine.step(engine.evaluate(now).signals, now)
    for i in range(3):  # warm-up: sparse emission from here on
        engine.ingest(snaps[i % 2])
        machine.step(engine.evaluate(now := now + S // 4).signals, now)
    rng = np.random.default_rng(11)
    full_ms, full_step_ms, part_ms, part_step_ms, part_signals = [], [], [], [], []
    for i in range(args.rounds):
        engine.ingest(snaps[i % 2])
        now += S // 4
        t0 = time.perf_counter()
        cycle = engine.evaluate(now)
        t1 = time.perf_counter()
        machine.step(cycle.signals, now)
        full_ms.append((t1 - t0) * 1e3)
        full_step_ms.append((time.perf_counter() - t1) * 1e3)
        for j in range(args.partials):
            b = portfolio.books[int(rng.integers(len(portfolio.books)))]
            legs = [leg for s in (*b.condors, *b.layers) for leg in s.legs]
            leg = legs[int(rng.integers(len(legs)))]
            at = now + (j + 1) * S // 20
            engine.ingest([moved(engine, leg.symbol, at)])
            t0 = time.perf_counter()
            part = engine.evaluate_books({b.name}, at)
            t1 = time.perf_counter()
            machine.step(part.signals, at)
            part_ms.append((t1 - t0) * 1e3)
            part_step_ms.append((time.perf_counter() - t1) * 1e3)
            part_signals.append(len(part.signals))
    legs_n = sum(len(s.legs) for b in portfolio.books for s in (*b.condors, *b.layers))
    print(f"{args.books} books, {legs_n} legs, {len(engine.market)} instruments; "
          f"{args.rounds} full cycles, {len(part_ms)} partial evaluations of one book "
          f"({statistics.median(part_signals):.0f} signals each)")
    print(line("full cycle (Engine.evaluate)", full_ms))
    print(line("  alert machine step on its signals", full_step_ms))
    print(line("one changed leg (Engine.evaluate_books)", part_ms))
    print(line("  alert machine step on its signals", part_step_ms))
    ratio = statistics.median(part_ms) / statistics.median(full_ms)
    total = (statistics.median(part_ms) + statistics.median(part_step_ms)) / (
        statistics.median(full_ms) + statistics.median(full_step_ms))
    print(f"partial / full, medians: engine {ratio:.2f}, engine + alert step {total:.2f}")


if __name__ == "__main__":
    main()
