"""The vectorized per-cycle paths (book sums, funds, stress requirement changes, break-even
roots, condition codes, the curve) agree with plain per-leg / per-row references on a realistic
multi-book portfolio: condors, layers, a naked short, an unquoted leg. Tolerance: 1e-9 relative
plus 1e-6 absolute (USD or points); the references sum in another order."""

from __future__ import annotations

import datetime as dt
import math

import msgspec
import numpy as np
import pytest

from monitor import book as B
from monitor import symbols
from monitor.engine import Cycle
from monitor.market import MarketState
from monitor.model import CONTRACT_MULTIPLIER, Portfolio, Quote
from monitor.rules import breakeven, codes, margin, stress, term_structure
from monitor.rules.config import StressConfig
from monitor.symbols import Kind
from tests.unit.rules.rules_world import CONDOR, World

RTOL, ATOL = 1e-9, 1e-6
NAKED_PUT = "SPXW270115P05400000"
UNQUOTED = "VIX261216C00090000"  # not in the simulated universe: never quoted, no mark


def close(got: object, want: object) -> None:
    np.testing.assert_allclose(
        np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=RTOL, atol=ATOL
    )


def mixed_portfolio() -> Portfolio:
    condor = [{"symbol": s, "quantity": q, "entry_price": p} for s, q, p in CONDOR]
    books = []
    for b in range(4):
        layers = [{"name": "L1", "legs": [
            {"symbol": "VIX261216C00020000", "quantity": 2 + b, "entry_price": 0.85}]}]
        if b == 1:
            layers.append({"name": "L2", "legs": [
                {"symbol": UNQUOTED, "quantity": 1, "entry_price": 0.10}]})
        others = [{"name": "N", "legs": [
            {"symbol": NAKED_PUT, "quantity": -1 - b, "entry_price": 20.0}]}] if b % 2 else []
        books.append({
            "name": f"b{b}",
            "cash_usd": 50_000.0 + 10_000.0 * b,
            "condors": [{"name": f"IC{b}", "legs": condor}],
            "layers": layers,
            "others": others,
        })  # fmt: skip
    return msgspec.convert({"books": books}, Portfolio)


@pytest.fixture(scope="module")
def cycle() -> Cycle:
    w = World(book=mixed_portfolio())
    w.tick()
    return w.tick(vol=0.28)


def test_the_portfolio_has_an_unpriced_leg_and_a_naked_short(cycle: Cycle) -> None:
    st = cycle.state
    assert int(st.book_unpriced_legs.sum()) == 1
    assert cycle.rules is not None
    assert len(cycle.rules.analysis.stress.funds.cash_usd) == 4


def test_book_numbers_match_a_per_leg_reference(cycle: Cycle) -> None:
    st, val, idx = cycle.state, cycle.valuation, cycle.state.index
    n_s, n_b = len(idx.struct_names), len(idx.book_names)
    r = idx.leg_row
    units = idx.leg_qty * CONTRACT_MULTIPLIER
    fwd = val.forward[r]
    greeks = {
        "delta": val.delta[r] * fwd * 0.01 * units,
        "gamma": val.gamma[r] * (fwd * 0.01) ** 2 * units,
        "vega": val.vega[r] * units,
        "theta": val.theta[r] * units,
    }
    vol = np.where(val.universe.kind[r] == int(Kind.OPTION), val.vol[r], 0.0)
    for i in range(len(r)):
        checks = [st.leg_mid[i], fwd[i], vol[i], *(g[i] for g in greeks.values())]
        first_bad = next((j for j, x in enumerate(checks) if not math.isfinite(x)), None)
        want = B.PRICED if first_bad is None else min(first_bad + 1, B.NO_GREEKS)
        assert st.leg_unpriced[i] == want
    close(st.leg_delta_1pct_usd, greeks["delta"])
    close(st.leg_gamma_1pct_usd, greeks["gamma"])
    value = st.leg_mid * units
    for s in range(n_s):
        legs = np.flatnonzero(idx.leg_struct == s)
        close(st.struct_value_usd[s], value[legs].sum())  # NaN when any leg is
        close(st.struct_vega_usd[s], greeks["vega"][legs].sum())
        close(st.struct_cost_usd[s], (idx.leg_entry[legs] * units[legs]).sum())
        assert st.struct_stale[s] == bool(st.leg_stale[legs].any())
    priced = st.leg_unpriced == B.PRICED
    owner = idx.struct_book[idx.leg_struct]
    for b in range(n_b):
        mine = (owner == b) & priced
        spx = mine & idx.leg_is_spx
        close(st.book_value_usd[b], value[mine].sum() + idx.cash_usd[b])
        close(st.book_theta_usd[b], greeks["theta"][mine].sum())
        close(st.book_delta_spx_1pct_usd[b], greeks["delta"][spx].sum())
        close(st.book_delta_vix_1pct_usd[b], greeks["delta"][mine & ~idx.leg_is_spx].sum())
        close(st.book_gamma_spx_1pct_usd[b], greeks["gamma"][spx].sum())
        assert st.book_unpriced_legs[b] == int(((owner == b) & ~priced).sum())
        want_stale = bool((mine & st.leg_stale).any()) or not mine.any()
        assert st.book_stale[b] == want_stale


