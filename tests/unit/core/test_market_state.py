"""The engine's quote arrays: latest per instrument, out-of-order tolerant, growable."""

from __future__ import annotations

import math

from monitor.market import MarketState
from monitor.model import Quote


def test_the_newest_quote_per_symbol_wins_within_a_batch() -> None:
    m = MarketState()
    m.apply([Quote(sym="VIX", last=17.0, ts=2), Quote(sym="VIX", last=16.0, ts=1)])
    assert m.last[m.index["VIX"]] == 17.0


def test_an_older_quote_than_the_one_held_is_ignored() -> None:
    m = MarketState()
    m.apply([Quote(sym="VX261216", bid=18.0, ask=18.1, ts=10)])
    m.apply([Quote(sym="VX261216", bid=1.0, ask=2.0, ts=5)])
    row = m.index["VX261216"]
    assert (m.bid[row], m.ask[row], m.ts_ns[row]) == (18.0, 18.1, 10)


def test_a_missing_side_is_nan_but_a_missing_last_keeps_the_previous_trade() -> None:
    m = MarketState()
    m.apply([Quote(sym="VIX261216C00020000", bid=1.0, ask=1.1, last=1.05, ts=1)])
    m.apply([Quote(sym="VIX261216C00020000", bid=None, ask=1.2, ts=2)])
    row = m.index["VIX261216C00020000"]
    assert math.isnan(m.bid[row]) and m.ask[row] == 1.2 and m.last[row] == 1.05


def test_a_zero_bid_is_a_real_price() -> None:
    m = MarketState()
    m.apply([Quote(sym="VIX261216C00060000", bid=0.0, ask=0.05, ts=1)])
    assert m.bid[m.index["VIX261216C00060000"]] == 0.0


def test_arrays_grow_and_keep_their_contents() -> None:
    m = MarketState(capacity=2)
    quotes = [Quote(sym=f"VIX261216C{k * 1000:08d}", bid=1.0, ask=1.1, ts=1) for k in range(10, 20)]
    m.apply(quotes)
    assert len(m) == 10 and m.version == 10
    bid, ask, _last = m.view()
    assert list(bid) == [1.0] * 10 and list(ask) == [1.1] * 10


def test_latest_event_time_tracks_the_newest_quote() -> None:
    m = MarketState()
    m.apply([Quote(sym="SPX", last=6000.0, ts=7), Quote(sym="VIX", last=17.0, ts=9)])
    assert m.latest_ts_ns == 9


def test_apply_moved_names_the_rows_whose_prices_or_delay_changed_not_a_restamp() -> None:
    m = MarketState()
    a, b = "VIX261216C00020000", "VIX261216C00022000"
    first = m.apply_moved([Quote(sym=a, bid=1.0, ask=1.1, ts=1), Quote(sym=b, bid=2.0, ts=1)])
    assert sorted(first.tolist()) == [m.index[a], m.index[b]]
    assert m.apply_moved([Quote(sym=a, bid=1.0, ask=1.1, ts=2)]).tolist() == []  # re-stamped
    assert m.apply_moved([Quote(sym=b, bid=2.0, ts=3)]).tolist() == []  # NaN ask stays NaN
    assert m.apply_moved([Quote(sym=a, bid=1.0, ask=1.1, last=1.05, ts=4)]).tolist() == [
        m.index[a]
    ]  # a trade
    assert m.apply_moved([Quote(sym=a, bid=1.0, ask=1.1, ts=5)]).tolist() == []  # last kept
    late = Quote(sym=b, bid=2.0, ts=6, delayed=True)
    assert m.apply_moved([late]).tolist() == [m.index[b]]
    assert m.apply_moved([Quote(sym=b, bid=9.0, ts=5)]).tolist() == []  # older: ignored
