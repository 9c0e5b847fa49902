"""The quote stream contract: what is accepted and why anything is rejected."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import Quote, QuoteLike
from monitor.quotes import (
    REJECT_REASONS,
    TS_MAX_NS,
    QuoteRow,
    decode_entry,
    encode_batch,
    encode_json,
)

TS = 1_795_000_000_000_000_000


def _one(payload: bytes) -> tuple[list[Quote], list[str]]:
    _feed, quotes, rejects = decode_entry({b"q": payload})
    return quotes, [r.reason for r in rejects]


def test_a_single_json_object_is_one_quote() -> None:
    quotes, reasons = _one(b'{"sym":"VIX","bid":17.1,"ask":17.2,"ts":%d}' % TS)
    assert reasons == []
    assert quotes == [Quote(sym="VIX", bid=17.1, ask=17.2, ts=TS)]


def test_a_json_array_yields_every_valid_quote_and_rejects_the_rest() -> None:
    payload = msgspec.json.encode(
        [
            {"sym": "SPX", "last": 6000.5, "ts": TS},
            {"sym": "VIX261216C00020000", "bid": 2.0, "ask": 1.0, "ts": TS},
            {"sym": "VX261216", "bid": 18.0, "ask": 18.05, "ts": TS},
        ]
    )
    quotes, reasons = _one(payload)
    assert [q.sym for q in quotes] == ["SPX", "VX261216"]
    assert reasons == ["crossed"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "bad_json"),
        (b'{"sym":"VIX","bid":NaN,"ts":1}', "non_finite"),
        (b'{"sym":"VIX","bid":Infinity,"ts":1}', "non_finite"),
        (b'{"sym":"VIX","bid":1e999,"ts":1}', "non_finite"),
        (b'{"sym":"VIX","bid":-0.05,"ts":1}', "negative_price"),
        (b'{"sym":"VIX","bid":17.3,"ask":17.2,"ts":1}', "crossed"),
        (b'{"sym":"VIX","bid":17.1,"ask":17.2}', "missing_ts"),
        (b'{"sym":"VIX","bid":17.1,"ts":0}', "missing_ts"),
        (b'{"sym":"SPY","bid":1.0,"ts":1}', "unknown_symbol"),
        (b'{"sym":"SPX   261218P05800000","bid":1.0,"ts":1}', "unknown_symbol"),
        (b'{"sym":"VIX","bid":"17.1","ts":1}', "bad_schema"),
    ],
)
def test_each_invalid_quote_is_rejected_with_its_reason(payload: bytes, reason: str) -> None:
    quotes, reasons = _one(payload)
    assert quotes == []
    assert reasons == [reason]
    assert reason in REJECT_REASONS


def test_an_entry_without_q_or_b_is_rejected_as_empty() -> None:
    _feed, quotes, rejects = decode_entry({b"x": b"1"})
    assert quotes == [] and [r.reason for r in rejects] == ["empty_entry"]


def test_binary_batches_round_trip_with_their_feed_name() -> None:
    batch = [
        Quote(sym="SPXW261218P05800000", bid=10.1, ask=10.4, bid_size=5, ask_size=7, ts=TS),
        Quote(sym="VIX", last=17.25, ts=TS + 1, delayed=True),
    ]
    feed, quotes, rejects = decode_entry({b"b": encode_batch(batch), b"f": b"dxlink"})
    assert (feed, rejects) == ("dxlink", [])
    assert [fields(q) for q in quotes] == [fields(q) for q in batch]


def fields(q: QuoteLike) -> tuple[object, ...]:
    return (q.sym, q.ts, q.bid, q.ask, q.last, q.delayed)


def test_one_bad_binary_row_rejects_only_that_row() -> None:
    batch = [
        Quote(sym="VIX", bid=-1.0, ts=TS),
        Quote(sym="VIX", bid=1.0, ts=TS),
        Quote(sym="VIX", bid=2.0, ask=1.0, ts=TS),
        Quote(sym="NOPE", bid=1.0, ts=TS),
        Quote(sym="VIX", bid=float("inf"), ts=TS),
    ]
    _feed, quotes, rejects = decode_entry({b"b": encode_batch(batch)})
    assert [fields(q) for q in quotes] == [fields(batch[1])]
    assert [r.reason for r in rejects] == [
        "negative_price",
        "crossed",
        "unknown_symbol",
        "non_finite",
    ]


def test_binary_rows_are_validated_like_json_ones() -> None:
    batch = [Quote(sym="VIX", bid=float("nan"), ts=TS), Quote(sym="VIX", bid=1.0, ts=TS)]
    _feed, quotes, rejects = decode_entry({b"b": encode_batch(batch)})
    assert len(quotes) == 1 and [r.reason for r in rejects] == ["non_finite"]


def test_json_encoding_is_the_public_form() -> None:
    q = Quote(sym="VIX", bid=17.1, ask=17.2, ts=TS)
    assert msgspec.json.decode(encode_json([q])) == [
        {"sym": "VIX", "ts": TS, "bid": 17.1, "ask": 17.2}
    ]


# A binary batch judged row by row, as the contract states it: a ``ts`` after the bound is
# ``future_ts``, else a bid above the ask ``crossed``, else a symbol that does not parse
# ``unknown_symbol``; each reject carries the row as JSON, the rest are accepted in order.

_BOUND = TS + 10


def _verdict(r: QuoteRow) -> str | None:
    if r.ts > _BOUND:
        return "future_ts"
    if r.bid is not None and r.ask is not None and r.bid > r.ask:
        return "crossed"
    return "unknown_symbol" if r.sym.startswith("NOPE") else None


_side = st.one_of(st.none(), st.sampled_from([0.0, 1.0, 1.05, 2.0]))
_row = st.builds(
    QuoteRow,
    sym=st.sampled_from(["VIX", "VX261216", "VIX261216C00020000", "NOPE", "NOPE2"]),
    ts=st.sampled_from([1, TS, _BOUND, _BOUND + 1, TS_MAX_NS]),
    bid=_side,
    ask=_side,
    last=_side,
    delayed=st.booleans(),
    settle=st.one_of(st.none(), st.just(18.5)),
    settle_date=st.one_of(st.none(), st.just(dt.date(2026, 11, 20))),
    open_interest=st.one_of(st.none(), st.integers(0, 10**6)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_row, max_size=12))
def test_a_binary_batch_with_or_without_rejects_is_judged_row_by_row(rows: list[QuoteRow]) -> None:
    payload = msgspec.msgpack.encode(rows)
    _feed, quotes, rejects = decode_entry({b"b": payload}, max_ts_ns=_BOUND)
    want = [r for r in rows if _verdict(r) is None]
    assert [msgspec.json.encode(q) for q in quotes] == [msgspec.json.encode(r) for r in want]
    assert [(j.reason, j.detail, j.raw) for j in rejects] == [
        (v, r.sym, msgspec.json.encode(r)) for r in rows if (v := _verdict(r)) is not None
    ]


def test_a_clean_binary_batch_is_accepted_whole_and_in_order() -> None:
    rows = [QuoteRow("VIX261216C00020000", TS, 1.0, 1.05), QuoteRow("VIX", TS, last=17.0)]
    _feed, quotes, rejects = decode_entry({b"b": msgspec.msgpack.encode(rows)}, max_ts_ns=TS)
    assert rejects == [] and [(q.sym, q.bid, q.last) for q in quotes] == [
        ("VIX261216C00020000", 1.0, None),
        ("VIX", None, 17.0),
    ]
