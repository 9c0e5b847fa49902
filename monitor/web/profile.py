"""The risk profile of a book or one condor: P&L across an SPX grid, at expiry and today. [pure]

Two curves, each with the hedge excluded and included:

- **at expiry**: ``P(S) = sum qty x 100 x max(cp (S - K), 0) - entry cost`` over the condor legs
  (the break-even rule's own function, ``monitor.rules.breakeven.pnl_at_expiry``);
- **today (T+0)**: every condor leg repriced with Black-76 at a forward moved with the index,
  ``F_leg(S) = F_leg x S / F_ref``, on the smile: the leg's own vol plus the smile's change
  at the same log-moneyness (sticky moneyness), so at ``S = F_ref`` each leg is worth its
  current model price at its own IV, i.e. its mark.

"Hedge included" adds the overlay the break-even rule counts: the open hedge layers' P&L at the
touch plus the realized P&L since the condor opened (``Breakevens.overlay_usd``), the selected
condors' shares summed. The VIX layers' value is not modelled as a function of SPX, so the
overlay is a constant shift; the break-evens with it are the rule's break-evens. Without a
rule analysis (no cycle ran the rules) the overlay is the layers' P&L at their marks.

Break-evens are the exact roots of the piecewise-linear expiry P&L
(``monitor.rules.breakeven.roots`` on the grid {0, every strike, 3 x the highest}); the bands
are ``F ± k x move`` with ``move = F x ATM IV x sqrt(T)`` of the reference chain (the earliest
expiring condor's), the rule's expected move.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor import symbols
from monitor.book import PortfolioState
from monitor.model import CONTRACT_MULTIPLIER
from monitor.pricing import black
from monitor.pricing.valuation import Valuation
from monitor.rules import breakeven
from monitor.rules.breakeven import Breakevens

F64 = NDArray[np.float64]
GRID_POINTS = 241
SIGMA_SPAN = 3.0
"""The grid covers at least the forward ± this many expected moves, and every strike."""


class ProfileError(ValueError):
    """The request names no book/condor, or the book has nothing to profile."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Legs:
    """The selected condor legs as arrays (one entry per leg)."""

    symbol: list[str]
    strike: F64
    cp: F64
    units: F64
    """qty x 100."""
    entry: F64
    forward: F64
    t_years: F64
    df: F64
    vol: F64
    chain: NDArray[np.int64]
    expiry: list[dt.date]

    @property
    def cost_usd(self) -> float:
        return float((self.entry * self.units).sum())


@dataclass(frozen=True, slots=True)
class Profile:
    book: str
    structure: str | None
    condors: list[str]
    ts_ns: int
    expiry: dt.date
    t_years: float
    forward: float
    expected_move_points: float
    spx: F64
    expiry_pnl_usd: F64
    today_pnl_usd: F64
    overlay_usd: float
    hedge_open_usd: float
    realized_usd: float
    overlay_source: str
    breakevens: tuple[float, float]
    breakevens_hedged: tuple[float, float]
    strikes: list[float]
    cost_usd: float
    valid: bool
    reason: str | None

    def to_doc(self) -> dict[str, Any]:
        """Return the ``/api/v1/risk-profile`` document (JSON-ready; inf/NaN become null)."""
        move = self.expected_move_points
        lo, hi = self.breakevens
        hlo, hhi = self.breakevens_hedged
        return {
            "book": self.book,
            "structure": self.structure,
            "condors": self.condors,
            "ts_ns": self.ts_ns,
            "underlying": "SPX",
            "expiry": self.expiry.isoformat(),
            "t_years": _num(self.t_years, 8),
            "forward": _num(self.forward),
            "expected_move_points": _num(move),
            "bands": {
                f"sigma{k}": [_num(self.forward - k * move), _num(self.forward + k * move)]
                for k in (1, 2)
            },
            "credit_usd": _num(-self.cost_usd),
            "strikes": self.strikes,
            "hedge": {
                "overlay_usd": _num(self.overlay_usd),
                "open_pnl_usd": _num(self.hedge_open_usd),
                "realized_usd": _num(self.realized_usd),
                "source": self.overlay_source,
            },
            "breakevens": {
                "expiry": {"lower": _be(lo), "upper": _be(hi)},
                "expiry_hedged": {"lower": _be(hlo), "upper": _be(hhi)},
            },
            "curves": {
                "spx": [_num(x) for x in self.spx],
                "expiry_pnl_usd": [_num(x) for x in self.expiry_pnl_usd],
                "expiry_pnl_hedged_usd": [_num(x + self.overlay_usd) for x in self.expiry_pnl_usd],
                "today_pnl_usd": [_num(x) for x in self.today_pnl_usd],
                "today_pnl_hedged_usd": [_num(x + self.overlay_usd) for x in self.today_pnl_usd],
            },
            "valid": self.valid,
            "reason": self.reason,
        }


