"""Benchmark: a broker fill notification -> the engine's book holding the new quantity.

Target (issue #15): the book follows fills live within one second.

Setup, all on this machine and in real time: the in-process tastytrade fake
(``tests/fakes/tastytrade_accounts.py``: OAuth, REST, the account streamer websocket) holding
the demo condor and a VIX call layer; a full ``App`` (embedded Redis, the simulator feed, the
engine, HTTP on a free loopback port) whose config has only an ``[[accounts]]`` section (no
portfolio file). Each of ``--fills`` fills alternately buys and sells one contract of the layer
(``settle_s`` at its default, 50 ms: the window that coalesces a multi-leg fill). Measured per
fill: from just before the fake pushes the notifications (``Order``, ``CurrentPosition``,
``AccountBalance``) to the moment ``Engine.set_portfolio`` receives a book with the new
quantity (the next cycle prices it); fills are spaced ``--gap-s`` apart so none coalesce.

    .venv/bin/python bench/accounts.py [--fills 50] [--gap-s 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake broker lives in tests/fakes

from monitor import settings  # noqa: E402
from monitor.app import App  # noqa: E402
from monitor.logging import configure_logging  # noqa: E402
from monitor.model import Portfolio  # noqa: E402
from tests.fakes.tastytrade_accounts import FakeTastytradeAccounts  # noqa: E402

ACCT = "5WT00001"
LAYER = "VIX270120C00030000"
TARGET_S = 1.0
CONFIG = """\
[redis]
state_dir = "{state}"
[engine]
time_source = "market"
cadence_ms = 100
[http]
port = 0
[[feeds]]
kind = "simulator"
name = "sim"
tick_interval_ms = 100
start = "2026-11-16T14:30:00Z"
[[sinks]]
kind = "log"
name = "log"
{accounts}"""


def layer_quantity(portfolio: Portfolio) -> int:
    return sum(leg.quantity for b in portfolio.books for y in b.layers for leg in y.legs
               if leg.symbol == LAYER)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> int:
    fake = FakeTastytradeAccounts(accounts=(ACCT,))
    await fake.start()
    demo = settings.load().portfolio.books[0]
    for leg in demo.condors[0].legs:
        await fake.fill(ACCT, leg.symbol, leg.quantity, str(leg.entry_price))
    await fake.fill(ACCT, LAYER, 2, "1.10")
    tmp = Path(tempfile.mkdtemp(prefix="vixmon-accounts-bench-"))
    cfg = tmp / "vixmon.toml"
    cfg.write_text(CONFIG.format(state=tmp / "state", accounts=fake.accounts_table(ACCT)))
    os.environ.update(TT_CLIENT_SECRET="secret-good", TT_REFRESH_TOKEN="refresh-good")
    app = App(settings.load(cfg), handle_signals=False, environ={})
    await app.startup()
    engine = app.engine
    assert engine is not None
    reached: dict[int, asyncio.Event] = {}
    seen_at: dict[int, float] = {}
    original = engine.set_portfolio

    def set_portfolio(portfolio: Portfolio) -> None:
        original(portfolio)
        qty = layer_quantity(portfolio)
        seen_at.setdefault(qty, time.perf_counter())
        if qty in reached:
            reached[qty].set()

    engine.set_portfolio = set_portfolio  # type: ignore[method-assign]
    lags: list[float] = []
    ok = True
    try:
        held = 2
        if layer_quantity(engine.portfolio) != held:
            reached[held] = asyncio.Event()
            async with asyncio.timeout(30):  # the account's first snapshot reaches the engine
                await reached[held].wait()
            del reached[held]
        for i in range(args.fills):
            step = 1 if i % 2 == 0 else -1
            held += step
            reached[held] = asyncio.Event()
            seen_at.pop(held, None)
            started = time.perf_counter()
            await fake.fill(ACCT, LAYER, step, "1.20" if step > 0 else "1.30")
            try:
                async with asyncio.timeout(10):
                    await reached[held].wait()
            except TimeoutError:
                print(f"fill {i}: the book never showed {held} contracts")
                ok = False
                break
            lags.append(seen_at[held] - started)
            del reached[held]
            await asyncio.sleep(args.gap_s)  # spacing between fills, not synchronization
    finally:
        await app.shutdown()
        await fake.close()
    if lags:
        med, p99, worst = statistics.median(lags), percentile(lags, 0.99), max(lags)
        print(f"{len(lags)} fills: fill notification -> engine book, median {med * 1e3:.1f} ms, "
              f"p99 {p99 * 1e3:.1f} ms, max {worst * 1e3:.1f} ms (target {TARGET_S:g} s; "
              "includes the 50 ms settle window)")
        ok = ok and worst < TARGET_S
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fills", type=int, default=50)
    parser.add_argument("--gap-s", type=float, default=0.2)
    return parser.parse_args(argv)


if __name__ == "__main__":
    configure_logging(level="error")
    raise SystemExit(asyncio.run(main(parse_args())))
