"""Strategy-based margin (Cboe / Reg T, cash-settled European index options), by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from monitor.rules import margin as M

EXP = dt.date(2027, 1, 15)


def contracts(*legs: tuple[str, float, float]) -> list[M.Contract]:
    """(root, cp, strike) per instrument column."""
    return [
        M.Contract(col=i, root=r, expiry=EXP, cp=cp, strike=k) for i, (r, cp, k) in enumerate(legs)
    ]


def requirement(
    legs: list[tuple[str, float, float]],
    qty: list[int],
    value: list[float] | None = None,
    forward: float = 6000.0,
) -> float:
    cs = contracts(*legs)
    m = M.layout(cs, {(0, i): q for i, q in enumerate(qty)}, 1)
    v = np.array([value or [0.0] * len(legs)])
    cp = np.array([c.cp for c in cs])
    k = np.array([c.strike for c in cs])
    req, _ = M.requirement(m, 1, v, np.full((1, len(legs)), forward), cp, k)
    return float(req[0, 0])


PUT, CALL = -1.0, 1.0
CONDOR = [("SPXW", PUT, 5450), ("SPXW", PUT, 5600), ("SPXW", CALL, 6250), ("SPXW", CALL, 6350)]


def test_iron_condor_requirement_is_wider_wing_times_100_times_contracts() -> None:
    # a 150-point put wing and a 100-point call wing, 3 contracts: 150 x 100 x 3
    assert requirement(CONDOR, [3, -3, -3, 3]) == 150 * 100 * 3


def test_an_inverted_condor_whose_shorts_cross_pays_both_sides() -> None:
    legs = [("SPXW", PUT, 6200), ("SPXW", PUT, 6300), ("SPXW", CALL, 5700), ("SPXW", CALL, 5800)]
    assert requirement(legs, [1, -1, -1, 1]) == (100 + 100) * 100


def test_a_put_credit_spread_requires_its_width_and_a_debit_spread_nothing() -> None:
    assert requirement([("SPXW", PUT, 5500), ("SPXW", PUT, 5600)], [2, -2]) == 100 * 100 * 2
    assert requirement([("SPXW", PUT, 5500), ("SPXW", PUT, 5600)], [-2, 2]) == 0.0


def test_a_vix_call_spread_bought_for_a_debit_requires_nothing() -> None:
    assert requirement([("VIX", CALL, 25), ("VIX", CALL, 35)], [4, -4]) == 0.0


def test_long_options_require_nothing_beyond_their_premium() -> None:
    assert requirement([("VIX", CALL, 25), ("SPXW", PUT, 5000)], [10, 3], [1.2, 8.0]) == 0.0


def test_an_uncovered_short_put_requires_its_value_plus_15pct_less_otm_with_a_10pct_floor() -> None:
    # put 5600 at 27.40, SPX 6000: 15% x 6000 - 400 OTM = 500 is below the floor 10% x 5600
    got = requirement([("SPXW", PUT, 5600)], [-2], [27.40])
    assert got == pytest.approx(2 * 100 * (27.40 + max(0.15 * 6000 - 400, 0.10 * 5600)))
    # nearer the money the 15% term wins: 900 - 100 = 800 > 590
    near = requirement([("SPXW", PUT, 5900)], [-1], [60.0])
    assert near == pytest.approx(100 * (60.0 + 800.0))


def test_an_uncovered_vix_call_requires_its_value_plus_20pct_of_the_underlying_less_otm() -> None:
    # VIX 30 call at 1.10, underlying (VX future) 20: 20% x 20 - 10 OTM < 10% x 20 -> 2.0
    got = requirement([("VIX", CALL, 30)], [-5], [1.10], forward=20.0)
    assert got == pytest.approx(5 * 100 * (1.10 + 2.0))


def test_a_short_left_over_after_pairing_is_uncovered() -> None:
    # 3 short puts, 2 long: two spreads at 100 wide plus one uncovered short
    got = requirement([("SPXW", PUT, 5500), ("SPXW", PUT, 5600)], [2, -3], [10.0, 27.40])
    assert got == pytest.approx(2 * 100 * 100 + 100 * (27.40 + 0.10 * 5600))


def test_opposite_legs_of_one_contract_in_one_book_cancel() -> None:
    cs = contracts(("SPXW", PUT, 5600))
    m = M.layout(cs, {(0, 0): 0}, 1)
    assert m.fixed_usd[0] == 0.0 and len(m.naked_col) == 0
