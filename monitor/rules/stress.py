"""Stress coverage: full revaluation of every book on a spot x vol grid, vectorized.

Grid (default 11 x 7): SPX moves ``spot_shocks`` (-15% ... +10%) x parallel SPX vol shifts
``vol_shifts`` (vol points). In a scenario (s, v):
- SPX/SPXW options: forward F (1 + s), implied vol IV + v/100;
- VIX/VIXW options: their VX future moves consistently with the vol shift,
  F + vix_beta x v x exp(-vx_decay_per_year x T), and their implied vol IV + vix_vol_scale x v/100;
- vols are floored at ``vol_floor``; time, rates and discount factors stay as they are (an
  instantaneous shock). Every option is repriced with Black-76 (``monitor.pricing.black``).

Each distinct instrument is repriced once per scenario (scenarios x instruments), and the
per-book P&L is one sparse product (books x instruments) @ (instruments x scenarios): no Python
loop per leg or per book. The P&L is measured against the same model at zero shock, so the
unshocked scenario is exactly 0.

worst loss = max(0, -min P&L over the grid): the variation margin the book may have to post.
coverage = (cash + |value| of the near-term theta-positive legs) / worst loss: the short premium
that decays to the book within ``near_term_days`` plus its cash. Key ``coverage`` per book fires
at or below ``min_coverage`` (re-arms above ``min_coverage + hysteresis``); a book with a leg
lacking a fresh mark or an implied vol is ``unknown``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from monitor import symbols
from monitor.book import PortfolioIndex, PortfolioState
from monitor.market import MarketState
from monitor.model import CONTRACT_MULTIPLIER
from monitor.pricing import black
from monitor.pricing.valuation import Valuation
from monitor.rules import codes as C
from monitor.rules.base import Signal
from monitor.rules.config import StressConfig

if TYPE_CHECKING:
    from monitor.rules.context import RuleContext
    from monitor.settings import RulesConfig

RULE = "stress"
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Exposure:
    """The distinct instruments the legs hold and each book's units in them (built per index)."""

    rows: NDArray[np.int64]
    cp: F64
    strike: F64
    is_spx: NDArray[np.bool_]
    weights: sparse.csr_matrix
    """books x instruments: sum of qty x 100."""


def exposure(index: PortfolioIndex, market: MarketState) -> Exposure:
    rows, inverse = np.unique(index.leg_row, return_inverse=True)
    insts = [market.instruments[int(r)] for r in rows]
    n_b = len(index.book_names)
    w = sparse.csr_matrix(
        (index.leg_qty * CONTRACT_MULTIPLIER, (index.struct_book[index.leg_struct], inverse)),
        shape=(n_b, len(rows)),
    )
    return Exposure(
        rows=rows.astype(np.int64),
        cp=np.array([float(i.right) for i in insts], np.float64),
        strike=np.array([i.strike for i in insts], np.float64),
        is_spx=np.array([i.root in symbols.SPX_ROOTS for i in insts], np.bool_),
        weights=w,
    )


def scenarios(cfg: StressConfig) -> tuple[F64, F64]:
    """Return the (spot shock, vol shift) of every scenario, spot-major."""
    s, v = np.meshgrid(np.asarray(cfg.spot_shocks), np.asarray(cfg.vol_shifts), indexing="ij")
    return s.reshape(-1), v.reshape(-1)


def revalue(ex: Exposure, val: Valuation, cfg: StressConfig) -> tuple[F64, F64]:
    """Return (value at zero shock per instrument, value per scenario x instrument)."""
    r = ex.rows
    fwd, t, df, iv = val.forward[r], val.t_years[r], val.df[r], val.vol[r]
    shock, shift = scenarios(cfg)
    vix_move = cfg.vix_beta * shift[:, None] * np.exp(-cfg.vx_decay_per_year * t)[None, :]
    f_g = np.where(ex.is_spx, fwd * (1.0 + shock[:, None]), np.maximum(fwd + vix_move, 0.01))
    dvol = np.where(ex.is_spx, 1.0, cfg.vix_vol_scale) * shift[:, None] / 100.0
    v_g = np.maximum(iv + dvol, cfg.vol_floor)
    base = black.price(ex.cp, fwd, ex.strike, t, df, iv)
    return base, black.price(ex.cp, f_g, ex.strike, t, df, v_g)


@dataclass(frozen=True, slots=True)
class Stress:
    """Per book of the index."""

    pnl: F64
    """books x scenarios, USD."""
    worst_loss_usd: F64
    worst_scenario: NDArray[np.int64]
    assets_usd: F64
    coverage: F64
    spot_shocks: F64
    vol_shifts: F64


