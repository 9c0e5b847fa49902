"""docs/alerts.md's worked example: a hedged condor book's break-evens, margin, stress coverage.

A 45-day ~16-delta SPXW iron condor (5550/5650/6325/6425 x 2) hedged by VIX call layers of 4, 4
and 2 contracts (Dec 20, Mar 25, Jun 30 calls), $60,000 cash, entered at the simulator's mids on
2026-11-24. Prints coverage as the put side loses and as the call side loses, then a pop and a
harvest of the short-dated layer: the break-evens with the ledger and without it.

    .venv/bin/python bench/hedged_book.py
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.simulator.market import SimMarket, default_universe  # noqa: E402
from monitor import symbols  # noqa: E402
from monitor.engine import Cycle, Engine  # noqa: E402
from monitor.model import Portfolio  # noqa: E402
from monitor.positions.ledger import Ledger  # noqa: E402
from monitor.settings import Settings  # noqa: E402

S = 1_000_000_000
OPEN_NS = int(dt.datetime(2026, 11, 24, 14, 30, tzinfo=dt.UTC).timestamp()) * S
CONDOR_EXPIRY = dt.date(2027, 1, 8)
VX = [dt.date(2026, 12, 16), dt.date(2027, 3, 17), dt.date(2027, 6, 16)]
CONDOR = [(-1, 5550, 2), (-1, 5650, -2), (1, 6325, -2), (1, 6425, 2)]
LAYERS = [("L1", VX[0], 20, 4), ("L2", VX[1], 25, 4), ("L3", VX[2], 30, 2)]


class Book:
    def __init__(self) -> None:
        self.market = SimMarket(seed=1, start_ns=OPEN_NS, spike_at_ns=None)
        syms = sorted(default_universe(6000.0, VX, [CONDOR_EXPIRY]))
        self.instruments = [symbols.parse(s) for s in syms]
        quotes = {q.sym: q for q in self.market.quotes(self.instruments)}

        def leg(sym: str, qty: int) -> dict[str, object]:
            q = quotes[sym]
            assert q.bid is not None and q.ask is not None
            return {"symbol": sym, "quantity": qty, "entry_price": round((q.bid + q.ask) / 2, 2)}

        condor = [leg(symbols.option_symbol("SPXW", CONDOR_EXPIRY, r, k), q) for r, k, q in CONDOR]
        layers = [
            {"name": n, "legs": [leg(symbols.option_symbol("VIX", e, 1, k), q)]}
            for n, e, k, q in LAYERS
        ]
        doc = {"name": "main", "cash_usd": 60_000.0, "condors": [{"name": "IC", "legs": condor}]}
        self.portfolio = msgspec.convert({"books": [{**doc, "layers": layers}]}, Portfolio)
        self.engine = Engine(msgspec.convert({"portfolio": "p.toml"}, Settings), self.portfolio)
        self.engine.reconcile_ledger(OPEN_NS)

    def at(self, spx: float, vol: float) -> Cycle:
        self.market.now_ns += 5 * S
        self.market.spx, self.market.vol = spx, vol
        self.engine.ingest(self.market.quotes(self.instruments))
        return self.engine.evaluate(self.market.now_ns)


def stress_line(c: Cycle) -> str:
    assert c.rules is not None
    st = c.rules.analysis.stress
    f, w = st.funds, int(st.worst_scenario[0])
    return (
        f"requirement {st.requirement_now_usd[0]:,.0f}  funds {f.total_usd[0]:,.0f} (cash "
        f"{f.cash_usd[0]:,.0f} - short marks {f.short_liability_usd[0]:,.0f} + premium to earn "
        f"{f.premium_to_earn_usd[0]:,.0f})  worst call {st.worst_call_usd[0]:,.0f} at SPX "
        f"{st.spot_shocks[w]:+.1%} vol {st.vol_shifts[w]:+.1f}  coverage {st.coverage[0]:.2f}"
    )


def be_line(c: Cycle) -> str:
    assert c.rules is not None
    be = c.rules.analysis.breakevens
    hedge = 0.0 if be.hedge_usd is None else float(be.hedge_usd[0])
    realized = 0.0 if be.realized_usd is None else float(be.realized_usd[0])
    return (
        f"lower {be.lower[0]:,.2f} ({be.distance_sigma[0, 0]:.3f} sigma)  upper "
        f"{be.upper[0]:,.2f} ({be.distance_sigma[0, 1]:.3f} sigma)  hedge open {hedge:,.0f}"
        f"  realized {realized:,.0f}"
    )


def main() -> None:
    for title, path in [
        ("put side losing", [(6000, 0.14), (5900, 0.17), (5800, 0.20), (5750, 0.22)]),
        ("call side losing", [(6000, 0.14), (6100, 0.13), (6200, 0.12)]),
    ]:
        book = Book()
        print(title)
        for spx, vol in path:
            print(f"  SPX {spx} vol {vol:.2f}: {stress_line(book.at(spx, vol))}")
    book = Book()
    book.at(6000, 0.14)
    popped = book.at(5870, 0.24)
    print("pop (SPX 5870, vol 0.24):  ", be_line(popped))
    print("  ", stress_line(popped))
    b0 = book.portfolio.books[0]
    harvested = msgspec.structs.replace(b0, layers=b0.layers[1:])
    book.engine.set_portfolio(msgspec.structs.replace(book.portfolio, books=[harvested]))
    for e in book.engine.reconcile_ledger(book.market.now_ns):
        print(f"harvest: {e.quantity} x {e.symbol} at {e.exit_price} ({e.source}): "
              f"{e.realized_usd:+,.0f} USD realized")  # fmt: skip
    print("after the harvest:         ", be_line(book.engine.evaluate(book.market.now_ns)))
    book.engine.ledger = Ledger()
    print("without the ledger:        ", be_line(book.engine.evaluate(book.market.now_ns)))


if __name__ == "__main__":
    main()
