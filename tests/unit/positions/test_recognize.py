"""Structure recognition: broker positions → condors, layers and the ``other`` structure."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.model import Book
from monitor.positions.recognize import Overlay, OverlayGroup, Position, recognize, structures

LP, SP, SC, LC = ("SPXW261218P05600000", "SPXW261218P05700000",
                  "SPXW261218C06300000", "SPXW261218C06400000")
IC_NAME = "SPXW 261218 5600/5700/6300/6400"


def pos(sym: str, qty: int, price: float = 1.0) -> Position:
    """A position opened at ``price`` points per share (credit for a short)."""
    return Position(symbol=sym, quantity=qty, cost_basis_usd=price * qty * 100.0)


def condor(n: int, lp: str = LP, sp: str = SP, sc: str = SC, lc: str = LC) -> list[Position]:
    return [pos(lp, n, 10.0), pos(sp, -n, 20.0), pos(sc, -n, 18.0), pos(lc, n, 8.0)]


def shape(book: Book) -> dict[str, dict[str, int]]:
    """Structure name → {symbol: quantity}, over condors, layers and other."""
    out = {}
    for s in structures(book):
        out[s.name] = {leg.symbol: leg.quantity for leg in s.legs}
    return out


def test_four_matching_legs_form_one_condor_with_entry_prices_from_cost_basis() -> None:
    book = recognize(condor(2), book="main").book
    assert [c.name for c in book.condors] == [IC_NAME]
    assert {leg.symbol: leg.entry_price for leg in book.condors[0].legs} == pytest.approx(
        {LP: 10.0, SP: 20.0, SC: 18.0, LC: 8.0})
    assert book.layers == [] and book.others == []


@pytest.mark.parametrize(
    ("positions", "expected"),
    [
        pytest.param(
            condor(3) + condor(2, "SPXW261218P05500000", "SPXW261218P05650000",
                               "SPXW261218C06350000", "SPXW261218C06500000"),
            {IC_NAME: {LP: 3, SP: -3, SC: -3, LC: 3},
             "SPXW 261218 5500/5650/6350/6500": {"SPXW261218P05500000": 2,
                                                 "SPXW261218P05650000": -2,
                                                 "SPXW261218C06350000": -2,
                                                 "SPXW261218C06500000": 2}},
            id="two condors on one expiry",
        ),
        pytest.param(
            [pos(LP, 10), pos(SP, -10), pos(SC, -10), pos(LC, 7)],
            {IC_NAME: {LP: 7, SP: -7, SC: -7, LC: 7}, "other": {LP: 3, SP: -3, SC: -3}},
            id="one wing partly closed leaves the rest in other",
        ),
        pytest.param(
            condor(4, lc="SPXW270115C06400000"),
            {"other": {LP: 4, SP: -4, SC: -4, "SPXW270115C06400000": 4}},
            id="legs on two expiries are no condor",
        ),
        pytest.param(
            [pos(LP, -1), pos(SP, 1), pos(SC, -1), pos(LC, 1)],
            {"other": {LP: -1, SP: 1, SC: -1, LC: 1}},
            id="wrong signs are no condor",
        ),
        pytest.param(
            condor(1, sp="SPXW261218P06350000"),
            {"other": {LP: 1, "SPXW261218P06350000": -1, SC: -1, LC: 1}},
            id="short put above the short call is no condor",
        ),
        pytest.param(
            condor(1, lp="SPX261218P05600000"),
            {"other": {"SPX261218P05600000": 1, SP: -1, SC: -1, LC: 1}},
            id="SPX AM and SPXW PM legs do not mix",
        ),
    ],
)
def test_condor_recognition(positions: list[Position], expected: dict[str, dict[str, int]]) -> None:
    assert shape(recognize(positions, book="main").book) == expected


def test_long_vix_calls_form_one_layer_per_expiry_and_puts_go_to_other() -> None:
    positions = [pos("VIX270120C00025000", 4, 0.9), pos("VIX270120C00030000", 2, 0.5),
                 pos("VIX270217C00025000", 3, 1.1), pos("VIX270120P00015000", 1, 0.4),
                 pos("VIX270217C00040000", -3, 0.3)]
    got = shape(recognize(positions, book="main").book)
    assert got == {
        "VIX 270120": {"VIX270120C00025000": 4, "VIX270120C00030000": 2},
        "VIX 270217": {"VIX270217C00025000": 3},
        "other": {"VIX270120P00015000": 1, "VIX270217C00040000": -3},
    }


def test_overlay_names_pins_excludes_and_overrides_entry() -> None:
    positions = [*condor(1), pos("VIX270120C00025000", 4, 0.9), pos("VIXW270127C00025000", 2),
                 pos("VIX270217C00025000", 1), pos("VX270120", 1)]
    overlay = Overlay(
        names={IC_NAME: "IC-DEC"},
        layers=[OverlayGroup(name="L1", expiries=[dt.date(2027, 1, 20), dt.date(2027, 1, 27)])],
        exclude=["VX270120"],
        entry_prices={"VIX270217C00025000": 1.25},
    )
    result = recognize(positions, book="main", overlay=overlay)
    got = shape(result.book)
    assert got == {"IC-DEC": {LP: 1, SP: -1, SC: -1, LC: 1},
                   "L1": {"VIX270120C00025000": 4, "VIXW270127C00025000": 2},
                   "VIX 270217": {"VIX270217C00025000": 1}}
    assert result.book.layers[1].legs[0].entry_price == 1.25
    assert [(u.symbol, u.reason) for u in result.unplaced] == [("VX270120", "excluded")]


def test_overlay_regroups_symbols_into_a_named_structure() -> None:
    overlay = Overlay(condors=[OverlayGroup(name="mine", symbols=[LP, SP, SC, LC])])
    got = shape(recognize(condor(2), book="main", overlay=overlay).book)
    assert got == {"mine": {LP: 2, SP: -2, SC: -2, LC: 2}}


def test_blended_cost_basis_of_two_fills_is_the_layer_entry() -> None:
    fills = [Position(symbol="VIX270120C00025000", quantity=2, cost_basis_usd=180.0),
             Position(symbol="VIX270120C00025000", quantity=2, cost_basis_usd=220.0)]
    layer = recognize(fills, book="main").book.layers[0]
    assert layer.legs[0].quantity == 4 and layer.legs[0].entry_price == pytest.approx(1.0)


def test_unknown_symbols_are_reported_not_dropped() -> None:
    result = recognize([pos("AAPL", 100), pos("SPX", 1), *condor(1)], book="main")
    assert [c.name for c in result.book.condors] == [IC_NAME]
    assert [(u.symbol, u.quantity) for u in result.unplaced] == [("AAPL", 100), ("SPX", 1)]
    assert "AAPL" in result.unplaced[0].reason


def test_a_closed_position_disappears() -> None:
    assert shape(recognize([pos(LP, 1), pos(LP, -1)], book="main").book) == {}
