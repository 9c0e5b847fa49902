"""A short, bounded fuzz run of every target (``make fuzz`` runs millions of inputs).

Each target gets raw bytes and inputs shaped like its format (so the run reaches past the first
decode); the invariants live in ``targets.py``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.quotes import decode_entry
from tests.fuzz import targets

EXAMPLES = int(os.environ.get("VIXMON_FUZZ_EXAMPLES", "150"))
"""Per test; ``make fuzz`` without atheris raises it to run hypothesis for long."""
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

SYMBOLS = st.sampled_from(
    ["VIX", "SPX", "VIX9D", "VX261216", "SPXW261218P05800000", "VIX261216C00020000", "SPY", ""]
)
EDGE_INTS = st.sampled_from([0, -1, 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), 10**30])
TIMES = st.one_of(st.integers(0, 2**63 - 1), EDGE_INTS, st.just(targets.TS_INIT))
PRICES = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, 1e15, 1e16, -0.0]),
)
JUNK = st.one_of(st.none(), st.booleans(), st.text(max_size=8), st.lists(st.integers(), max_size=2))


def quote_dicts() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"sym": st.one_of(SYMBOLS, st.text(max_size=20)), "ts": st.one_of(TIMES, JUNK)},
        optional={"bid": PRICES, "ask": PRICES, "last": PRICES, "bid_size": EDGE_INTS,
                  "ask_size": EDGE_INTS, "delayed": st.one_of(st.booleans(), JUNK),
                  "extra": JUNK},
    )


def json_text(value: object) -> bytes:
    # allow_nan: writes bare NaN/Infinity, as many producers do
    return json.dumps(value, allow_nan=True).encode()


@FUZZ
@given(st.one_of(st.binary(max_size=512), st.lists(quote_dicts(), max_size=8).map(json_text),
                 quote_dicts().map(json_text)))
def test_the_json_contract_never_raises_and_bounds_what_it_accepts(data: bytes) -> None:
    targets.quote_json(data)


def rows() -> st.SearchStrategy[list[Any]]:
    return st.lists(
        st.one_of(
            st.tuples(SYMBOLS, TIMES, PRICES, PRICES, EDGE_INTS, EDGE_INTS, PRICES, st.booleans())
            .map(list),
            st.lists(st.one_of(JUNK, EDGE_INTS, PRICES), max_size=9),
        ),
        max_size=8,
    )


def _msgpack_int(v: Any) -> Any:
    """Clamp ints to what msgpack can carry (-2^63 .. 2^64 - 1), recursively."""
    if isinstance(v, list):
        return [_msgpack_int(x) for x in v]
    if isinstance(v, int) and not isinstance(v, bool):
        return min(max(v, -(2**63)), 2**64 - 1)
    return v


def msgpack_rows(value: list[Any]) -> bytes:
    return msgspec.msgpack.encode(_msgpack_int(value))


@FUZZ
@given(st.one_of(st.binary(max_size=512), rows().map(msgpack_rows)))
def test_the_binary_contract_never_raises_and_bounds_what_it_accepts(data: bytes) -> None:
    targets.quote_binary(data)


GOOD = msgspec.json.encode(targets.quote_seeds()["quote_json"][0])


@FUZZ
@given(st.lists(st.sampled_from(["NaN", "Infinity", "-Infinity"]), min_size=1, max_size=3),
       st.integers(0, 2))
def test_bare_non_finite_tokens_cost_only_their_own_quotes(tokens: list[str], at: int) -> None:
    good = [json.dumps({"sym": "VIX", "last": 17.0 + i, "ts": targets.TS_INIT}) for i in range(3)]
    bad = [f'{{"sym":"SPX","last":{t},"ts":{targets.TS_INIT}}}' for t in tokens]
    items = good[:at] + bad + good[at:]
    _feed, quotes, rejects = decode_entry({b"q": ("[" + ",".join(items) + "]").encode()})
    assert len(quotes) == 3
    assert [r.reason for r in rejects] == ["non_finite"] * len(tokens)


def dxlink_frames() -> st.SearchStrategy[bytes]:
    event = st.tuples(
        st.sampled_from(["Quote", "Trade", "Summary", "Greeks"]),
        st.sampled_from(["SPX", "VIX", ".VIX261216C20", "x"]),
    )
    values = st.lists(st.one_of(PRICES, EDGE_INTS, st.sampled_from(["NaN", "Infinity", "1"])),
                      min_size=0, max_size=14)
    data = st.tuples(event, values).map(lambda ev: [ev[0][0], [ev[0][0], ev[0][1], *ev[1]]])
    frame = data.map(lambda d: {"type": "FEED_DATA", "channel": 1, "data": d})
    token = st.fixed_dictionaries({"data": st.fixed_dictionaries({
        "token": st.text(max_size=4), "dxlink-url": st.just("wss://x"),
        "expires-at": st.one_of(st.text(max_size=30), st.just("9999-12-31T23:59:59Z"))})})
    return st.one_of(frame, token).map(json_text)


@FUZZ
@given(st.one_of(st.binary(max_size=512), dxlink_frames()))
def test_the_dxlink_parser_never_emits_a_quote_from_the_future(data: bytes) -> None:
    targets.dxlink_frame(data)


def tradier_lines() -> st.SearchStrategy[bytes]:
    text_num = st.one_of(PRICES.map(lambda p: p if p is None else str(p)), PRICES, EDGE_INTS)
    event = st.fixed_dictionaries(
        {"type": st.sampled_from(["quote", "trade", "timesale", "summary", "x"]),
         "symbol": st.sampled_from(["SPX", "VIX", "SPXW261218P05800000", "x"])},
        optional={k: text_num for k in ("bid", "ask", "price", "last", "bidsz", "biddate",
                                        "askdate", "date", "open", "prevClose")},
    )
    return st.lists(event.map(json_text), max_size=4).map(lambda ls: b"\n".join(ls))


@FUZZ
@given(st.one_of(st.binary(max_size=512), tradier_lines()))
def test_the_tradier_parser_never_emits_a_quote_from_the_future(data: bytes) -> None:
    targets.tradier_frame(data)


CBOE_SEED = json.loads((targets.RESOURCES / "cboe" / "quotes_VIX9D.json").read_bytes())


@FUZZ
@given(st.dictionaries(st.sampled_from(["last_trade_time", "bid", "ask", "current_price",
                                        "close", "prev_day_close", "symbol"]),
                       st.one_of(st.text(max_size=25), PRICES, EDGE_INTS,
                                 st.sampled_from(["2300-01-01T00:00:00", "9999-12-31T23:59:59",
                                                  "0001-01-01T00:00:00"]))),
       st.one_of(st.none(), st.text(max_size=20),
                 st.sampled_from(["23:59:59", "2300-01-01 00:00:00"])))
def test_the_cboe_parser_never_dates_a_file_in_the_future(
    fields: dict[str, Any], timestamp: str | None
) -> None:
    data = {**CBOE_SEED, "data": {**CBOE_SEED["data"], **fields}}
    if timestamp is not None:
        data["timestamp"] = timestamp
    targets.cboe_file(json_text(data))


@FUZZ
@given(st.binary(max_size=512))
def test_the_cboe_parser_takes_any_bytes(data: bytes) -> None:
    targets.cboe_file(data)


TOML_VALUES = st.one_of(
    st.sampled_from(["inf", "nan", "-inf", "0", "-5", "99999", "1e400", "true", '"x"', "[]",
                     "{}", '"a\\u0000b"', "9223372036854775808", '{ env = "NOPE" }']),
    st.integers(-(2**64), 2**64).map(str), st.floats().map(lambda f: repr(f).replace("nan", "nan")),
)
TABLES = {
    "engine": ["cadence_ms", "stale_after_s", "mark_max_age_s", "rate", "time_source",
               "max_future_skew_s", "nope"],
    "redis": ["block_ms", "read_count", "socket_timeout_s", "dead_maxlen", "url"],
    "http": ["port", "host"],
    "alerts": ["cooldown_s", "repeat_interval_s"],
    "rules.roll": ["otm_min", "otm_slak", "dte_min"],
    "rules.stress": ["spot_shocks", "min_coverage"],
}


@st.composite
def toml_configs(draw: st.DrawFn) -> bytes:
    lines = ['portfolio = "portfolio.toml"']
    for table in draw(st.lists(st.sampled_from(sorted(TABLES)), max_size=3, unique=True)):
        lines.append(f"[{table}]")
        for key in draw(st.lists(st.sampled_from(TABLES[table]), max_size=3, unique=True)):
            lines.append(f"{key} = {draw(TOML_VALUES)}")
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["simulator", "replay", "tradier", "dxlink", "cboe"]))
        lines.append(f'[[feeds]]\nkind = "{kind}"')
        key = draw(st.sampled_from(["speed", "tick_interval_ms", "token", "path", "x"]))
        lines.append(f"{key} = {draw(TOML_VALUES)}")
    return "\n".join(lines).encode() + draw(st.sampled_from([b"", b"\n# \xff\xfe", b"\x00"]))


@FUZZ
@given(st.one_of(st.binary(max_size=256), toml_configs()))
def test_the_config_loader_fails_only_with_a_config_error(data: bytes) -> None:
    targets.config_file(data)
