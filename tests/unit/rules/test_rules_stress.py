"""The stress grid: the vectorized revaluation equals a scalar one, leg by leg, scenario by
scenario; the unshocked scenario is exactly flat."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from monitor.pricing import black
from monitor.rules import stress as S
from monitor.rules.config import StressConfig


@dataclass
class FakeValuation:
    forward: np.ndarray
    t_years: np.ndarray
    df: np.ndarray
    vol: np.ndarray


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
    shocks, shifts = S.scenarios(cfg)
    out = np.zeros((3, len(shocks)))
    for g, (s, v) in enumerate(zip(shocks.tolist(), shifts.tolist(), strict=True)):
        for i in range(10):
            f, k, t, df, iv = (
                float(val.forward[i]),
                float(ex.strike[i]),
                float(val.t_years[i]),
                float(val.df[i]),
                float(val.vol[i]),
            )
            if ex.is_spx[i]:
                f2, iv2 = f * (1 + s), max(iv + v / 100, cfg.vol_floor)
            else:
                f2 = max(f + cfg.vix_beta * v * math.exp(-cfg.vx_decay_per_year * t), 0.01)
                iv2 = max(iv + cfg.vix_vol_scale * v / 100, cfg.vol_floor)
            cp = float(ex.cp[i])
            d = float(black.price(cp, f2, k, t, df, iv2)) - float(black.price(cp, f, k, t, df, iv))
            out[book[i], g] += qty[i] * 100 * d
    return out


def test_the_default_grid_is_at_least_eleven_spot_moves_by_seven_vol_shifts() -> None:
    cfg = StressConfig()
    assert len(cfg.spot_shocks) >= 11 and len(cfg.vol_shifts) >= 7
    assert (cfg.spot_shocks[0], cfg.spot_shocks[-1]) == (-0.15, 0.10)


def test_the_vectorized_grid_equals_a_scalar_revaluation_of_every_leg() -> None:
    ex, val, book, qty = universe()
    cfg = StressConfig()
    base, grid = S.revalue(ex, val, cfg)  # type: ignore[arg-type]
    pnl = np.asarray(ex.weights @ (grid - base[None, :]).T)
    np.testing.assert_allclose(pnl, scalar_pnl(ex, val, book, qty, cfg), rtol=1e-9, atol=1e-6)


def test_the_unshocked_scenario_has_exactly_zero_pnl() -> None:
    ex, val, _, _ = universe()
    cfg = StressConfig(spot_shocks=[-0.1, 0.0, 0.1], vol_shifts=[0.0, 5.0])
    base, grid = S.revalue(ex, val, cfg)  # type: ignore[arg-type]
    shocks, shifts = S.scenarios(cfg)
    flat = int(np.flatnonzero((shocks == 0) & (shifts == 0))[0])
    assert np.array_equal(grid[flat], base)


def test_a_leg_without_an_implied_vol_makes_its_book_unknown_not_safe() -> None:
    ex, val, book, _ = universe()
    val.vol[0] = np.nan
    base, grid = S.revalue(ex, val, StressConfig())  # type: ignore[arg-type]
    pnl = np.asarray(ex.weights @ (grid - base[None, :]).T)
    assert np.isnan(pnl[book[0]]).all() and not np.isnan(pnl[2]).any()