def test_funds_match_a_per_leg_reference(cycle: Cycle) -> None:
    assert cycle.rules is not None
    st, val, idx = cycle.state, cycle.valuation, cycle.state.index
    f = margin.funds(st, val, idx.cash_usd, 30.0)
    liability, earn = np.zeros(len(idx.book_names)), np.zeros(len(idx.book_names))
    u = val.universe
    for i, row in enumerate(idx.leg_row.tolist()):
        if idx.leg_qty[i] >= 0:
            continue
        b = int(idx.struct_book[idx.leg_struct[i]])
        liability[b] -= np.nan_to_num(st.leg_value_usd[i])
        mark = st.leg_mid[i]
        near = val.t_years[row] * 365.0 <= 30.0
        if st.leg_theta_usd[i] > 0 and near and math.isfinite(mark):
            intrinsic = np.nan_to_num(max(u.cp[row] * (val.forward[row] - u.strike[row]), 0.0))
            left = max(min(mark, idx.leg_entry[i]) - intrinsic, 0.0)
            earn[b] += -idx.leg_qty[i] * CONTRACT_MULTIPLIER * left
    close(f.short_liability_usd, liability)
    close(f.premium_to_earn_usd, earn)


def test_stress_requirements_match_the_full_requirement_per_scenario(cycle: Cycle) -> None:
    """requirement(g) = now + (full requirement at g - at no shock); the spread and condor parts
    are left out of the change (they cancel), so this pins the uncovered shorts' part."""
    assert cycle.rules is not None and cycle.market is not None
    st, idx = cycle.rules.analysis.stress, cycle.state.index
    uncovered = [ln for ln in st.margin_lines if ln.kind == "uncovered"]
    assert len(uncovered) == 2 and all(ln.usd > 0 for ln in uncovered)
    exp = stress.exposure(idx, cycle.market)
    rv = stress.revalue(exp, cycle.valuation, StressConfig())
    assert exp.margin is not None
    ok = np.isfinite(rv.grid - rv.base[None, :])
    base = np.nan_to_num(rv.base)
    value = np.where(ok, rv.grid, base[None, :])
    fwd0 = cycle.valuation.forward[exp.rows][None, :]
    n_b = len(idx.book_names)
    req, beyond = margin.requirement(exp.margin, n_b, value, rv.forward, exp.cp, exp.strike)
    req0, beyond0 = margin.requirement(exp.margin, n_b, base[None, :], fwd0, exp.cp, exp.strike)
    assert np.abs(req - req0).max() > 0  # the naked shorts really move
    close(st.requirement_usd, st.requirement_now_usd[:, None] + (req - req0))
    close(st.call_usd, (beyond - beyond0) - st.pnl)
    close(st.requirement_now_usd, req0[:, 0])


