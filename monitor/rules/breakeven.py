"""Break-even drift: where each iron condor stops making money, hedge and harvests counted.

For each condor, the P&L at its expiration as a function of the SPX settlement S is

    P(S) = sum over legs of qty x 100 x max(cp (S - K), 0) - entry cost + overlay share

where the overlay is what the book's hedging has made so far:

- the open hedge P&L: each hedge layer at what it would fetch now (the bid of a long leg, the
  ask of a short one: the harvest advisory's exit price; the mark when that side is missing)
  minus its entry cost, split across the book's condors in proportion to their maximum loss;
- plus the realized P&L of the book's ledger (``monitor.positions.ledger``) booked strictly
  after the condor was opened, each entry split by maximum loss across the condors open then.

So harvesting a layer at the touch moves P&L from "open" to "realized" and leaves every
break-even where it was; only the spread paid to roll (ask above the value at the bid) moves it.

P is linear between strikes, so it is evaluated on the grid {0, the four strikes, 3 x the highest
strike} and its roots are located exactly by linear interpolation between grid nodes. From the
grid node of highest P (inside the profit zone) the lower break-even is the first root below it
and the upper the first root above it; with no root on a side the break-even is -inf / +inf
(profitable to the end).

Sigma: the expected move to the condor's expiry is F x ATM IV x sqrt(T) points (the chain's
forward, ATM implied vol and time). Each break-even's distance in sigma uses the smile IV at the
break-even strike: ln(F / BE_lower) / (IV(BE_lower) sqrt(T)) and ln(BE_upper / F) / (...).
``what_if`` gives the same numbers for a changed overlay (a plan's trades, before they happen).

Alert keys per condor (``CONDOR:lower:inside`` ... ``CONDOR:upper:drift``), "at or beyond":
- ``inside``: distance <= ``k_sigma``; re-arms above ``k_sigma + hysteresis_sigma``. No profit
  zone left is one alert, on ``CONDOR:lower:inside`` (``upper:inside`` is clear meanwhile).
- ``drift``: |BE - baseline| >= ``drift_points`` or >= ``drift_sigma`` expected moves; re-arms
  below (1 - ``drift_hysteresis``) x both. The baseline is taken at the session open and after
  every change of the condor or its book's layers.
A stale leg (condor or overlay), or no usable forward/IV for the chain, is ``unknown``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from monitor import symbols
from monitor.book import PortfolioIndex, PortfolioState
from monitor.model import CONTRACT_MULTIPLIER
from monitor.rules import breakeven_pass
from monitor.rules import codes as C
from monitor.rules.base import Signal
from monitor.rules.overlay import hedge_share, share_by_loss

if TYPE_CHECKING:
    from monitor.rules.chains import ChainKey, ChainTable
    from monitor.rules.context import RuleContext
    from monitor.settings import RulesConfig

RULE = "breakeven"
F64 = NDArray[np.float64]
SIDES = ("lower", "upper")
KINDS = ("inside", "drift")


@dataclass(frozen=True, slots=True)
class Condors:
    """The condors of an index as (condors x legs) matrices, built once per index."""

    struct: NDArray[np.int64]
    book: NDArray[np.int64]
    strike: F64
    cp: F64
    units: F64
    """qty x 100 per leg (USD per point of intrinsic)."""
    cost_usd: F64
    chain_keys: list[ChainKey]
    """Distinct (root, expiry) chains of the condors' earliest-expiring legs."""
    chain_id: NDArray[np.int64]
    """Each condor's position in ``chain_keys``."""

    def __len__(self) -> int:
        return len(self.struct)


def condors(index: PortfolioIndex) -> Condors:
    structs = [s for s, k in enumerate(index.struct_kind) if k == "condor"]
    legs_of: dict[int, list[int]] = {s: [] for s in structs}
    for i, s in enumerate(index.leg_struct.tolist()):
        if s in legs_of:
            legs_of[s].append(i)
    width = max((len(v) for v in legs_of.values()), default=4)
    n = len(structs)
    strike, cp, units = np.zeros((n, width)), np.ones((n, width)), np.zeros((n, width))
    chain: list[ChainKey] = []
    for c, s in enumerate(structs):
        insts = [symbols.parse(index.leg_symbol[i]) for i in legs_of[s]]
        for j, (i, inst) in enumerate(zip(legs_of[s], insts, strict=True)):
            strike[c, j], cp[c, j] = inst.strike, inst.right
            units[c, j] = index.leg_qty[i] * CONTRACT_MULTIPLIER
        first = min(insts, key=lambda x: (x.expiry or dt.date.max, x.root))
        assert first.expiry is not None
        chain.append((first.root, first.expiry))
    cost = (
        np.bincount(
            index.leg_struct,
            index.leg_entry * index.leg_qty * CONTRACT_MULTIPLIER,
            minlength=len(index.struct_names),
        )[structs]
        if n
        else np.zeros(0)
    )
    keys = sorted(set(chain), key=str)
    pos = {k: i for i, k in enumerate(keys)}
    return Condors(
        struct=np.array(structs, np.int64),
        book=index.struct_book[structs].astype(np.int64),
        strike=strike,
        cp=cp,
        units=units,
        cost_usd=np.asarray(cost, np.float64),
        chain_keys=keys,
        chain_id=np.array([pos[k] for k in chain], np.int64),
    )


