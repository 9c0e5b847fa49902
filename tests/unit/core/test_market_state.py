"""The engine's quote arrays: latest per instrument, out-of-order tolerant, growable."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

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


# The batch semantics as a scalar model: per symbol the batch's newest quote (ties: the later
# one) is applied unless it is older than the one held; the moved rows come in the order the
# batch first names their symbols.

_SYMS = ("VIX", "SPX", "VX261216", "VX270120", "VIX261216C00020000", "VIX261216P00018000")
_EPOCH = dt.date(1970, 1, 1)


@dataclasses.dataclass
class Held:
    """One row of the model, with MarketState's array names."""

    bid: float = math.nan
    ask: float = math.nan
    last: float = math.nan
    ts_ns: int = 0
    delayed: bool = False
    last_ts_ns: int = 0
    settle: float = math.nan
    settle_ts_ns: int = 0
    settle_day: int = 0
    open_interest: float = math.nan


_FIELDS = tuple(f.name for f in dataclasses.fields(Held))


def _same(a: object, b: object) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


def _newest(batch: list[Quote]) -> dict[str, Quote]:
    newest: dict[str, Quote] = {}
    for q in batch:
        if q.sym not in newest or q.ts >= newest[q.sym].ts:
            newest[q.sym] = q
    return newest


def _reference_apply(held: dict[str, Held], batch: list[Quote]) -> list[str]:
    """Apply ``batch`` to ``held`` one winning quote at a time; return the moved symbols."""
    moved = []
    for sym, q in _newest(batch).items():
        h = held.setdefault(sym, Held())
        if q.ts < h.ts_ns:
            continue
        bid = math.nan if q.bid is None else q.bid
        ask = math.nan if q.ask is None else q.ask
        last = h.last if q.last is None else q.last
        prices_same = _same(h.bid, bid) and _same(h.ask, ask) and _same(h.last, last)
        if not prices_same or h.delayed != q.delayed:
            moved.append(sym)
        h.bid, h.ask, h.last, h.ts_ns, h.delayed = bid, ask, last, q.ts, q.delayed
        if q.last is not None:
            h.last_ts_ns = q.ts
        if q.settle is not None:
            h.settle, h.settle_ts_ns = q.settle, q.ts
            h.settle_day = 0 if q.settle_date is None else (q.settle_date - _EPOCH).days
        if q.open_interest is not None:
            h.open_interest = float(q.open_interest)
    return moved


def _rows_of(m: MarketState) -> dict[str, Held]:
    return {
        sym: Held(**{f: getattr(m, f)[row].item() for f in _FIELDS}) for sym, row in m.index.items()
    }


def _assert_same(got: dict[str, Held], want: dict[str, Held]) -> None:
    assert list(got) == list(want)  # registered in the order first named
    for sym in want:
        for f in _FIELDS:
            a, b = getattr(got[sym], f), getattr(want[sym], f)
            assert _same(a, b), (sym, f, a, b)


_price = st.one_of(st.none(), st.sampled_from([0.0, 0.05, 1.0, 1.05, 17.5]))
_quote = st.builds(
    Quote,
    sym=st.sampled_from(_SYMS),
    ts=st.integers(1, 6),  # few values: ties and quotes older than the held one are common
    bid=_price,
    ask=_price,
    last=_price,
    delayed=st.booleans(),
    settle=st.one_of(st.none(), st.sampled_from([0.0, 18.25])),
    settle_date=st.one_of(st.none(), st.just(dt.date(2026, 11, 20))),
    open_interest=st.one_of(st.none(), st.integers(0, 10**6)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_quote, max_size=10), min_size=1, max_size=5))
def test_batches_with_and_without_repeated_symbols_match_the_scalar_model(
    batches: list[list[Quote]],
) -> None:
    m = MarketState(capacity=2)  # small, so registering grows the arrays mid-batch
    held: dict[str, Held] = {}
    for batch in batches:
        moved = m.apply_moved(batch)
        assert [m.instruments[r].symbol for r in moved.tolist()] == _reference_apply(held, batch)
        _assert_same(_rows_of(m), held)
        assert list(m.index.values()) == list(range(len(held))) and m.version == len(held)
        assert m.latest_ts_ns == max((h.ts_ns for h in held.values()), default=0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(_quote, max_size=6, unique_by=lambda q: q.sym), min_size=1, max_size=4),
    st.randoms(use_true_random=False),
)
def test_older_repeats_of_a_batchs_symbols_change_nothing(
    batches: list[list[Quote]], rng: random.Random
) -> None:
    """A batch of distinct symbols (the fast path) and the same batch followed by older copies
    of its quotes (the repeated-symbol path) apply alike and name the same moved rows."""
    plain, repeated = MarketState(), MarketState()
    for batch in batches:
        older = [msgspec.structs.replace(q, ts=q.ts - 1, last=rng.random()) for q in batch]
        rng.shuffle(older)
        moved = plain.apply_moved(batch)
        assert repeated.apply_moved(batch + older).tolist() == moved.tolist()
        _assert_same(_rows_of(repeated), _rows_of(plain))
        assert repeated.version == plain.version


def test_a_tie_in_time_goes_to_the_later_quote_of_the_batch() -> None:
    m = MarketState()
    m.apply([Quote(sym="VIX", last=17.0, ts=2), Quote(sym="VIX", last=16.0, ts=2)])
    assert m.last[m.index["VIX"]] == 16.0


def test_a_batchs_older_quote_of_a_symbol_leaves_no_trade_behind() -> None:
    m = MarketState()
    m.apply([Quote(sym="VIX", last=17.0, ts=1), Quote(sym="VIX", bid=16.9, ask=17.1, ts=2)])
    row = m.index["VIX"]
    assert math.isnan(m.last[row]) and m.last_ts_ns[row] == 0


def test_settlement_and_open_interest_persist_until_a_quote_carries_new_ones() -> None:
    m = MarketState()
    day = dt.date(2026, 11, 20)
    m.apply([Quote(sym="VX261216", ts=1, settle=18.5, settle_date=day, open_interest=900)])
    m.apply([Quote(sym="VX261216", ts=2, bid=18.6, ask=18.7)])
    row = m.index["VX261216"]
    assert (m.settle[row], m.settle_ts_ns[row], m.open_interest[row]) == (18.5, 1, 900.0)
    assert m.settle_date(row) == day


def test_a_delayed_flag_alone_moves_a_row() -> None:
    m = MarketState()
    m.apply([Quote(sym="VIX", bid=16.9, ask=17.1, ts=1)])
    moved = m.apply_moved([Quote(sym="VIX", bid=16.9, ask=17.1, ts=2, delayed=True)])
    assert moved.tolist() == [m.index["VIX"]]