def reference_roots(nodes: np.ndarray, pnl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = np.full(len(pnl), np.nan), np.full(len(pnl), np.nan)
    for i, (x, y) in enumerate(zip(nodes, pnl, strict=True)):
        top = int(np.argmax(y))
        if y[top] < 0:
            continue
        lo = [j for j in range(top) if y[j] < 0]
        hi = [j for j in range(top + 1, len(y)) if y[j] < 0]

        def root(a: int, b: int, xs: np.ndarray = x, ys: np.ndarray = y) -> float:
            return float(xs[a] + (0.0 - ys[a]) * (xs[b] - xs[a]) / (ys[b] - ys[a]))

        lower[i] = root(lo[-1], lo[-1] + 1) if lo else -np.inf
        upper[i] = root(hi[0] - 1, hi[0]) if hi else np.inf
    return lower, upper


def test_breakeven_roots_match_a_per_row_reference() -> None:
    rng = np.random.default_rng(7)
    nodes = np.sort(rng.uniform(0.0, 9000.0, (400, 6)), axis=1)
    pnl = rng.normal(0.0, 1.0, (400, 6)) * rng.choice([0.0, 1.0, 1e3], (400, 6))
    got, want = breakeven.roots(nodes, pnl), reference_roots(nodes, pnl)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_levels_above_matches_a_per_element_reference_and_broadcasts() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(1.0, 1.0, (300, 1))
    x[rng.random((300, 1)) < 0.05] = np.nan
    unknown = rng.random((300, 1)) < 0.05
    fire = np.array([[1.0, 1.5, 2.0]])
    got = codes.levels_above(x, fire, fire - 0.2, unknown)
    assert got.shape == (300, 3) and got.dtype == np.int8
    for i in range(300):
        for j in range(3):
            v = x[i, 0]
            want = (
                codes.UNKNOWN if math.isnan(v) or unknown[i, 0]
                else codes.CLEAR if v < fire[0, j] - 0.2
                else codes.BREACH if v >= fire[0, j]
                else codes.HOLD
            )  # fmt: skip
            assert got[i, j] == want


def test_the_curve_sees_a_future_registered_after_the_first_cycle() -> None:
    m = MarketState()
    t0 = 1_800_000_000 * 1_000_000_000
    today = dt.date(2026, 11, 24)
    jan, feb = (symbols.future_symbol(d) for d in (dt.date(2027, 1, 20), dt.date(2027, 2, 17)))

    def curve() -> list[str]:
        c = term_structure.analyze(
            m, today, t0, is_monthly=lambda d: True, max_age_ns=10**12, stale=False
        )
        return [p.symbol for p in c.points]

    m.apply([Quote(sym=jan, ts=t0, bid=18.0, ask=18.1)])
    assert curve() == [jan]
    m.apply([Quote(sym=feb, ts=t0, bid=19.0, ask=19.1)])
    assert curve() == [jan, feb]


def test_unpriced_names_each_books_unpriced_legs(cycle: Cycle) -> None:
    st, idx = cycle.state, cycle.state.index
    owner = idx.struct_book[idx.leg_struct]
    for b in range(len(idx.book_names)):
        want = [
            (idx.leg_symbol[i], B.UNPRICED_REASONS[int(st.leg_unpriced[i])])
            for i in np.flatnonzero((owner == b) & (st.leg_unpriced != B.PRICED)).tolist()
        ]
        assert st.unpriced(b) == want
    assert st.unpriced(1) == [(UNQUOTED, "no_mark")]


def test_a_few_books_compute_like_the_same_books_of_the_whole_portfolio(cycle: Cycle) -> None:
    """A partial evaluation's index is small: compute works on its own instruments alone."""
    assert cycle.market is not None
    m, val, full = cycle.market, cycle.valuation, cycle.state.index
    bid, ask, _ = m.view()
    n = len(m)
    marks = m.marks(cycle.now_ns, 10**12)

    def state(idx: B.PortfolioIndex) -> B.PortfolioState:
        kw = {"mark_max_age_ns": 10**12, "market_stale": False, "marks": marks}
        return B.compute(idx, val, bid, ask, m.ts_ns[:n], cycle.now_ns, **kw)  # type: ignore[arg-type]

    whole = state(full)
    book = mixed_portfolio().books[1]
    sub = state(B.PortfolioIndex.build(Portfolio(books=[book]), m.index))
    assert 4 * len(sub.index.leg_row) < n  # the small-index path
    legs = full.book_legs(1)
    for name in ("leg_mid", "leg_value_usd", "leg_vega_usd", "leg_bid", "leg_mark_ts_ns"):
        close(getattr(sub, name), getattr(whole, name)[legs.start : legs.stop])
    assert list(sub.leg_unpriced) == list(whole.leg_unpriced[legs.start : legs.stop])
    assert list(sub.leg_mark_source) == list(whole.leg_mark_source[legs.start : legs.stop])
    for name in ("book_value_usd", "book_vega_usd", "book_delta_spx_1pct_usd"):
        close(getattr(sub, name), getattr(whole, name)[1:2])
    assert sub.unpriced(0) == whole.unpriced(1)