def pnl_at_expiry(cd: Condors, s: F64, overlay_usd: F64) -> F64:
    """Return P(S) (condors x points) for settlement prices ``s`` (condors x points)."""
    intrinsic = np.maximum(cd.cp[:, :, None] * (s[:, None, :] - cd.strike[:, :, None]), 0.0)
    out: F64 = (cd.units[:, :, None] * intrinsic).sum(axis=1) - cd.cost_usd[:, None]
    return out + overlay_usd[:, None]


def grid(cd: Condors) -> F64:
    """Return the exact grid per condor: 0, the sorted strikes, 3 x the highest strike."""
    k = np.sort(cd.strike, axis=1)
    return np.concatenate([np.zeros((len(cd), 1)), k, 3.0 * k[:, -1:]], axis=1)


def max_loss_usd(cd: Condors) -> F64:
    """Return each condor's maximum loss at expiry (positive USD, 0 if it cannot lose)."""
    if not len(cd):
        return np.zeros(0)
    nodes = grid(cd)
    loss: F64 = np.maximum(-pnl_at_expiry(cd, nodes, np.zeros(len(cd))).min(axis=1), 0.0)
    return loss


def roots(nodes: F64, pnl: F64) -> tuple[F64, F64]:
    """Return (lower, upper) break-evens around each row's highest node.

    NaN on both sides when the highest P is negative (no profit zone); -inf / +inf when P stays
    non-negative to the end of the grid on that side.
    """
    n, m = pnl.shape
    top = np.argmax(pnl, axis=1)
    neg = pnl < 0
    # the last negative node below the top and the first above it: one pass per node column
    # (a handful) over the condors, instead of (condors x nodes) masks and reversed argmaxes
    lo_j = np.full(n, -1, np.intp)
    hi_j = np.full(n, -1, np.intp)
    for j in range(m):
        np.copyto(lo_j, j, where=neg[:, j] & (top > j))
    for j in range(m - 1, -1, -1):
        np.copyto(hi_j, j, where=neg[:, j] & (top < j))
    first = np.arange(n) * m  # flat position of each row's first node
    flat_nodes, flat_pnl = nodes.reshape(-1), pnl.reshape(-1)
    lower = _interp(flat_nodes, flat_pnl, first, m, lo_j, lo_j + 1, -np.inf)
    upper = _interp(flat_nodes, flat_pnl, first, m, hi_j - 1, hi_j, np.inf)
    dead = flat_pnl.take(first + top) < 0
    lower[dead], upper[dead] = np.nan, np.nan
    return lower, upper


