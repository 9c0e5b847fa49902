"""The stress grid: spot and vol move together (the spot-vol model), the vectorized revaluation
equals a scalar one leg by leg, the unshocked scenario is exactly flat, the worst case is a fall
with vol up; coverage counts short marks as liabilities; a broker's numbers win."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import pytest
from scipy import sparse

from monitor.model import Portfolio
from monitor.pricing import black
from monitor.pricing.smile import Smile
from monitor.rules import stress as S
from monitor.rules.config import StressConfig, check_stress
from monitor.rules.margin import BrokerAccount
from tests.unit.rules.rules_world import CONDOR, World

SHORT_PUT = "SPXW270115P05600000"


@dataclass
class FakeUniverse:
    chain_id: np.ndarray


@dataclass
class FakeValuation:
    forward: np.ndarray
    t_years: np.ndarray
    df: np.ndarray
    vol: np.ndarray
    universe: FakeUniverse = field(default_factory=lambda: FakeUniverse(np.full(10, -1)))
    smiles: tuple[Smile, ...] = ()


def universe(seed: int = 3) -> tuple[S.Exposure, FakeValuation, np.ndarray, np.ndarray]:
    """Six SPX and four VIX options held by three books in random signed quantities."""
    rng = np.random.default_rng(seed)
    is_spx = np.array([True] * 6 + [False] * 4)
    cp = rng.choice([-1.0, 1.0], 10)
    fwd = np.where(is_spx, 6000.0, rng.uniform(15, 30, 10))
    strike = np.where(is_spx, rng.uniform(5000, 6800, 10), rng.uniform(12, 45, 10))
    t = rng.uniform(0.02, 0.6, 10)
    vol = np.where(is_spx, rng.uniform(0.1, 0.35, 10), rng.uniform(0.6, 1.4, 10))
    book = np.array([0, 0, 1, 1, 2, 2, 0, 1, 2, 2])
    qty = rng.integers(-5, 6, 10).astype(np.float64)
    w = sparse.csr_matrix((qty * 100.0, (book, np.arange(10))), shape=(3, 10))
    ex = S.Exposure(rows=np.arange(10), cp=cp, strike=strike, is_spx=is_spx, weights=w)
    return ex, FakeValuation(fwd, t, np.exp(-0.04 * t), vol), book, qty


def scalar_pnl(
    ex: S.Exposure, val: FakeValuation, book: np.ndarray, qty: np.ndarray, cfg: StressConfig
) -> np.ndarray:
    """The spot-vol model written out one scenario and one leg at a time (no smile: flat)."""
    out = np.zeros((3, len(cfg.spot_shocks) * len(cfg.vol_band)))
    g = 0
    for s in cfg.spot_shocks:
        fall, rise = max(-s, 0) * 100, max(s, 0) * 100
        model = cfg.vol_per_pct_down * fall + cfg.vol_convexity * fall**2
        model -= cfg.vol_per_pct_up * rise
        for band in cfg.vol_band:
            v = model + band
            for i in range(10):
                f, k, t = float(val.forward[i]), float(ex.strike[i]), float(val.t_years[i])
                df, iv, cp = float(val.df[i]), float(val.vol[i]), float(ex.cp[i])
                if ex.is_spx[i]:
                    term = math.sqrt(cfg.term_ref_days / max(t * 365, cfg.term_ref_days))
                    f2, iv2 = f * (1 + s), max(iv + v * term / 100, cfg.vol_floor)
                else:
                    move = cfg.vix_beta * v * math.exp(-cfg.vx_decay_per_year * t)
                    f2 = max(f + move, 0.01)
                    iv2 = max(iv + cfg.vix_vol_scale * move / 100, cfg.vol_floor)
                d = float(black.price(cp, f2, k, t, df, iv2))
                d -= float(black.price(cp, f, k, t, df, iv))
                out[book[i], g] += qty[i] * 100 * d
            g += 1
    return out


def pnl_of(ex: S.Exposure, val: FakeValuation, cfg: StressConfig) -> np.ndarray:
    rv = S.revalue(ex, val, cfg)  # type: ignore[arg-type]
    return np.asarray(ex.weights @ (rv.grid - rv.base[None, :]).T)


def test_the_default_grid_is_eleven_spot_moves_each_with_its_model_vol_and_a_band() -> None:
    cfg = StressConfig()
    shock, dvol = S.scenarios(cfg)
    assert (cfg.spot_shocks[0], cfg.spot_shocks[-1], len(cfg.spot_shocks)) == (-0.15, 0.10, 11)
    assert len(shock) == 11 * len(cfg.vol_band)
    model = S.model_vol_shift(cfg, np.array([-0.15, -0.05, 0.0, 0.10]))
    # 1 point per 1% fall + 0.05 per (1% fall)^2; 0.4 points down per 1% rise
    np.testing.assert_allclose(model, [15 + 0.05 * 225, 5 + 0.05 * 25, 0.0, -4.0])
    assert dvol[shock == -0.15].min() > 0  # even the band's low end: a fall never lowers vol


def test_vol_rises_as_spot_falls_and_never_the_other_way_round() -> None:
    cfg = StressConfig()
    model = S.model_vol_shift(cfg, np.asarray(cfg.spot_shocks))
    assert np.all(np.diff(model) < 0)


def test_the_vectorized_grid_equals_a_scalar_revaluation_of_every_leg() -> None:
    ex, val, book, qty = universe()
    cfg = StressConfig()
    np.testing.assert_allclose(
        pnl_of(ex, val, cfg), scalar_pnl(ex, val, book, qty, cfg), rtol=1e-9, atol=1e-6
    )


def test_the_unshocked_scenario_has_exactly_zero_pnl() -> None:
    ex, val, _, _ = universe()
    cfg = StressConfig(spot_shocks=[-0.1, 0.0, 0.1], vol_band=[0.0, 5.0])
    rv = S.revalue(ex, val, cfg)  # type: ignore[arg-type]
    shocks, shifts = S.scenarios(cfg)
    flat = int(np.flatnonzero((shocks == 0) & (shifts == 0))[0])
    assert np.array_equal(rv.grid[flat], rv.base)


def test_sticky_moneyness_reads_the_smile_at_the_strike_over_the_spot_move() -> None:
    smile = Smile.from_quotes(
        6000.0, 0.12, [5000, 5500, 6000, 6500], [0.30, 0.22, 0.15, 0.12], [0.30, 0.22, 0.15, 0.12]
    )
    val = FakeValuation(
        np.full(2, 6000.0), np.full(2, 0.12), np.ones(2), np.full(2, 0.2),
        universe=FakeUniverse(np.array([0, 0])), smiles=(smile,),
    )  # fmt: skip
    strikes = np.array([5500.0, 6000.0])
    shift = S.skew_shift(val, np.arange(2), strikes, np.full((1, 2), 1 / 1.1))  # type: ignore[arg-type]
    # after a fall to 1/1.1 of the forward, strike K has the vol the smile gave K x 1.1
    want = smile.iv(strikes * 1.1) - smile.iv(strikes)
    np.testing.assert_allclose(shift[0], want)
    assert shift[0, 0] < 0  # the put wing's strike is now nearer the money: its vol falls


def test_a_leg_without_an_implied_vol_makes_its_instrument_nan_in_the_grid() -> None:
    ex, val, _, _ = universe()
    val.vol[0] = np.nan
    rv = S.revalue(ex, val, StressConfig())  # type: ignore[arg-type]
    assert np.isnan(rv.grid[:, 0]).all() and not np.isnan(rv.grid[:, 1:]).any()


# ---- whole books on the simulated market --------------------------------------------------


def book(legs: list[tuple[str, int, float]], cash: float = 60_000.0) -> Portfolio:
    doc = [{"symbol": s, "quantity": q, "entry_price": p} for s, q, p in legs]
    return msgspec.convert(
        {"books": [{"name": "main", "cash_usd": cash, "condors": [{"name": "X", "legs": doc}]}]},
        Portfolio,
    )


def stress_at(pf: Portfolio, spx: float = 6000.0, vol: float = 0.14, **kw: Any) -> S.Stress:
    w = World(book=pf)
    w.engine.accounts.update(kw.get("accounts", {}))
    c = w.tick(spx=spx, vol=vol)
    assert c.rules is not None
    return c.rules.analysis.stress


def test_worst_scenario_is_spot_down_with_vol_up() -> None:
    st = stress_at(book([CONDOR[0], CONDOR[1]]))  # the condor's put credit spread
    w = int(st.worst_scenario[0])
    assert st.spot_shocks[w] == min(StressConfig().spot_shocks) and st.vol_shifts[w] > 0


def test_short_put_losing_money_lowers_coverage() -> None:
    pf = book([(SHORT_PUT, -2, 27.40)])
    before, after = stress_at(pf, spx=6000.0), stress_at(pf, spx=5850.0, vol=0.17)
    assert after.funds.short_liability_usd[0] > before.funds.short_liability_usd[0]
    assert after.coverage[0] < before.coverage[0]


def test_short_legs_losing_money_lower_the_funds_they_never_count_as_assets() -> None:
    pf = book(CONDOR)
    path = [stress_at(pf, spx=s, vol=v) for s, v in [(6000, 0.14), (5900, 0.17), (5800, 0.20)]]
    liab = [float(p.funds.short_liability_usd[0]) for p in path]
    funds = [float(p.funds.total_usd[0]) for p in path]
    assert liab[0] < liab[1] < liab[2]
    assert funds[0] > funds[1] > funds[2]


def test_coverage_is_funds_over_the_worst_call_of_the_grid() -> None:
    st = stress_at(book(CONDOR))
    assert st.worst_call_usd[0] == pytest.approx(st.call_usd[0].max())
    assert st.coverage[0] == pytest.approx(st.funds.total_usd[0] / st.worst_call_usd[0])
    assert st.funds.total_usd[0] == pytest.approx(
        st.funds.cash_usd[0] - st.funds.short_liability_usd[0] + st.funds.premium_to_earn_usd[0]
    )
    # a condor's requirement does not move with the market: the call is the loss
    np.testing.assert_allclose(st.call_usd[0], -st.pnl[0])


def test_iron_condor_requirement_in_every_scenario_is_the_wider_wing() -> None:
    st = stress_at(book(CONDOR))
    np.testing.assert_allclose(st.requirement_usd[0], 100 * 100 * 2)


def test_a_broker_reported_requirement_and_cash_win_and_say_where_they_come_from() -> None:
    acct = BrokerAccount(requirement_usd=25_000.0, cash_usd=41_000.0, source="tastytrade 5WT1")
    st = stress_at(book(CONDOR), accounts={"main": acct})
    assert st.requirement_now_usd[0] == 25_000.0 and st.requirement_source[0] == "tastytrade 5WT1"
    assert st.funds.cash_usd[0] == 41_000.0 and st.cash_source[0] == "tastytrade 5WT1"
    np.testing.assert_allclose(st.requirement_usd[0], 25_000.0)  # plus the model's change: 0


def test_a_bad_spot_vol_model_names_its_toml_path() -> None:
    errors = check_stress(StressConfig(vol_band=[5.0, 0.0], vol_per_pct_down=-1.0, term_ref_days=0))
    assert errors == [
        "rules.stress.vol_band: needs at least 1 value, ascending",
        "rules.stress.vol_per_pct_down: must not be negative",
        "rules.stress.term_ref_days: must be positive",
    ]


def test_a_short_call_losing_money_in_a_rally_lowers_the_condor_books_coverage() -> None:
    # the book's worst case is a further rally with vol down: the losing side is the one at risk
    pf = book(CONDOR)
    before, after = stress_at(pf, spx=6000.0, vol=0.14), stress_at(pf, spx=6150.0, vol=0.12)
    w = int(after.worst_scenario[0])
    assert after.spot_shocks[w] > 0 and after.vol_shifts[w] < 0
    assert after.funds.total_usd[0] < before.funds.total_usd[0]
    assert after.coverage[0] < before.coverage[0]
