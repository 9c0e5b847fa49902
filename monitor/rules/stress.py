"""Stress and margin: every book revalued along a spot-vol path, its requirement in each scenario.

**The spot-vol model.** A scenario is an instantaneous SPX move ``s`` (``spot_shocks``,
-15% ... +10%) with the vol the model says comes with it, plus a vol-of-vol band (``vol_band``):

    dvol(s) = vol_per_pct_down x d + vol_convexity x d^2 - vol_per_pct_up x u      (+ band)
              d = max(-s, 0) x 100, u = max(s, 0) x 100: the fall and the rise in percent

``dvol`` is the change of SPX 30-day ATM implied vol in vol points. From it:

- SPX/SPXW options: forward F (1 + s); the smile keeps its shape in moneyness (sticky
  moneyness: a strike's vol becomes the smile's vol at K / (1 + s)) and shifts by
  dvol x sqrt(term_ref_days / max(T, term_ref_days)) (longer expiries move less);
- VIX/VIXW options: the VIX index moves vix_beta x dvol points; the VX future of the option's
  expiry moves that times exp(-vx_decay_per_year x T) (further futures move less), its smile
  is sticky in moneyness too and shifts by vix_vol_scale x that move (vol of vol rises with VIX);
- vols are floored at ``vol_floor``; time, rates and discount factors stay as they are. Every
  option is repriced with Black-76 (``monitor.pricing.black``).

So the grid is ``len(spot_shocks) x len(vol_band)`` scenarios that can happen together, and its
worst case is a fall with vol up, not a fall with vol down. Each distinct instrument is repriced
once per scenario and the per-book P&L is one sparse product, measured against the same model at
zero shock (the unshocked scenario is exactly 0). An instrument that cannot be priced (no forward
or vol) is left out of the grid; its legs are named by ``data_quality``.

**Margin** (``monitor.rules.margin``): the strategy-based requirement per book, now and in every
scenario. A broker-reported requirement or cash (``BrokerAccount``) wins when present; the
scenario requirements are then the broker's number plus the modelled change.

**Coverage** = funds / the worst variation call over the grid, where

    call(g)  = requirement increase beyond the uncovered shorts' value (the loss counts that)
               + the book's loss in scenario g
    funds    = cash - the short legs' marks (what buying them back costs: a liability)
               + the premium still to be earned: over short legs with positive theta that
                 expire within ``near_term_days``, contracts x 100 x max(0, min(mark, entry
                 price) - intrinsic value): the time value left to decay to the book, never more
                 than the premium received

so a short leg that loses money lowers the funds one for one. Key ``coverage`` per book fires at
or below ``min_coverage`` (re-arms above ``min_coverage + hysteresis``); a book whose priced legs
include a stale mark (or with no priced leg) is ``unknown``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
from monitor.rules import margin as M
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
    margin: M.Margin | None = None


def exposure(index: PortfolioIndex, market: MarketState) -> Exposure:
    rows, inverse = np.unique(index.leg_row, return_inverse=True)
    insts = [market.instruments[int(r)] for r in rows]
    n_b = len(index.book_names)
    units = index.leg_qty * CONTRACT_MULTIPLIER
    w = sparse.csr_matrix(
        (units, (index.struct_book[index.leg_struct], inverse)), shape=(n_b, len(rows))
    )
    contracts = [
        M.Contract(col=j, root=i.root, expiry=i.expiry, cp=float(i.right), strike=i.strike)
        for j, i in enumerate(insts)
    ]
    coo = w.tocoo()
    positions = {
        (int(b), int(c)): round(float(u) / CONTRACT_MULTIPLIER)
        for b, c, u in zip(coo.row, coo.col, coo.data, strict=True)
    }
    return Exposure(
        rows=rows.astype(np.int64),
        cp=np.array([float(i.right) for i in insts], np.float64),
        strike=np.array([i.strike for i in insts], np.float64),
        is_spx=np.array([i.root in symbols.SPX_ROOTS for i in insts], np.bool_),
        weights=w,
        margin=M.layout(contracts, positions, n_b),
    )


def model_vol_shift(cfg: StressConfig, shock: F64) -> F64:
    """Return the SPX 30-day ATM vol change (vol points) the spot-vol model gives a move."""
    fall = np.maximum(-shock, 0.0) * 100.0
    rise = np.maximum(shock, 0.0) * 100.0
    out: F64 = cfg.vol_per_pct_down * fall + cfg.vol_convexity * fall**2 - cfg.vol_per_pct_up * rise
    return out


def scenarios(cfg: StressConfig) -> tuple[F64, F64]:
    """Return the (spot shock, 30-day SPX vol shift in points) of every scenario, spot-major."""
    band = np.asarray(cfg.vol_band, np.float64)
    shock = np.repeat(np.asarray(cfg.spot_shocks, np.float64), len(band))
    return shock, model_vol_shift(cfg, shock) + np.tile(band, len(cfg.spot_shocks))


def skew_shift(val: Valuation, rows: NDArray[np.int64], strike: F64, ratio: F64) -> F64:
    """Return each option's vol change when its forward moves by ``ratio`` (sticky moneyness).

    (scenarios x instruments): the smile's vol at K / ratio minus its vol at K; 0 without one.
    """
    out = np.zeros(ratio.shape)
    chains = val.universe.chain_id[rows]
    for ch in np.unique(chains[chains >= 0]).tolist():
        cols = np.flatnonzero(chains == ch)
        smile = val.smiles[ch]
        k = strike[cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            moved = smile.iv(k[None, :] / ratio[:, cols]) - smile.iv(k)[None, :]
        out[:, cols] = np.nan_to_num(moved, nan=0.0, posinf=0.0, neginf=0.0)
    return out


@dataclass(frozen=True, slots=True)
class Revalued:
    base: F64
    """Value per instrument at zero shock (the model's, so the flat scenario is exactly 0)."""
    grid: F64
    """scenarios x instruments."""
    forward: F64
    """scenarios x instruments: the shocked forward (the margin's underlying value)."""


def revalue(ex: Exposure, val: Valuation, cfg: StressConfig) -> Revalued:
    """Reprice every instrument of ``ex`` in every scenario of the spot-vol model."""
    r = ex.rows
    fwd, t, df, iv = val.forward[r], val.t_years[r], val.df[r], val.vol[r]
    shock, dvol = scenarios(cfg)
    days = t * 365.0
    term = np.sqrt(cfg.term_ref_days / np.maximum(days, cfg.term_ref_days))
    vix_move = cfg.vix_beta * dvol[:, None] * np.exp(-cfg.vx_decay_per_year * t)[None, :]
    f_g = np.where(ex.is_spx, fwd * (1.0 + shock[:, None]), np.maximum(fwd + vix_move, 0.01))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = f_g / fwd
    level = np.where(ex.is_spx, dvol[:, None] * term[None, :], cfg.vix_vol_scale * vix_move)
    v_g = np.maximum(iv + skew_shift(val, r, ex.strike, ratio) + level / 100.0, cfg.vol_floor)
    base = black.price(ex.cp, fwd, ex.strike, t, df, iv)
    return Revalued(base=base, grid=black.price(ex.cp, f_g, ex.strike, t, df, v_g), forward=f_g)


@dataclass(frozen=True, slots=True)
class Stress:
    """Per book of the index; grids are books x scenarios."""

    pnl: F64
    requirement_usd: F64
    """The strategy-based requirement in each scenario (broker number + modelled change)."""
    call_usd: F64
    """Requirement increase (beyond uncovered shorts' value) + loss, per scenario."""
    coverage_grid: F64
    """funds / call per scenario (+inf where the scenario calls for nothing)."""
    requirement_now_usd: F64
    requirement_source: list[str]
    """``model`` or the broker source that reported it."""
    cash_source: list[str]
    funds: M.Funds
    worst_loss_usd: F64
    """The grid's largest loss (positive USD)."""
    worst_call_usd: F64
    worst_scenario: NDArray[np.int64]
    """The scenario of the worst call."""
    coverage: F64
    spot_shocks: F64
    vol_shifts: F64
    """Per scenario: the 30-day SPX vol shift (model + band), vol points."""
    margin_lines: list[M.Line]
    """The modelled requirement's parts now (spreads, condors, uncovered shorts)."""

    @property
    def assets_usd(self) -> F64:
        return self.funds.total_usd


def _accounts(
    idx: PortfolioIndex, accounts: Mapping[str, M.BrokerAccount]
) -> tuple[F64, F64, list[str], list[str]]:
    """Return per book (cash, broker requirement or NaN, requirement source, cash source)."""
    cash, req = idx.cash_usd.astype(np.float64).copy(), np.full(len(idx.book_names), np.nan)
    req_src, cash_src = ["model"] * len(req), ["portfolio"] * len(req)
    if not accounts:
        return cash, req, req_src, cash_src
    for b, name in enumerate(idx.book_names):
        acct = accounts.get(name)
        if acct is None:
            continue
        if acct.cash_usd is not None:
            cash[b], cash_src[b] = acct.cash_usd, acct.source
        if acct.requirement_usd is not None:
            req[b], req_src[b] = acct.requirement_usd, acct.source
    return cash, req, req_src, cash_src


def analyze(
    state: PortfolioState,
    val: Valuation,
    ex: Exposure,
    cfg: StressConfig,
    accounts: Mapping[str, M.BrokerAccount] | None = None,
) -> Stress:
    rv = revalue(ex, val, cfg)
    move = rv.grid - rv.base[None, :]
    ok = np.isfinite(move)
    # (instruments x scenarios) contiguous: the sparse product walks its rows
    pnl = np.asarray(ex.weights @ np.ascontiguousarray(np.where(ok, move, 0.0).T), np.float64)
    n_b, n_g = pnl.shape
    idx = state.index
    cash, broker_req, req_src, cash_src = _accounts(idx, accounts or {})
    base = np.nan_to_num(rv.base)
    m = ex.margin or M.layout([], {}, n_b)
    fwd0 = val.forward[ex.rows][None, :]
    req0, _ = M.requirement(m, n_b, base[None, :], fwd0, ex.cp, ex.strike)
    now = np.where(np.isnan(broker_req), req0[:, 0], broker_req)
    # the spread and condor parts cancel out of every change: only uncovered shorts move
    change = M.requirement_change(
        m,
        n_b,
        np.where(ok, rv.grid, base[None, :]),
        rv.forward,
        base[None, :],
        fwd0,
        ex.cp,
        ex.strike,
    )
    call = -pnl
    requirement_usd = np.repeat(now[:, None], n_g, axis=1)
    if change is not None:
        call += change[1]
        requirement_usd += change[0]
    fund = M.funds(state, val, cash, cfg.near_term_days)
    total = fund.total_usd
    if n_g and n_b:
        worst_i = np.argmax(call, axis=1)
        worst_call = np.maximum(call[np.arange(n_b), worst_i], 0.0)
        worst_loss = np.maximum(-pnl.min(axis=1), 0.0)
    else:
        worst_i, worst_call, worst_loss = np.zeros(n_b, np.int64), np.zeros(n_b), np.zeros(n_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = np.where(worst_call > 0, total / worst_call, np.inf)
        cov_grid = np.where(call > 0, total[:, None] / call, np.inf)
    shock, dvol = scenarios(cfg)
    return Stress(
        pnl=pnl,
        requirement_usd=requirement_usd,
        call_usd=call,
        coverage_grid=cov_grid,
        requirement_now_usd=now,
        requirement_source=req_src,
        cash_source=cash_src,
        funds=fund,
        worst_loss_usd=worst_loss,
        worst_call_usd=worst_call,
        worst_scenario=np.asarray(worst_i, np.int64),
        coverage=cov,
        spot_shocks=shock,
        vol_shifts=dvol,
        margin_lines=M.lines_now(m, base[None, :], fwd0, ex.cp, ex.strike),
    )


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    del now_ns
    st = ctx.analysis.stress
    sc = cfg.stress
    stale = ctx.state.book_stale
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


def values(st: Stress, b: int) -> dict[str, float | int | str | bool | None]:
    """Return the book's stress numbers as an alert payload / snapshot fields."""
    w = int(st.worst_scenario[b]) if len(st.worst_scenario) else 0
    has = bool(len(st.spot_shocks))
    f = st.funds
    cov = float(st.coverage[b])
    return {
        "coverage": None if not math.isfinite(cov) else round(cov, 3),
        "worst_call_usd": _r(float(st.worst_call_usd[b])),
        "worst_loss_usd": _r(float(st.worst_loss_usd[b])),
        "worst_spot_shock": float(st.spot_shocks[w]) if has else None,
        "worst_vol_shift": round(float(st.vol_shifts[w]), 2) if has else None,
        "worst_requirement_usd": _r(float(st.requirement_usd[b, w])) if has else None,
        "worst_scenario_loss_usd": _r(-float(st.pnl[b, w])) if has else None,
        "requirement_usd": _r(float(st.requirement_now_usd[b])),
        "requirement_source": st.requirement_source[b],
        "cash_usd": _r(float(f.cash_usd[b])),
        "cash_source": st.cash_source[b],
        "short_liability_usd": _r(float(f.short_liability_usd[b])),
        "premium_to_earn_usd": _r(float(f.premium_to_earn_usd[b])),
        "coverage_assets_usd": _r(float(f.total_usd[b])),
    }


def _signal(ctx: RuleContext, b: int, code: int, cfg: RulesConfig) -> Signal:
    st = ctx.analysis.stress
    vals = {**values(st, b), "min_coverage": cfg.stress.min_coverage}
    book = ctx.state.index.book_names[b]
    w = int(st.worst_scenario[b])
    f = st.funds
    if code == C.UNKNOWN:
        summary = "stress coverage unknown: a leg lacks a fresh mark or an implied vol"
    else:
        summary = (
            f"stress coverage {float(st.coverage[b]):.2f}x: the worst variation call is "
            f"{float(st.worst_call_usd[b]):,.0f} USD at SPX {float(st.spot_shocks[w]):+.1%} with "
            f"vol {float(st.vol_shifts[w]):+.1f} pts (requirement "
            f"{float(st.requirement_usd[b, w]):,.0f} USD there, "
            f"{float(st.requirement_now_usd[b]):,.0f} now; loss {-float(st.pnl[b, w]):,.0f} USD) "
            f"vs funds {float(f.total_usd[b]):,.0f} USD (cash {float(f.cash_usd[b]):,.0f} - short "
            f"marks {float(f.short_liability_usd[b]):,.0f} + near-term premium to earn "
            f"{float(f.premium_to_earn_usd[b]):,.0f})"
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


def grid_doc(st: Stress, b: int) -> list[dict[str, float | None]]:
    """Return the book's grid, one row per scenario (for the snapshot and a risk page)."""
    return [
        {
            "spot_shock": float(st.spot_shocks[g]),
            "vol_shift": round(float(st.vol_shifts[g]), 3),
            "pnl_usd": _r(float(st.pnl[b, g])),
            "requirement_usd": _r(float(st.requirement_usd[b, g])),
            "call_usd": _r(float(st.call_usd[b, g])),
            "coverage": _r(float(st.coverage_grid[b, g]), 3),
        }
        for g in range(len(st.spot_shocks))
    ]


def _r(x: float, digits: int = 2) -> float | None:
    return None if not math.isfinite(x) else round(x, digits)