def _interp(
    nodes: F64,
    pnl: F64,
    first: NDArray[np.intp],
    m: int,
    a: NDArray[np.intp],
    b: NDArray[np.intp],
    none: float,
) -> F64:
    """Return the root between nodes ``a`` and ``b`` of each row (``none`` where ``a`` < 0);
    ``nodes`` and ``pnl`` are the flattened (rows x ``m``) grids, ``first`` each row's start."""
    ok = a >= 0
    a_ = first + np.where(ok, a, 0)
    b_ = first + np.where(ok, np.minimum(b, m - 1), 0)
    x0, x1, y0, y1 = nodes.take(a_), nodes.take(b_), pnl.take(a_), pnl.take(b_)
    with np.errstate(invalid="ignore", divide="ignore"):
        root = x0 + (0.0 - y0) * (x1 - x0) / (y1 - y0)
    return np.where(ok, root, none)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What depends on the positions only, computed once per index."""

    nodes: F64
    pnl: F64
    """P at the nodes without the hedge share (condors x nodes)."""
    max_loss_usd: F64
    is_layer: NDArray[np.bool_]
    """Per structure of the index."""


def prepare(cd: Condors, index: PortfolioIndex) -> Prepared:
    nodes = grid(cd)
    pnl = pnl_at_expiry(cd, nodes, np.zeros(len(cd)))
    loss = np.maximum(-pnl.min(axis=1), 0.0) if len(cd) else np.zeros(0)
    layer = np.array([k == "layer" for k in index.struct_kind], np.bool_)
    return Prepared(nodes=nodes, pnl=pnl, max_loss_usd=loss, is_layer=layer)


@dataclass(frozen=True, slots=True)
class Breakevens:
    """Per condor of the index (rows aligned to ``Condors``)."""

    condors: Condors
    lower: F64
    upper: F64
    overlay_usd: F64
    """Hedge P&L counted: ``hedge_usd + realized_usd`` (NaN while a hedge leg is stale)."""
    forward: F64
    expected_move: F64
    """1 sigma expected move to expiry, points."""
    distance_sigma: F64
    """(condors x 2): lower, upper."""
    valid: NDArray[np.bool_]
    hedge_usd: F64 | None = None
    """The open hedge layers' P&L at the touch, this condor's share."""
    realized_usd: F64 | None = None
    """The ledger's realized P&L since the condor was opened, this condor's share."""
    prepared: Prepared | None = None
    chains: ChainTable | None = None

    @property
    def points(self) -> F64:
        return np.stack([self.lower, self.upper], axis=1)


overlay_share = hedge_share  # the name the overlay had before realized P&L counted


def solve(
    cd: Condors, prep: Prepared, chains: ChainTable, overlay_usd: F64, rows: NDArray[np.intp]
) -> tuple[F64, F64, F64]:
    """Return (lower, upper, distance in sigma (rows x 2)) of condors ``rows`` at an overlay."""
    return _solve(prep.nodes[rows], prep.pnl[rows], cd.chain_id[rows], chains, overlay_usd)


def _solve(
    nodes: F64, pnl: F64, chain_id: NDArray[np.int64], chains: ChainTable, overlay_usd: F64
) -> tuple[F64, F64, F64]:
    if breakeven_pass.AVAILABLE and len(chain_id) and len(chains.ids):
        return breakeven_pass.solve(nodes, pnl, overlay_usd, chains.ids[chain_id], chains.flat())
    return solve_numpy(nodes, pnl, chain_id, chains, overlay_usd)


def solve_numpy(
    nodes: F64, pnl: F64, chain_id: NDArray[np.int64], chains: ChainTable, overlay_usd: F64
) -> tuple[F64, F64, F64]:
    """``_solve`` in whole-array numpy passes (without numba, and the compiled pass's
    reference)."""
    lower, upper = roots(nodes, pnl + np.nan_to_num(overlay_usd)[:, None])
    fwd, t, _atm = chains.lookup(chain_id)
    iv = chains.smile(chain_id, np.stack([lower, upper], axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        d_lo = np.log(fwd / lower) / (iv[:, 0] * np.sqrt(t))
        d_hi = np.log(upper / fwd) / (iv[:, 1] * np.sqrt(t))
    d_lo = np.where(np.isneginf(lower), np.inf, d_lo)
    d_hi = np.where(np.isposinf(upper), np.inf, d_hi)
    dead = np.isnan(lower)
    dist = np.stack([np.where(dead, -np.inf, d_lo), np.where(dead, -np.inf, d_hi)], axis=1)
    return lower, upper, dist


def analyze(
    state: PortfolioState,
    cd: Condors,
    prep: Prepared,
    chains: ChainTable,
    realized_usd: F64 | None = None,
) -> Breakevens:
    """Compute every condor's break-evens, expected move and distances in sigma.

    ``realized_usd``: each condor's share of the realized P&L (``realized_share``); none: 0.
    """
    hedge = hedge_share(cd, prep, state)
    realized = np.zeros(len(cd)) if realized_usd is None else realized_usd
    overlay = hedge + realized
    lower, upper, dist = _solve(prep.nodes, prep.pnl, cd.chain_id, chains, overlay)
    fwd, t, atm = chains.lookup(cd.chain_id)
    move = fwd * atm * np.sqrt(t)
    stale = state.struct_stale[cd.struct] | np.isnan(overlay)
    valid = ~stale & np.isfinite(move) & (move > 0)
    return Breakevens(
        condors=cd,
        lower=lower,
        upper=upper,
        overlay_usd=overlay,
        forward=fwd,
        expected_move=move,
        distance_sigma=dist,
        valid=valid,
        hedge_usd=hedge,
        realized_usd=realized,
        prepared=prep,
        chains=chains,
    )


@dataclass(frozen=True, slots=True)
class WhatIf:
    """One book's condors at a changed overlay (rows of ``Breakevens.condors``)."""

    rows: NDArray[np.intp]
    lower: F64
    upper: F64
    distance_sigma: F64
    """(rows x 2): lower, upper."""
    valid: bool
    """False: a condor of the book has stale inputs (or the book has no condor)."""

    def closest_sigma(self) -> tuple[float, float]:
        """Return the smallest lower and upper distance over the book's condors."""
        if not len(self.rows):
            return math.nan, math.nan
        return float(self.distance_sigma[:, 0].min()), float(self.distance_sigma[:, 1].min())


