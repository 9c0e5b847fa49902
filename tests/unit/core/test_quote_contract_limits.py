"""The contract's bounds: time (future_ts, int64), the price cap, and mixed entries."""

from __future__ import annotations

import msgspec
import pytest

from monitor.model import Quote
from monitor.quotes import PRICE_CAP, TS_MAX_NS, decode_entry, encode_batch

TS = 1_795_000_000_000_000_000


def reasons(fields: dict[bytes, bytes], **kw: int) -> tuple[list[str], list[str]]:
    _feed, quotes, rejects = decode_entry(fields, **kw)
    return [q.sym for q in quotes], [r.reason for r in rejects]


@pytest.mark.parametrize("ts", [2**63, 2**64 - 1, 2**64, 10**30])
def test_a_json_ts_beyond_int64_is_rejected_as_future(ts: int) -> None:
    payload = b'{"sym":"VIX","ts":%d}' % ts
    assert reasons({b"q": payload}) == ([], ["future_ts"])


@pytest.mark.parametrize("ts", [2**63, 2**64 - 1])
def test_a_binary_ts_beyond_int64_is_rejected_and_the_rest_kept(ts: int) -> None:
    spx = ["SPX", TS, None, None, None, None, 1.0]
    rows = msgspec.msgpack.encode([["VIX", ts, 17.0, 17.1], spx])
    assert reasons({b"b": rows}) == (["SPX"], ["future_ts"])


def test_a_quote_after_the_ceiling_is_rejected_as_future_ts() -> None:
    late = Quote(sym="VIX", ts=TS + 1, bid=17.0, ask=17.1)
    ok = Quote(sym="SPX", ts=TS, last=6000.0)
    assert reasons({b"b": encode_batch([late, ok])}, max_ts_ns=TS) == (["SPX"], ["future_ts"])
    assert reasons({b"q": msgspec.json.encode([late, ok])}, max_ts_ns=TS) == (
        ["SPX"], ["future_ts"])


def test_the_documented_price_cap_is_enforced_on_both_encodings() -> None:
    big = Quote(sym="VIX", ts=TS, bid=1.0, ask=PRICE_CAP * 10)
    assert reasons({b"q": msgspec.json.encode(big)}) == ([], ["price_cap"])
    assert reasons({b"b": encode_batch([big, Quote(sym="SPX", ts=TS, last=1.0)])}) == (
        ["SPX"], ["price_cap"])
    assert reasons({b"q": msgspec.json.encode(Quote(sym="VIX", ts=TS, last=PRICE_CAP))}) == (
        ["VIX"], [])


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_one_bare_non_finite_token_costs_only_its_own_quote(token: bytes) -> None:
    payload = (
        b'[{"sym":"SPX","last":6000.5,"ts":%d},{"sym":"VIX","bid":%s,"ts":%d},'
        b'{"sym":"VX261216","bid":18.0,"ask":18.05,"ts":%d}]' % (TS, token, TS, TS)
    )
    _feed, quotes, rejects = decode_entry({b"q": payload})
    assert [q.sym for q in quotes] == ["SPX", "VX261216"]
    assert [r.reason for r in rejects] == ["non_finite"]
    assert rejects[0].raw == b'{"sym":"VIX","bid":%s,"ts":%d}' % (token, TS)


def test_a_nan_inside_a_string_is_not_mistaken_for_a_token() -> None:
    payload = b'[{"sym":"NaN","ts":%d},{"sym":"VIX","bid":NaN,"ts":%d},{"sym":"VIX","ts":%d}]' % (
        TS, TS, TS)
    assert reasons({b"q": payload}) == (["VIX"], ["unknown_symbol", "non_finite"])


def test_one_invalid_utf8_string_in_a_binary_batch_costs_only_its_row() -> None:
    batch = encode_batch([Quote(sym="VIX", ts=TS, last=17.0), Quote(sym="SPX", ts=TS, last=1.0)])
    broken = batch.replace(b"\xa3VIX", b"\xa3V\xffX", 1)
    assert reasons({b"b": broken}) == (["SPX"], ["bad_schema"])


def test_the_int64_bound_is_the_market_arrays_type() -> None:
    assert TS_MAX_NS == 2**63 - 1
