from __future__ import annotations

import datetime as dt
import gc

import pytest

from monitor import symbols
from monitor.symbols import Kind


def test_spxw_put_parses_to_root_expiry_right_and_strike() -> None:
    inst = symbols.parse("SPXW261218P05800000")
    assert (inst.kind, inst.root, inst.expiry, inst.right, inst.strike) == (
        Kind.OPTION,
        "SPXW",
        dt.date(2026, 12, 18),
        -1,
        5800.0,
    )


def test_spx_and_spxw_on_the_same_date_and_strike_are_distinct_contracts() -> None:
    a, b = symbols.parse("SPX261218P05800000"), symbols.parse("SPXW261218P05800000")
    assert a != b and a.root == "SPX" and b.root == "SPXW"


def test_fractional_strikes_round_trip() -> None:
    sym = symbols.option_symbol("VIX", dt.date(2026, 12, 16), 1, 22.5)
    assert sym == "VIX261216C00022500"
    assert symbols.parse(sym).strike == 22.5


def test_vx_future_is_named_by_its_settlement_date() -> None:
    inst = symbols.parse("VX261216")
    assert inst.kind is Kind.FUTURE and inst.expiry == dt.date(2026, 12, 16)
    assert symbols.future_symbol(dt.date(2026, 12, 16)) == "VX261216"


@pytest.mark.parametrize("sym", ["SPX", "VIX", "VIX3M", "VIX9D"])
def test_indices_are_recognised(sym: str) -> None:
    assert symbols.parse(sym).kind is Kind.INDEX


@pytest.mark.parametrize(
    "sym", ["SPY", "SPX   261218P05800000", "AAPL261218C00100000", "VX261316", "/VXZ26:XCBF", ""]
)
def test_non_canonical_forms_are_rejected(sym: str) -> None:
    with pytest.raises(symbols.SymbolError):
        symbols.parse(sym)


def test_a_bad_expiry_date_is_rejected_every_time() -> None:
    for _ in range(2):  # the date memo must not remember a failure as a date
        with pytest.raises(symbols.SymbolError, match="bad expiry date"):
            symbols.parse("SPXW261318P05800000")


def test_contracts_of_one_chain_share_their_root_expiry_and_strike_objects() -> None:
    # an engine holds ~30,000 instruments: each carries no strings, dates or floats of its own
    a = symbols.parse("SPXW261218P05800000")
    b = symbols.parse("SPXW" + "261218C05800000")
    assert a.root is b.root and a.expiry is b.expiry and a.strike is b.strike
    assert not gc.is_tracked(a)