def what_if(
    be: Breakevens,
    book: int,
    *,
    hedge_open_change_usd: float = 0.0,
    realized_change_usd: float = 0.0,
) -> WhatIf:
    """Return book ``book``'s hedge-inclusive break-evens after a hypothetical trade.

    Pass how the trade changes the book's open hedge P&L (valued at the touch, like the overlay)
    and its realized P&L: harvesting ``n`` contracts at the bid removes ``n x 100 x (bid -
    entry)`` from the open P&L and adds the same to the realized (no net change); buying a roll
    at the ask adds ``n x 100 x (bid - ask)`` to the open P&L. Both changes split across the
    book's condors by maximum loss, as the overlay does.
    """
    assert be.prepared is not None and be.chains is not None, "analyze() output needed"
    cd = be.condors
    rows = np.flatnonzero(cd.book == book)
    change = np.zeros(max(int(cd.book.max(initial=book)), book) + 1)
    change[book] = hedge_open_change_usd + realized_change_usd
    delta = share_by_loss(cd, be.prepared, change, np.ones(len(cd), np.bool_))
    lower, upper, dist = solve(cd, be.prepared, be.chains, be.overlay_usd[rows] + delta[rows], rows)
    valid = bool(len(rows)) and bool(be.valid[rows].all())
    return WhatIf(rows=rows, lower=lower, upper=upper, distance_sigma=dist, valid=valid)


def drift(be: Breakevens, baseline: F64, baseline_set: NDArray[np.bool_]) -> F64:
    """Return BE - baseline (condors x 2); 0 when both are the same infinity, NaN if unset."""
    now = be.points
    with np.errstate(invalid="ignore"):
        d = now - baseline
    same_inf = np.isinf(now) & (now == baseline)
    d = np.where(same_inf, 0.0, d)
    return np.where(baseline_set[:, None], d, np.nan)


