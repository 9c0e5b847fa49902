"""A market's snapshot (what a full cycle's staged rules read) and marks taken for some rows
(what a partial evaluation reads)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from monitor.market import LAST, MID, NONE, SETTLE, MarketState
from monitor.model import Quote
from monitor.rules import term_structure

S = 1_000_000_000
CALL = "VIX261216C00020000"


def market() -> MarketState:
    m = MarketState(capacity=4)
    m.apply([
        Quote(sym=CALL, bid=1.0, ask=1.1, ts=10 * S),
        Quote(sym="VX261216", last=18.0, ts=10 * S),  # last-only future
        Quote(sym="VX270120", settle=19.0, settle_date=dt.date(2026, 12, 1), ts=5 * S),
        Quote(sym="VIX", last=17.0, ts=10 * S),
        Quote(sym="SPX", bid=0.0, ask=0.0, ts=10 * S),  # 0.0 / 0.0: no quote
    ])  # fmt: skip
    return m


def test_a_snapshot_keeps_the_quotes_and_instruments_it_was_taken_with() -> None:
    m = market()
    snap = m.snapshot()
    row = m.index[CALL]
    m.apply([Quote(sym=CALL, bid=2.0, ask=2.1, last=2.05, ts=11 * S),
             Quote(sym="VIX261216C00030000", bid=0.4, ask=0.5, ts=11 * S)])  # fmt: skip
    assert (float(snap.bid[row]), float(snap.ask[row])) == (1.0, 1.1)
    assert np.isnan(snap.last[row]) and int(snap.ts_ns[row]) == 10 * S
    assert float(m.bid[row]) == 2.0
    assert len(snap) == 5 and "VIX261216C00030000" not in snap.index
    assert len(m) == 6 and m.version == snap.version + 1


def test_snapshots_of_one_version_share_the_instrument_copy_and_caches_hold_for_them() -> None:
    m = market()
    a, b = m.snapshot(), m.snapshot()
    assert a.index is b.index and a.index is not m.index
    assert a.lineage is b.lineage is m.lineage
    curve_rows = [row for row, _ in term_structure._futures(a)]
    assert [row for row, _ in term_structure._futures(m)] == curve_rows  # one cache entry
    m.register("VX270217")
    c = m.snapshot()
    assert c.index is not a.index and "VX270217" in c.index
    assert len(term_structure._futures(c)) == len(curve_rows) + 1


def test_marks_taken_for_some_rows_are_the_full_marks_there_and_none_elsewhere() -> None:
    m = market()
    now = 12 * S
    full = m.marks(now, 60 * S)
    rows = np.array([m.index[CALL], m.index["VX261216"], m.index["VX270120"]], np.int64)
    some = m.marks(now, 60 * S, rows=rows)
    assert some.price.shape == full.price.shape
    np.testing.assert_array_equal(some.price[rows], full.price[rows])
    np.testing.assert_array_equal(some.source[rows], full.source[rows])
    np.testing.assert_array_equal(some.ts_ns[rows], full.ts_ns[rows])
    assert [int(x) for x in full.source[rows]] == [MID, LAST, SETTLE]
    others = np.setdiff1d(np.arange(len(m)), rows)
    assert (some.source[others] == NONE).all() and np.isnan(some.price[others]).all()
    assert full.source[m.index["VIX"]] == LAST  # computed in full, not in the partial one
