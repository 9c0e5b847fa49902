"""The risk profile: hand-checkable expiry P&L, break-evens at short strike ± credit, the hedge
shift the break-even rule counts, T+0 at the forward equal to the marks, the sigma bands."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.engine import Cycle
from monitor.web import profile as P
from tests.unit.rules.rules_world import CONDOR, World

# the world's condor: 2 x (long 5500 P, short 5600 P, short 6250 C, long 6350 C)
CREDIT_PTS = 27.40 + 17.60 - 19.80 - 7.40  # 17.80 points per condor
WIDTH_PTS = 100.0
QTY = 2


@pytest.fixture(scope="module")
def cycle() -> Cycle:
    world = World()
    world.tick()
    return world.tick()


def profile(cycle: Cycle, structure: str | None = None) -> P.Profile:
    assert cycle.rules is not None
    return P.compute(cycle.state, cycle.valuation, "main", structure,
                     cycle.rules.analysis.breakevens)  # fmt: skip


def at(p: P.Profile, spx: float, curve: np.ndarray) -> float:
    return float(np.interp(spx, p.spx, curve))


def test_expiry_pnl_is_the_credit_between_the_shorts(cycle: Cycle) -> None:
    p = profile(cycle)
    for spx in (5600.0, 5900.0, 6250.0):
        assert at(p, spx, p.expiry_pnl_usd) == pytest.approx(CREDIT_PTS * QTY * 100, abs=1e-6)


def test_expiry_pnl_beyond_the_wings_is_minus_width_less_credit(cycle: Cycle) -> None:
    p = profile(cycle)
    loss = -(WIDTH_PTS - CREDIT_PTS) * QTY * 100
    for spx in (5400.0, 5500.0, 6350.0, 6500.0):
        assert at(p, spx, p.expiry_pnl_usd) == pytest.approx(loss, abs=1e-6)


def test_breakevens_without_hedge_sit_at_short_strikes_plus_minus_credit(cycle: Cycle) -> None:
    lower, upper = profile(cycle).breakevens
    assert lower == pytest.approx(5600.0 - CREDIT_PTS, abs=1e-9)
    assert upper == pytest.approx(6250.0 + CREDIT_PTS, abs=1e-9)


def test_hedged_breakevens_are_the_breakeven_rules(cycle: Cycle) -> None:
    assert cycle.rules is not None
    be = cycle.rules.analysis.breakevens
    p = profile(cycle, "IC")
    assert p.overlay_source == "breakeven_rule"
    assert p.overlay_usd == pytest.approx(float(be.overlay_usd[0]))
    assert p.breakevens_hedged[0] == pytest.approx(float(be.lower[0]), abs=1e-9)
    assert p.breakevens_hedged[1] == pytest.approx(float(be.upper[0]), abs=1e-9)


def test_hedged_curve_is_the_plain_curve_shifted_by_the_overlay(cycle: Cycle) -> None:
    p = profile(cycle)
    doc = p.to_doc()
    plain = np.array(doc["curves"]["expiry_pnl_usd"], float)
    hedged = np.array(doc["curves"]["expiry_pnl_hedged_usd"], float)
    assert np.allclose(hedged - plain, p.overlay_usd, atol=0.011)  # both rounded to cents


def test_the_grid_passes_through_every_breakeven_at_zero_pnl(cycle: Cycle) -> None:
    p = profile(cycle)
    for be in p.breakevens:
        j = int(np.flatnonzero(np.isclose(p.spx, be))[0])
        assert p.expiry_pnl_usd[j] == pytest.approx(0.0, abs=1e-6)


def test_today_pnl_at_the_forward_is_the_condors_value_at_its_marks(cycle: Cycle) -> None:
    st = cycle.state
    p = profile(cycle, "IC")
    s = st.index.struct_names.index("IC")
    marked = float(st.struct_value_usd[s] - st.struct_cost_usd[s])
    # the model at each leg's own mid IV reproduces its mid to the IV solver's tolerance
    assert at(p, p.forward, p.today_pnl_usd) == pytest.approx(marked, abs=1.0)


def test_today_pnl_converges_to_expiry_pnl_far_from_the_strikes(cycle: Cycle) -> None:
    p = profile(cycle)
    far = p.spx[0]
    assert at(p, far, p.today_pnl_usd) == pytest.approx(at(p, far, p.expiry_pnl_usd), rel=0.05)


def test_bands_are_forward_plus_minus_k_expected_moves(cycle: Cycle) -> None:
    p = profile(cycle)
    val = cycle.valuation
    chain = val.chain_index("SPXW", P.symbols.parse(CONDOR[0][0]).expiry)  # type: ignore[arg-type]
    move = val.expected_move(chain)
    assert p.expected_move_points == pytest.approx(move)
    assert p.forward == pytest.approx(float(val.chain_forward[chain]))
    doc = p.to_doc()
    assert doc["bands"]["sigma1"] == pytest.approx([p.forward - move, p.forward + move], abs=0.01)
    assert doc["bands"]["sigma2"] == pytest.approx(
        [p.forward - 2 * move, p.forward + 2 * move], abs=0.01
    )
    assert p.spx[0] <= p.forward - 2 * move and p.spx[-1] >= p.forward + 2 * move


def test_unknown_book_and_condor_are_named_in_the_error(cycle: Cycle) -> None:
    with pytest.raises(P.ProfileError, match="no book named 'nope'") as e:
        P.compute(cycle.state, cycle.valuation, "nope")
    assert e.value.status == 404
    with pytest.raises(P.ProfileError, match=r"no condor 'L1'.*condors: IC"):
        P.compute(cycle.state, cycle.valuation, "main", "L1")


def test_document_has_no_nan_or_infinity(cycle: Cycle) -> None:
    doc = profile(cycle).to_doc()
    values = [v for curve in doc["curves"].values() for v in curve]
    assert all(v is None or math.isfinite(v) for v in values)
    assert doc["valid"] is True and doc["reason"] is None