def conditions(be: Breakevens, drift_pts: F64, cfg: RulesConfig) -> C.Codes:
    """Return codes (condors x 4): lower inside, lower drift, upper inside, upper drift."""
    bc = cfg.breakeven
    unknown = ~be.valid[:, None] | np.isnan(be.distance_sigma)
    inside = C.levels_below(
        np.nan_to_num(be.distance_sigma, nan=0.0),
        bc.k_sigma,
        bc.k_sigma + bc.hysteresis_sigma,
        unknown,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        in_sigma = np.abs(drift_pts) / be.expected_move[:, None]
    ratio = np.maximum(np.abs(drift_pts) / bc.drift_points, in_sigma / bc.drift_sigma)
    drifted = C.levels_above(
        ratio, 1.0, 1.0 - bc.drift_hysteresis, ~be.valid[:, None] | np.isnan(drift_pts)
    )
    # No profit zone is one fact about the condor, not one per side: the lower key carries it.
    upper_inside = np.where(no_profit_zone(be), C.CLEAR, inside[:, 1]).astype(inside.dtype)
    return np.stack([inside[:, 0], drifted[:, 0], upper_inside, drifted[:, 1]], axis=1)


def no_profit_zone(be: Breakevens) -> NDArray[np.bool_]:
    """Per condor: valid inputs and P < 0 at every settlement (both break-evens NaN)."""
    return np.asarray(be.valid & np.isnan(be.points).all(axis=1), np.bool_)


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    del now_ns
    be = ctx.analysis.breakevens
    cd = be.condors
    base = ctx.analysis.be_baseline
    is_set = np.asarray(~np.isnan(base).all(axis=1), np.bool_)
    moved = drift(be, base, is_set)
    codes = conditions(be, moved, cfg).reshape(-1)
    idx = ctx.state.index
    layout = ctx.layouts.get(RULE, idx, cfg, lambda: _layout(idx, cd))
    out = []
    sel = ctx.select(RULE, layout, codes)
    # per selected key, as Python numbers in one conversion each (thousands on a resend)
    at = (sel // 4) * 2 + (sel % 4) // 2  # (condor, side) in the flattened (condors x 2)
    picked = zip(
        sel.tolist(),
        codes[sel].tolist(),
        base.reshape(-1)[at].tolist(),
        moved.reshape(-1)[at].tolist(),
        strict=True,
    )
    for p, code, base_pt, moved_pt in picked:
        c, j = divmod(p, 4)
        side, kind = divmod(j, 2)
        severity = cfg.breakeven.inside_severity if kind == 0 else cfg.breakeven.drift_severity
        render = partial(_signal, ctx, be, c, side, kind, code, base_pt, moved_pt, cfg)
        out.append(
            C.lazy(RULE, layout.books[p], layout.subjects[p], code, severity, ctx.context, render)
        )
    return out


def _layout(idx: PortfolioIndex, cd: Condors) -> C.Layout:
    books, subjects = [], []
    for c in range(len(cd)):
        name = idx.struct_names[int(cd.struct[c])]
        for side in SIDES:
            for kind in KINDS:
                books.append(idx.book_names[int(cd.book[c])])
                subjects.append(f"{name}:{side}:{kind}")
    return C.Layout.of(RULE, books, subjects)


def _signal(
    ctx: RuleContext,
    be: Breakevens,
    c: int,
    side: int,
    kind: int,
    code: int,
    base: float,
    moved: float,
    cfg: RulesConfig,
) -> Signal:
    idx = ctx.state.index
    s = int(be.condors.struct[c])
    name, book = idx.struct_names[s], idx.book_names[int(be.condors.book[c])]
    point, dist = float(be.points[c, side]), float(be.distance_sigma[c, side])
    move, fwd = float(be.expected_move[c]), float(be.forward[c])
    vals: dict[str, float | int | str | bool | None] = {
        "breakeven_points": _r(point),
        "baseline_points": _r(base),
        "drift_points": _r(moved),
        "distance_sigma": _r(dist, 3),
        "expected_move_points": _r(move),
        "forward": _r(fwd),
        "overlay_pnl_usd": _r(float(be.overlay_usd[c])),
        "hedge_open_pnl_usd": None if be.hedge_usd is None else _r(float(be.hedge_usd[c])),
        "realized_pnl_usd": None if be.realized_usd is None else _r(float(be.realized_usd[c])),
        "k_sigma": cfg.breakeven.k_sigma,
    }
    where = f"{name} {SIDES[side]} break-even"
    if code == C.UNKNOWN:
        summary = f"{where} unknown: stale leg or no usable forward/IV"
    elif math.isnan(point) and kind == 0 and side == 1:
        summary = f"{name} has no profit zone left at expiry: alerted once, on {name}:lower:inside"
    elif math.isnan(point):
        summary = f"{name} has no profit zone left at expiry, hedge gain included"
    elif kind == 0:
        summary = (
            f"{where} {_pts(point)} is {dist:.2f} sigma from the forward {fwd:,.2f} "
            f"(1 sigma = {move:,.2f} pts, k = {cfg.breakeven.k_sigma:g})"
        )
    else:
        summary = f"{where} {_pts(point)} moved {moved:+,.2f} pts from its baseline {_pts(base)}"
    bc = cfg.breakeven
    return Signal(
        rule=RULE,
        book=book,
        subject=f"{name}:{SIDES[side]}:{KINDS[kind]}",
        condition=C.CONDITIONS[code],
        severity=bc.inside_severity if kind == 0 else bc.drift_severity,
        summary=summary,
        values=vals,
        action=_action(kind, SIDES[side]) if code == C.BREACH else None,
        context=ctx.context,
    )


def _action(kind: int, side: str) -> str:
    if kind == 0:
        return (
            f"The {side} break-even is inside the expected move: roll the threatened {side} "
            "side out or harvest hedge gain to widen it; do not add size."
        )
    return "The break-even moved from its session baseline: re-check the condor against the move."


def _pts(x: float) -> str:
    return "none (profitable to the end)" if math.isinf(x) else f"{x:,.2f}"


def _r(x: float, digits: int = 2) -> float | None:
    """Round for an alert payload; NaN and infinities (no break-even on that side) are null."""
    return None if not math.isfinite(x) else round(x, digits)
