"""Break-evens: exact roots equal a brute-force grid search; sigma distances; drift."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.engine import Cycle
from monitor.model import Portfolio
from monitor.rules import breakeven as B
from monitor.rules import codes as C
from monitor.settings import RulesConfig
from tests.unit.rules.rules_world import World, portfolio


def condor(
    kp: float, sp: float, sc: float, kc: float, qty: int, credit: float, cost: float | None = None
) -> B.Condors:
    """A long kp put, short sp put, short sc call, long kc call; entry credit in points."""
    strike = np.array([[kp, sp, sc, kc]])
    cp = np.array([[-1.0, -1.0, 1.0, 1.0]])
    units = np.array([[qty, -qty, -qty, qty]], np.float64) * 100.0
    c = -credit * qty * 100.0 if cost is None else cost
    return B.Condors(
        struct=np.array([0]),
        book=np.array([0]),
        strike=strike,
        cp=cp,
        units=units,
        cost_usd=np.array([c]),
        chain_keys=[],
        chain_id=np.array([0]),
    )


def exact(cd: B.Condors, overlay: float) -> tuple[float, float]:
    nodes = B.grid(cd)
    lo, hi = B.roots(nodes, B.pnl_at_expiry(cd, nodes, np.array([overlay])))
    return float(lo[0]), float(hi[0])


def _scan(cd: B.Condors, overlay: float, s: np.ndarray) -> np.ndarray:
    return B.pnl_at_expiry(cd, s[None, :], np.array([overlay]))[0]


def brute_force(cd: B.Condors, overlay: float) -> tuple[float, float]:
    """Scan SPX every point for the sign changes, then every 0.001 point inside each bracket."""
    s = np.arange(float(cd.strike.min()) - 3000.0, float(cd.strike.max()) + 3000.0, 1.0)
    pnl = _scan(cd, overlay, s)
    top = int(np.argmax(pnl))
    if pnl[top] < 0:
        return math.nan, math.nan
    below, above = np.flatnonzero(pnl[:top] < 0), np.flatnonzero(pnl[top:] < 0)
    lower, upper = -math.inf, math.inf
    if len(below):
        fine = np.arange(s[below[-1]], s[below[-1]] + 1.0, 0.001)
        lower = float(fine[np.flatnonzero(_scan(cd, overlay, fine) < 0)[-1]])
    if len(above):
        fine = np.arange(s[top + above[0]] - 1.0, s[top + above[0]] + 0.001, 0.001)
        upper = float(fine[np.flatnonzero(_scan(cd, overlay, fine) < 0)[0]])
    return lower, upper


def test_the_break_evens_of_a_plain_condor_are_the_short_strikes_minus_and_plus_the_credit() -> (
    None
):
    assert exact(condor(5500, 5600, 6250, 6350, 2, credit=17.8), 0.0) == pytest.approx(
        (5600 - 17.8, 6250 + 17.8)
    )


def test_hedge_gain_widens_both_break_evens_by_gain_over_the_short_units() -> None:
    lo, hi = exact(condor(5500, 5600, 6250, 6350, 2, credit=17.8), overlay=1000.0)
    assert (lo, hi) == pytest.approx((5600 - 17.8 - 5.0, 6250 + 17.8 + 5.0))


def test_a_hedge_gain_larger_than_the_max_loss_leaves_no_break_even() -> None:
    assert exact(condor(5500, 5600, 6250, 6350, 1, credit=20.0), overlay=9000.0) == (
        -math.inf,
        math.inf,
    )


def test_a_condor_losing_at_every_price_has_no_profit_zone() -> None:
    lo, hi = exact(condor(5500, 5600, 6250, 6350, 1, credit=20.0), overlay=-5000.0)
    assert math.isnan(lo) and math.isnan(hi)


@settings(max_examples=60, deadline=None)
@given(
    centre=st.floats(4000, 7000),
    inner=st.floats(20, 600),
    wing=st.floats(5, 200),
    skew=st.floats(-0.5, 0.5),
    credit_share=st.floats(0.05, 0.9),
    overlay=st.floats(-3000, 3000),
    qty=st.integers(1, 5),
)
def test_break_evens_equal_a_brute_force_grid_search_to_a_hundredth_of_a_point(
    centre: float,
    inner: float,
    wing: float,
    skew: float,
    credit_share: float,
    overlay: float,
    qty: int,
) -> None:
    sp, sc = centre - inner * (1 + skew), centre + inner * (1 - skew)
    cd = condor(sp - wing, sp, sc, sc + wing, qty, credit=wing * credit_share)
    got, want = exact(cd, overlay), brute_force(cd, overlay)
    for g, w in zip(got, want, strict=True):
        if not math.isfinite(w):
            assert g == w or (math.isnan(g) and math.isnan(w))
        else:
            assert g == pytest.approx(w, abs=0.01)


def table(dist: list[float], drift_pts: list[float], move: float = 100.0) -> B.Breakevens:
    n = 1
    return B.Breakevens(
        condors=condor(5500, 5600, 6250, 6350, 1, 20.0),
        lower=np.full(n, 5580.0),
        upper=np.full(n, 6270.0),
        overlay_usd=np.zeros(n),
        forward=np.full(n, 6000.0),
        expected_move=np.full(n, move),
        distance_sigma=np.array([dist]),
        valid=np.ones(n, np.bool_),
    )


def codes(dist: list[float], drift_pts: list[float], cfg: RulesConfig | None = None) -> list[int]:
    be = table(dist, drift_pts)
    return B.conditions(be, np.array([drift_pts]), cfg or RulesConfig()).reshape(-1).tolist()


def test_a_break_even_at_k_sigma_fires_just_inside_fires_just_outside_holds() -> None:
    assert codes([1.0, 1.0 - 1e-9], [0, 0])[::2] == [C.BREACH, C.BREACH]
    assert codes([1.0 + 1e-9, 1.2], [0, 0])[::2] == [C.HOLD, C.CLEAR]


def test_drift_fires_at_the_point_limit_or_the_sigma_limit_whichever_first() -> None:
    # default drift limits: 50 points or 0.5 expected moves (here 100 points: 50 points)
    assert codes([3, 3], [50.0, -49.99])[1::2] == [C.BREACH, C.HOLD]
    assert codes([3, 3], [39.99, 0.0])[1::2] == [C.CLEAR, C.CLEAR]


def test_a_condor_with_no_profit_zone_left_fires_one_alert_not_one_per_side() -> None:
    be = table([-math.inf, -math.inf], [math.nan, math.nan])
    be = B.Breakevens(
        **{**{f: getattr(be, f) for f in be.__slots__}, "lower": np.full(1, math.nan),
           "upper": np.full(1, math.nan)}
    )  # fmt: skip
    got = B.conditions(be, np.full((1, 2), math.nan), RulesConfig()).reshape(-1).tolist()
    lower_inside, upper_inside = got[0], got[2]
    assert (lower_inside, upper_inside) == (C.BREACH, C.CLEAR)


def test_a_condor_bought_for_more_than_it_can_pay_fires_one_no_profit_zone_alert() -> None:
    pf = msgspec.structs.asdict(portfolio())
    book = msgspec.structs.asdict(pf["books"][0])
    ic = msgspec.structs.asdict(book["condors"][0])
    ic["legs"] = [  # paid 500 a long wing, nothing for the shorts: a loss at every settlement
        {"symbol": x.symbol, "quantity": x.quantity, "entry_price": 0.0 if x.quantity < 0 else 500}
        for x in ic["legs"]
    ]
    w = World(book=msgspec.convert({"books": [{**book, "condors": [ic], "layers": []}]}, Portfolio))
    c = w.tick()
    inside = [s for s in c.signals if s.key.startswith("breakeven|main|IC:")]
    inside = [s for s in inside if s.key.endswith(":inside")]
    breached = [s.materialize() for s in inside if s.condition == "breach"]
    assert [s.key for s in breached] == ["breakeven|main|IC:lower:inside"]
    assert breached[0].summary == "IC has no profit zone left at expiry, hedge gain included"


def test_a_break_even_with_stale_inputs_is_unknown() -> None:
    be = table([0.2, 0.2], [0, 0])
    be = B.Breakevens(**{**{f: getattr(be, f) for f in be.__slots__}, "valid": np.zeros(1, bool)})
    assert set(B.conditions(be, np.zeros((1, 2)), RulesConfig()).reshape(-1).tolist()) == {
        C.UNKNOWN
    }


# ---- hedge-inclusive break-evens on the simulated market: the realized P&L ledger -----------


def _world(layer_qty: int = 4) -> World:
    w = World(book=portfolio(layer_qty=layer_qty))
    w.engine.reconcile_ledger(w.now_ns)  # the ledger records the positions the condor opens with
    return w


def _points(c: Cycle) -> tuple[np.ndarray, np.ndarray]:
    assert c.rules is not None
    be = c.rules.analysis.breakevens
    return be.points[0].copy(), be.distance_sigma[0].copy()


def _harvest(w: World, sold: int, layer_qty: int = 4) -> Cycle:
    """Sell ``sold`` contracts of L1 (a portfolio reload), realized at the last touch."""
    left = layer_qty - sold
    w.engine.set_portfolio(portfolio(layer_qty=left) if left else _no_layer())
    w.engine.reconcile_ledger(w.now_ns)
    return w.silent(0.0)


def _no_layer() -> Portfolio:
    pf = portfolio()
    return msgspec.structs.replace(pf, books=[msgspec.structs.replace(pf.books[0], layers=[])])


@settings(max_examples=25, deadline=None)
@given(vol=st.floats(0.18, 0.60), spx=st.floats(5700.0, 6100.0), sold=st.integers(1, 4))
def test_harvest_never_moves_break_even_closer(vol: float, spx: float, sold: int) -> None:
    w = _world()
    w.tick()
    (lo, hi), (d_lo, d_hi) = _points(w.tick(vol=vol, spx=spx))
    (lo2, hi2), (d_lo2, d_hi2) = _points(_harvest(w, sold))
    tol = 1e-6
    assert lo2 <= lo + tol and hi2 >= hi - tol  # never closer in points ...
    assert d_lo2 >= d_lo - tol and d_hi2 >= d_hi - tol  # ... nor in sigmas
    assert (lo2, hi2) == pytest.approx((lo, hi), abs=1e-6)  # at the touch: exactly where it was


def test_without_the_ledger_the_harvested_gain_would_drop_out() -> None:
    w = _world()
    w.tick()
    (lo, _), _ = _points(w.tick(vol=0.45, spx=5850.0))
    w.engine.set_portfolio(_no_layer())  # no reconcile: the realized gain is not booked
    (lo_lost, _), _ = _points(w.silent(0.0))
    assert lo_lost > lo + 1.0  # the bug the ledger fixes: the lower break-even moved closer


def test_a_gain_realized_before_the_condor_opened_does_not_count() -> None:
    w = World(book=_layer_only())
    w.engine.reconcile_ledger(w.now_ns)
    w.tick(vol=0.45)
    w.engine.set_portfolio(msgspec.convert({"books": [{"name": "main"}]}, Portfolio))
    assert len(w.engine.reconcile_ledger(w.now_ns)) == 1  # the layer's gain, realized
    w.market.now_ns += 5 * 1_000_000_000
    w.engine.set_portfolio(_no_layer())  # a new condor, opened after that harvest
    w.engine.reconcile_ledger(w.market.now_ns)
    c = w.silent(0.0)
    assert c.rules is not None
    be = c.rules.analysis.breakevens
    assert be.realized_usd is not None and be.realized_usd[0] == 0.0


def _layer_only() -> Portfolio:
    pf = portfolio()
    return msgspec.structs.replace(pf, books=[msgspec.structs.replace(pf.books[0], condors=[])])


def test_what_if_moves_the_break_evens_only_by_what_a_trade_changes_in_total() -> None:
    w = _world()
    c = w.tick(vol=0.40)
    assert c.rules is not None
    be = c.rules.analysis.breakevens
    same = B.what_if(be, 0)
    np.testing.assert_allclose(same.distance_sigma, be.distance_sigma)
    # a harvest at the touch: open P&L down, realized up by the same amount: nothing moves
    moved = B.what_if(be, 0, hedge_open_change_usd=-500.0, realized_change_usd=500.0)
    np.testing.assert_allclose(moved.lower, be.lower)
    # a roll bought at the ask costs its spread against the bid: the break-evens come closer
    rolled = B.what_if(be, 0, hedge_open_change_usd=-40.0)
    assert rolled.lower[0] > be.lower[0] and rolled.upper[0] < be.upper[0]
    assert rolled.closest_sigma()[0] < float(be.distance_sigma[0, 0])