def _num(x: float, digits: int = 2) -> float | None:
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _be(x: float) -> float | None:
    """A break-even for the API: null when that side is profitable to the end (or none)."""
    return _num(x) if math.isfinite(x) else None


def select(state: PortfolioState, book: str, structure: str | None) -> tuple[int, list[int]]:
    """Return (book index, condor structure indices) named by a request, or raise."""
    idx = state.index
    if book not in idx.book_names:
        raise ProfileError(404, f"no book named {book!r} (books: {', '.join(idx.book_names)})")
    b = idx.book_names.index(book)
    condors = [
        s for s, k in enumerate(idx.struct_kind)
        if k == "condor" and int(idx.struct_book[s]) == b
    ]  # fmt: skip
    if structure is not None:
        named = [s for s in condors if idx.struct_names[s] == structure]
        if not named:
            mine = [idx.struct_names[s] for s in condors]
            raise ProfileError(
                404, f"book {book!r} has no condor {structure!r} (condors: {', '.join(mine)})"
            )
        condors = named
    if not condors:
        raise ProfileError(422, f"book {book!r} has no condor to profile")
    return b, condors


def legs_of(state: PortfolioState, val: Valuation, structs: list[int]) -> Legs:
    """Gather the legs of ``structs`` with their pricing inputs."""
    idx = state.index
    rows = [i for i, s in enumerate(idx.leg_struct.tolist()) if s in structs]
    insts = [symbols.parse(idx.leg_symbol[i]) for i in rows]
    r = idx.leg_row[rows]
    return Legs(
        symbol=[idx.leg_symbol[i] for i in rows],
        strike=np.array([x.strike for x in insts], np.float64),
        cp=np.array([float(x.right) for x in insts], np.float64),
        units=idx.leg_qty[rows] * CONTRACT_MULTIPLIER,
        entry=idx.leg_entry[rows],
        forward=val.forward[r],
        t_years=val.t_years[r],
        df=val.df[r],
        vol=val.vol[r],
        chain=val.universe.chain_id[r].astype(np.int64),
        expiry=[x.expiry or dt.date.max for x in insts],
    )


def expiry_pnl(legs: Legs, spx: F64) -> F64:
    """Return the condor legs' P&L at expiry for each settlement in ``spx`` (USD)."""
    intrinsic = np.maximum(legs.cp[:, None] * (spx[None, :] - legs.strike[:, None]), 0.0)
    out: F64 = (legs.units[:, None] * intrinsic).sum(axis=0) - legs.cost_usd
    return out


def today_pnl(legs: Legs, val: Valuation, spx: F64, f_ref: float) -> F64:
    """Return the legs' P&L now (T+0) with the index at each ``spx``, repriced on the smile."""
    scale = spx[None, :] / f_ref
    fwd = legs.forward[:, None] * scale
    vol = np.repeat(legs.vol[:, None], len(spx), axis=1)
    for j, chain in enumerate(legs.chain.tolist()):
        if chain < 0:
            continue
        smile = val.smiles[chain]
        # sticky moneyness: the strike's vol moves to where its log-moneyness now lies
        shifted = smile.iv(legs.strike[j] / scale[0])
        skew = shifted - smile.iv(legs.strike[j])
        vol[j] = np.where(np.isfinite(skew), vol[j] + skew, vol[j])
    k = np.broadcast_to(legs.strike[:, None], fwd.shape)
    shape = fwd.shape
    price = black.price(
        np.broadcast_to(legs.cp[:, None], shape), fwd, k,
        np.broadcast_to(legs.t_years[:, None], shape),
        np.broadcast_to(legs.df[:, None], shape), np.maximum(vol, 0.0),
    )  # fmt: skip
    out: F64 = (legs.units[:, None] * price).sum(axis=0) - legs.cost_usd
    return out


def exact_breakevens(legs: Legs, overlay_usd: float) -> tuple[float, float]:
    """Return the expiry P&L's (lower, upper) roots around its profit zone, as the rule does."""
    k = np.unique(legs.strike)
    nodes = np.concatenate([[0.0], k, [3.0 * k[-1]]])
    pnl = expiry_pnl(legs, nodes) + overlay_usd
    lower, upper = breakeven.roots(nodes[None, :], pnl[None, :])
    return float(lower[0]), float(upper[0])


