"""The realized P&L ledger: what a portfolio change closes is realized once, at the right price."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from monitor.model import Other, Portfolio
from monitor.positions import ledger as L

T0, T1, T2 = 1_000, 2_000, 3_000
CALL = "VIX261216C00020000"
CONDOR = [
    ("SPXW270115P05500000", 2, 19.80),
    ("SPXW270115P05600000", -2, 27.40),
    ("SPXW270115C06250000", -2, 17.60),
    ("SPXW270115C06350000", 2, 7.40),
]


def leg(symbol: str, quantity: int, entry_price: float) -> dict[str, Any]:
    return {"symbol": symbol, "quantity": quantity, "entry_price": entry_price}


def portfolio(layer_qty: int | None = 4, exits: list[dict[str, Any]] | None = None) -> Portfolio:
    book: dict[str, Any] = {
        "name": "main",
        "condors": [{"name": "IC", "legs": [leg(s, q, p) for s, q, p in CONDOR]}],
        "layers": [],
        "exits": exits or [],
    }
    if layer_qty:
        book["layers"] = [
            {"name": "L1", "legs": [{"symbol": CALL, "quantity": layer_qty, "entry_price": 0.85}]}
        ]
    return msgspec.convert({"books": [book]}, Portfolio)


def touch(bid: float, ask: float) -> L.Touch:
    return lambda symbol, closing: bid if closing > 0 else ask


def seeded() -> L.Ledger:
    led, new = L.reconcile(L.Ledger(), portfolio(), T0)
    assert new == [] and led.seeded
    return led


def test_the_first_reconcile_records_positions_and_realizes_nothing() -> None:
    led = seeded()  # what it finds was opened before the ledger existed
    assert [(p.name, p.opened_ns) for p in led.positions] == [("IC", 0), ("L1", 0)]


def test_a_structure_added_later_is_opened_when_first_seen() -> None:
    pf = portfolio()
    l2 = msgspec.structs.replace(pf.books[0].layers[0], name="L2")
    more = msgspec.structs.replace(pf.books[0], layers=[*pf.books[0].layers, l2])
    led, _ = L.reconcile(seeded(), msgspec.structs.replace(pf, books=[more]), T1)
    added = led.position("main", "L2")
    assert added is not None and added.opened_ns == T1


def test_harvesting_part_of_a_layer_realizes_the_sold_contracts_at_the_bid() -> None:
    led, new = L.reconcile(seeded(), portfolio(layer_qty=1), T1, touch(2.30, 2.50))
    assert [(e.structure, e.quantity, e.exit_price, e.source) for e in new] == [
        ("L1", 3, 2.30, "marks")
    ]
    assert led.realized_usd("main") == pytest.approx(3 * 100 * (2.30 - 0.85))


def test_a_removed_structure_is_realized_in_full() -> None:
    led, new = L.reconcile(seeded(), portfolio(layer_qty=None), T1, touch(2.30, 2.50))
    assert [(e.quantity, e.exit_price) for e in new] == [(4, 2.30)]
    assert led.position("main", "L1") is None


def test_a_short_leg_bought_back_is_realized_at_the_ask() -> None:
    led = seeded()
    smaller = msgspec.structs.replace(
        portfolio(), books=[msgspec.structs.replace(portfolio().books[0], condors=[])]
    )
    _, new = L.reconcile(led, smaller, T1, touch(30.0, 31.0))
    short = {e.symbol: e for e in new}["SPXW270115P05600000"]
    assert (short.quantity, short.exit_price) == (-2, 31.0)
    assert short.realized_usd == pytest.approx(-2 * 100 * (31.0 - 27.40))


def test_the_price_the_trader_gives_wins_over_the_marks() -> None:
    exits = [{"structure": "L1", "symbol": CALL, "price": 2.45}]
    _, new = L.reconcile(seeded(), portfolio(layer_qty=1, exits=exits), T1, touch(2.30, 2.50))
    assert [(e.exit_price, e.source) for e in new] == [(2.45, "given")]


def test_added_size_realizes_nothing() -> None:
    _, new = L.reconcile(seeded(), portfolio(layer_qty=6), T1, touch(2.30, 2.50))
    assert new == []


def test_a_change_made_while_stopped_is_unpriced_until_the_trader_gives_the_price() -> None:
    led, new = L.reconcile(seeded(), portfolio(layer_qty=1), T1, None)
    assert [(e.exit_price, e.source, e.realized_usd) for e in new] == [(0.85, "unpriced", 0.0)]
    exits = [{"structure": "L1", "symbol": CALL, "price": 2.40}]
    led, new = L.reconcile(led, portfolio(layer_qty=1, exits=exits), T2, None)
    assert new == []  # nothing closed again: the given price re-prices the earlier entry
    assert [(e.exit_price, e.source) for e in led.entries] == [(2.40, "given")]
    assert led.realized_usd("main") == pytest.approx(3 * 100 * (2.40 - 0.85))


def test_reloading_the_same_portfolio_twice_realizes_once() -> None:
    led, _ = L.reconcile(seeded(), portfolio(layer_qty=1), T1, touch(2.30, 2.50))
    led, new = L.reconcile(led, portfolio(layer_qty=1), T2, touch(2.0, 2.2))
    assert new == [] and len(led.entries) == 1


@pytest.mark.parametrize(
    ("old", "new", "closed"),
    [(4, 1, 3), (4, 0, 4), (4, -2, 4), (-2, -1, -1), (-2, -3, 0), (2, 5, 0)],
)
def test_the_closed_quantity_is_the_shrinkage_or_all_of_a_flipped_position(
    old: int, new: int, closed: int
) -> None:
    assert L.closed_quantity(old, new) == closed


def test_the_ledger_round_trips_through_json() -> None:
    led, _ = L.reconcile(seeded(), portfolio(layer_qty=1), T1, touch(2.30, 2.50))
    assert L.DECODER.decode(L.ENCODER.encode(led)) == led


def test_only_realizations_after_a_time_count_when_asked() -> None:
    led, _ = L.reconcile(seeded(), portfolio(layer_qty=1), T1, touch(2.30, 2.50))
    assert led.realized_usd("main", after_ns=T1) == 0.0
    assert led.realized_usd("main", after_ns=T0) > 0


OTHER_PUT, OTHER_FUT = "SPXW270115P05000000", "VX270120"


def with_other(put_qty: int, fut_qty: int) -> Portfolio:
    """The demo-like book plus an ``other`` structure (legs no condor or layer explains)."""
    pf = portfolio()
    legs = [leg(s, q, p) for s, q, p in ((OTHER_PUT, put_qty, 3.20), (OTHER_FUT, fut_qty, 17.5))
            if q]
    others = [msgspec.convert({"name": "other", "legs": legs}, Other)] if legs else []
    return msgspec.structs.replace(pf, books=[msgspec.structs.replace(pf.books[0], others=others)])


def test_reducing_and_removing_an_other_structure_realizes_like_the_rest() -> None:
    led, new = L.reconcile(L.Ledger(), with_other(3, -1), T0)
    assert new == [] and [p.kind for p in led.positions] == ["condor", "layer", "other"]
    led, new = L.reconcile(led, with_other(1, -1), T1, touch(bid=4.0, ask=4.5))
    assert [(e.structure, e.kind, e.symbol, e.quantity, e.exit_price, e.source) for e in new] == [
        ("other", "other", OTHER_PUT, 2, 4.0, "marks")]
    assert new[0].realized_usd == pytest.approx(2 * 100 * (4.0 - 3.20))
    led, new = L.reconcile(led, with_other(0, 0), T2, touch(bid=18.0, ask=18.25))
    assert sorted((e.symbol, e.quantity, e.exit_price) for e in new) == [
        (OTHER_PUT, 1, 18.0), (OTHER_FUT, -1, 18.25)]
    assert {e.kind for e in new} == {"other"}
    assert led.realized_usd("main") == pytest.approx(
        2 * 100 * 0.80 + 1 * 100 * (18.0 - 3.20) + -1 * 100 * (18.25 - 17.5))
    assert [p.name for p in led.positions] == ["IC", "L1"]
