"""The quote contract's optional settlement data: ``settle``, ``settle_date``, ``open_interest``."""

from __future__ import annotations

import datetime as dt

import msgspec

from adapters.base import merge_quote
from monitor import quotes
from monitor.model import Quote

TS = 1_795_500_000_000_000_000


def test_json_quotes_may_carry_a_dated_settlement_and_open_interest() -> None:
    raw = b'{"sym":"VX261216","ts":%d,"last":18.85,"settle":18.9055,' \
          b'"settle_date":"2026-11-20","open_interest":172238}' % TS
    _, [q], rejects = quotes.decode_entry({quotes.FIELD_JSON: raw})
    assert not rejects
    assert (q.settle, q.settle_date, q.open_interest) == (18.9055, dt.date(2026, 11, 20), 172238)


def test_binary_batches_carry_it_and_old_eight_field_rows_stay_valid() -> None:
    new = quotes.encode_batch([Quote(sym="VX261216", ts=TS, settle=18.9, open_interest=5,
                                     settle_date=dt.date(2026, 11, 20))])
    old = msgspec.msgpack.encode([["VIX", TS, 17.0, 17.1, None, None, 17.05, False]])
    _, [a], _ = quotes.decode_entry({quotes.FIELD_BINARY: new})
    _, [b], _ = quotes.decode_entry({quotes.FIELD_BINARY: old})
    assert (a.settle, a.settle_date, a.open_interest) == (18.9, dt.date(2026, 11, 20), 5)
    assert (b.bid, b.settle, b.settle_date, b.open_interest) == (17.0, None, None, None)


def test_an_old_json_producer_without_settlement_is_still_valid() -> None:
    _, [q], rejects = quotes.decode_entry({quotes.FIELD_JSON: b'{"sym":"VIX","ts":%d}' % TS})
    assert not rejects and q.settle is None and q.open_interest is None


def test_bad_settlement_data_is_rejected_with_a_reason() -> None:
    for raw, reason in [
        (b'{"sym":"VIX","ts":%d,"settle":-1.0}' % TS, "negative_price"),
        (b'{"sym":"VIX","ts":%d,"open_interest":-3}' % TS, "bad_schema"),
        (b'{"sym":"VIX","ts":%d,"settle_date":"yesterday"}' % TS, "bad_schema"),
    ]:
        _, good, rejects = quotes.decode_entry({quotes.FIELD_JSON: raw})
        assert not good and [r.reason for r in rejects] == [reason], raw


def test_a_settlement_only_update_keeps_the_book_and_the_last_trade() -> None:
    book = Quote(sym="VX261216", ts=TS, bid=18.8, ask=18.9, last=18.85)
    summary = Quote(sym="VX261216", ts=TS + 1, settle=18.9055,
                    settle_date=dt.date(2026, 11, 20), open_interest=9)
    merged = merge_quote(book, summary)
    assert (merged.bid, merged.ask, merged.last) == (18.8, 18.9, 18.85)
    assert (merged.settle, merged.open_interest) == (18.9055, 9)
    later = merge_quote(merged, Quote(sym="VX261216", ts=TS + 2, bid=18.7, ask=18.8))
    assert later.settle == 18.9055 and later.last == 18.85  # kept until a newer one arrives