def spx_grid(strikes: F64, forward: float, move: float, extra: list[float]) -> F64:
    """Return the SPX grid: forward ± 3 moves and every strike, plus ``extra`` exact points."""
    lo, hi = float(strikes.min()), float(strikes.max())
    if math.isfinite(forward) and math.isfinite(move) and move > 0:
        lo, hi = min(lo, forward - SIGMA_SPAN * move), max(hi, forward + SIGMA_SPAN * move)
    pad = 0.08 * (hi - lo) or 0.05 * hi
    lo, hi = max(lo - pad, 1.0), hi + pad
    points = np.concatenate([np.linspace(lo, hi, GRID_POINTS), strikes, [x for x in extra
                             if math.isfinite(x) and lo <= x <= hi]])  # fmt: skip
    out: F64 = np.unique(points)
    return out


def _overlay(
    state: PortfolioState, be: Breakevens | None, b: int, structs: list[int]
) -> tuple[float, float, float, str]:
    """Return (overlay, hedge open, realized, source) for the selected condors."""
    if be is not None:
        rows = np.flatnonzero(np.isin(be.condors.struct, structs))
        if len(rows) == len(structs):
            hedge = 0.0 if be.hedge_usd is None else float(be.hedge_usd[rows].sum())
            realized = 0.0 if be.realized_usd is None else float(be.realized_usd[rows].sum())
            return float(be.overlay_usd[rows].sum()), hedge, realized, "breakeven_rule"
    idx = state.index
    layers = [s for s, k in enumerate(idx.struct_kind) if k == "layer" and idx.struct_book[s] == b]
    legs = np.isin(idx.leg_struct, layers) & state.leg_priced
    pnl = state.leg_value_usd - idx.leg_entry * idx.leg_qty * CONTRACT_MULTIPLIER
    hedge = float(np.where(legs, pnl, 0.0).sum())
    return hedge, hedge, 0.0, "marks"


def compute(
    state: PortfolioState,
    val: Valuation,
    book: str,
    structure: str | None = None,
    be: Breakevens | None = None,
) -> Profile:
    """Return the risk profile of ``book`` (or its condor ``structure``) at the cycle's instant."""
    b, structs = select(state, book, structure)
    legs = legs_of(state, val, structs)
    ref = min(range(len(legs.symbol)), key=lambda j: (legs.expiry[j], legs.symbol[j]))
    chain = int(legs.chain[ref])
    f_ref = float(legs.forward[ref])
    move = val.expected_move(chain) if chain >= 0 else math.nan
    overlay, hedge, realized, source = _overlay(state, be, b, structs)
    overlay_known = math.isfinite(overlay)
    plain = exact_breakevens(legs, 0.0)
    hedged = exact_breakevens(legs, overlay if overlay_known else 0.0)
    spx = spx_grid(legs.strike, f_ref, move, [*plain, *hedged])
    reason = _why_invalid(f_ref, move, overlay_known, state, structs)
    today = today_pnl(legs, val, spx, f_ref) if math.isfinite(f_ref) else np.full(len(spx), np.nan)
    return Profile(
        book=book,
        structure=structure,
        condors=[state.index.struct_names[s] for s in structs],
        ts_ns=state.now_ns,
        expiry=legs.expiry[ref],
        t_years=float(legs.t_years[ref]),
        forward=f_ref,
        expected_move_points=move,
        spx=spx,
        expiry_pnl_usd=expiry_pnl(legs, spx),
        today_pnl_usd=today,
        overlay_usd=overlay if overlay_known else math.nan,
        hedge_open_usd=hedge,
        realized_usd=realized,
        overlay_source=source,
        breakevens=plain,
        breakevens_hedged=hedged if overlay_known else (math.nan, math.nan),
        strikes=[float(k) for k in np.unique(legs.strike)],
        cost_usd=legs.cost_usd,
        valid=reason is None,
        reason=reason,
    )


def _why_invalid(
    f_ref: float, move: float, overlay_known: bool, state: PortfolioState, structs: list[int]
) -> str | None:
    if not math.isfinite(f_ref):
        return "no forward for the condor's chain yet"
    if not (math.isfinite(move) and move > 0):
        return "no ATM implied vol for the condor's chain yet"
    if not overlay_known:
        return "a hedge leg is stale: the hedged curves are unknown"
    if bool(state.struct_stale[structs].any()):
        return "a condor leg's mark is stale"
    return None