def coverage_assets(state: PortfolioState, val: Valuation, near_term_days: float) -> F64:
    """Return cash + |value| of each book's theta-positive legs expiring within the window."""
    idx = state.index
    days = val.t_years[idx.leg_row] * 365.0
    take = (state.leg_theta_usd > 0) & (days <= near_term_days) & ~np.isnan(state.leg_value_usd)
    legs = np.where(take, np.abs(state.leg_value_usd), 0.0)
    n_b = len(idx.book_names)
    return idx.cash_usd + np.bincount(idx.struct_book[idx.leg_struct], legs, minlength=n_b)


def analyze(state: PortfolioState, val: Valuation, ex: Exposure, cfg: StressConfig) -> Stress:
    base, grid = revalue(ex, val, cfg)
    pnl = np.asarray((ex.weights @ (grid - base[None, :]).T), np.float64)
    n_b = pnl.shape[0]
    if pnl.shape[1] and n_b:
        worst_i = np.argmin(np.where(np.isnan(pnl), np.inf, pnl), axis=1)
        worst = np.maximum(-pnl[np.arange(n_b), worst_i], 0.0)
        worst = np.where(np.isnan(pnl).any(axis=1), np.nan, worst)
    else:
        worst_i, worst = np.zeros(n_b, np.int64), np.zeros(n_b)
    assets = coverage_assets(state, val, cfg.near_term_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = np.where(worst > 0, assets / worst, np.inf)
    cov = np.where(np.isnan(worst), np.nan, cov)
    shock, shift = scenarios(cfg)
    return Stress(
        pnl=pnl,
        worst_loss_usd=worst,
        worst_scenario=worst_i.astype(np.int64),
        assets_usd=assets,
        coverage=cov,
        spot_shocks=shock,
        vol_shifts=shift,
    )


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    del now_ns
    st = ctx.analysis.stress
    sc = cfg.stress
    stale = (
        np.bincount(
            ctx.state.index.struct_book,
            ctx.state.struct_stale.astype(np.float64),
            minlength=len(ctx.state.index.book_names),
        )
        > 0
    )
    codes = C.levels_below(st.coverage, sc.min_coverage, sc.min_coverage + sc.hysteresis, stale)
    idx = ctx.state.index
    layout = ctx.layouts.get(
        RULE,
        idx,
        cfg,
        lambda: C.Layout.of(RULE, idx.book_names, ["coverage"] * len(idx.book_names)),
    )
    return [
        C.lazy(
            RULE,
            layout.books[b],
            "coverage",
            int(codes[b]),
            sc.severity,
            ctx.context,
            partial(_signal, ctx, b, int(codes[b]), cfg),
        )
        for b in ctx.select(RULE, layout, codes).tolist()
    ]


def _signal(ctx: RuleContext, b: int, code: int, cfg: RulesConfig) -> Signal:
    st = ctx.analysis.stress
    w = int(st.worst_scenario[b])
    shock, shift = float(st.spot_shocks[w]), float(st.vol_shifts[w])
    worst, assets, cov = float(st.worst_loss_usd[b]), float(st.assets_usd[b]), float(st.coverage[b])
    vals: dict[str, float | int | str | bool | None] = {
        "worst_loss_usd": _r(worst),
        "coverage_assets_usd": _r(assets),
        "coverage": None if not math.isfinite(cov) else round(cov, 3),
        "min_coverage": cfg.stress.min_coverage,
        "worst_spot_shock": shock,
        "worst_vol_shift": shift,
    }
    book = ctx.state.index.book_names[b]
    if code == C.UNKNOWN:
        summary = "stress coverage unknown: a leg lacks a fresh mark or an implied vol"
    else:
        summary = (
            f"stress coverage {cov:.2f}x: worst loss {worst:,.0f} USD at SPX {shock:+.1%}, "
            f"vol {shift:+g} pts vs cash + near-term premium {assets:,.0f} USD"
        )
    action = None
    if code == C.BREACH:
        action = (
            f"Coverage below {cfg.stress.min_coverage:g}x: raise cash or cut the risk that "
            "loses in the worst scenario before a margin call does it for you."
        )
    return Signal(
        rule=RULE,
        book=book,
        subject="coverage",
        condition=C.CONDITIONS[code],
        severity=cfg.stress.severity,
        summary=summary,
        values=vals,
        action=action,
        context=ctx.context,
    )


def _r(x: float) -> float | None:
    return None if not math.isfinite(x) else round(x, 2)
