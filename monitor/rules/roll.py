"""The roll advisory attached to every layer-gain alert: harvest, recycle, resize.

The method: when a short-dated layer pops, harvest the gain and roll ``recycle_fraction`` of it
into 45-90-day VIX calls 8-12% out of the money, sized to restore the book's vega; never add size
into a pop. For a layer at its threshold the advisory computes, at live quotes:

    proceeds      = sum over legs of qty x 100 x bid (ask for a short leg)   selling the layer
    gain          = proceeds - entry cost                                    harvestable gain
    recycle       = gain x recycle_fraction
    candidate     = the live VIX call with dte_min <= DTE <= dte_max and
                    otm_min <= K / F - 1 <= otm_max (F: the VX future of its expiry, the
                    forward the pricing core uses), closest to the middle of both windows
    affordable    = floor(recycle / (ask x 100))
    cap           = floor(martingale coefficient x layer contracts)   (the reverting coefficient
                    while the VIX mean-reversion signal is on)
    roll          = min(affordable, cap) contracts, costing roll x ask x 100
    vega now      = the book's net vega, USD per vol point (``monitor.rules.vega``: SPX
                    option vega plus VIX options' delta to their VX future x 100)
    after harvest = vega now - the layer's net vega
    after roll    = after harvest + roll x the candidate's net vega per contract (delta x 100)
    restore       = ceil((baseline vega - after harvest) / candidate net vega per contract),
                    at least 0: the second sizing, which brings the book back to its baseline
                    vega (session open or last position change)
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from monitor import symbols
from monitor.market import MarketState
from monitor.model import CONTRACT_MULTIPLIER
from monitor.pricing.valuation import Valuation
from monitor.rules.config import RollConfig
from monitor.rules.vega import per_contract

if TYPE_CHECKING:
    from monitor.rules.context import RuleContext

NS = 1_000_000_000
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Chain:
    """The call options of the roll roots (built per market instrument set)."""

    rows: NDArray[np.int64]
    expiry_ordinal: NDArray[np.int64]
    strike: F64


def chain(market: MarketState, roots: list[str]) -> Chain:
    picked = [
        (r, i)
        for r, i in enumerate(market.instruments)
        if i.kind is symbols.Kind.OPTION
        and i.right > 0
        and i.root in roots
        and i.expiry is not None
    ]
    return Chain(
        rows=np.array([r for r, _ in picked], np.int64),
        expiry_ordinal=np.array([i.expiry.toordinal() for _, i in picked if i.expiry], np.int64),
        strike=np.array([i.strike for _, i in picked], np.float64),
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    symbol: str
    expiry: dt.date
    dte: int
    strike: float
    future: float
    otm: float
    bid: float
    ask: float
    iv: float
    vega_usd: float
    """Net vega per contract: USD per VX point (delta to its future x 100)."""
    in_band: bool = True
    """False: no listed strike is in the OTM band; this is the nearest one."""

    def doc(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "expiry": self.expiry.isoformat(),
            "dte": self.dte,
            "strike": self.strike,
            "future": round(self.future, 3),
            "otm_pct": round(self.otm * 100, 2),
            "bid": self.bid,
            "ask": self.ask,
            "iv": round(self.iv, 4),
            "vega_usd_per_contract": round(self.vega_usd, 2),
            "in_band": self.in_band,
        }


def candidates(
    ch: Chain,
    market: MarketState,
    val: Valuation,
    today: dt.date,
    now_ns: int,
    cfg: RollConfig,
    *,
    max_age_ns: int,
    stale: bool,
) -> list[Candidate]:
    """Return the live roll candidates, best first (at most ``max_candidates``).

    Candidates in the OTM band rank by distance from the middle of both windows. VIX strikes are
    a point apart, so the band (0.8 to 1.2 points at a future of 20) can hold no listed strike;
    then the strikes nearest to it, within ``otm_slack``, are offered, flagged ``in_band=False``.
    """
    if stale or not len(ch.rows):
        return []
    r = ch.rows
    dte = ch.expiry_ordinal - today.toordinal()
    fwd, ask, vega = val.forward[r], market.ask[r], per_contract(val, r)
    with np.errstate(invalid="ignore", divide="ignore"):
        otm = ch.strike / fwd - 1.0
        live = (
            (dte >= cfg.dte_min)
            & (dte <= cfg.dte_max)
            & (ask > 0)
            & (vega > 0)
            & (now_ns - market.ts_ns[r] <= max_age_ns)
        )
        off = np.maximum(cfg.otm_min - otm, otm - cfg.otm_max)  # <= 0 inside the band
    in_band = live & (off <= 1e-12)
    picks = np.flatnonzero(in_band if in_band.any() else live & (off <= cfg.otm_slack))
    mid_otm, half_otm = (cfg.otm_min + cfg.otm_max) / 2, max((cfg.otm_max - cfg.otm_min) / 2, 1e-9)
    mid_dte, half_dte = (cfg.dte_min + cfg.dte_max) / 2, max((cfg.dte_max - cfg.dte_min) / 2, 1e-9)
    score = np.abs(otm[picks] - mid_otm) / half_otm + np.abs(dte[picks] - mid_dte) / half_dte
    gap = np.maximum(off[picks], 0.0)
    order = sorted(
        range(len(picks)),
        key=lambda j: (float(gap[j]), float(score[j]), market.instruments[int(r[picks[j]])].symbol),
    )
    return [
        _candidate(
            market,
            val,
            int(r[picks[j]]),
            int(dte[picks[j]]),
            float(fwd[picks[j]]),
            float(otm[picks[j]]),
            float(vega[picks[j]]),
            bool(in_band[picks[j]]),
        )
        for j in order[: cfg.max_candidates]
    ]


def _candidate(
    market: MarketState,
    val: Valuation,
    row: int,
    dte: int,
    fwd: float,
    otm: float,
    vega: float,
    in_band: bool,
) -> Candidate:
    inst = market.instruments[row]
    assert inst.expiry is not None
    return Candidate(
        symbol=inst.symbol,
        expiry=inst.expiry,
        dte=dte,
        strike=inst.strike,
        future=fwd,
        otm=otm,
        bid=float(market.bid[row]),
        ask=float(market.ask[row]),
        iv=float(val.iv_mid[row]),
        vega_usd=vega,
        in_band=in_band,
    )


def _harvest(ctx: RuleContext, s: int) -> tuple[float, int, list[dict[str, Any]]]:
    """Return (proceeds USD selling the layer at the touch, contracts, per-leg detail)."""
    st, idx = ctx.state, ctx.state.index
    legs = np.flatnonzero(idx.leg_struct == s)
    proceeds, contracts, detail = 0.0, 0, []
    for i in legs.tolist():
        qty = float(idx.leg_qty[i])
        px = float(st.leg_bid[i] if qty > 0 else st.leg_ask[i])
        proceeds += qty * CONTRACT_MULTIPLIER * px
        contracts += int(abs(qty))
        detail.append(
            {
                "symbol": idx.leg_symbol[i],
                "quantity": int(qty),
                "exit_price": None if math.isnan(px) else px,
            }
        )
    return proceeds, contracts, detail


def advisory(ctx: RuleContext, s: int, cfg: RollConfig) -> dict[str, Any]:
    """Return the roll advisory for layer ``s`` of the index (see the module docstring)."""
    st = ctx.state
    b = int(st.index.struct_book[s])
    proceeds, contracts, legs = _harvest(ctx, s)
    cost = float(st.struct_cost_usd[s])
    gain = proceeds - cost
    recycle = max(gain, 0.0) * cfg.recycle_fraction
    reverting = bool(ctx.analysis.momentum.mean_reversion)
    coef = cfg.martingale_coefficient_reverting if reverting else cfg.martingale_coefficient
    nv = ctx.analysis.net_vega
    vega_now = float(nv.book[b])
    after_harvest = vega_now - float(nv.struct[s])
    baseline = float(ctx.analysis.vega_baseline[b])
    doc: dict[str, Any] = {
        "layer": st.index.struct_names[s],
        "legs": legs,
        "contracts": contracts,
        "harvest_proceeds_usd": _r(proceeds),
        "entry_cost_usd": _r(cost),
        "harvestable_gain_usd": _r(gain),
        "variant": cfg.variant,
        "recycle_fraction": cfg.recycle_fraction,
        "recycle_usd": _r(recycle),
        "mean_reversion_likely": reverting,
        "martingale_coefficient": coef,
        "max_next_layer_contracts": math.floor(coef * contracts + 1e-9),
        "vega_now_usd": _r(vega_now),
        "layer_vega_usd": _r(float(nv.struct[s])),
        "vega_after_harvest_usd": _r(after_harvest),
        "vega_baseline_usd": _r(baseline),
        "otm_band": f"{cfg.otm_min:.0%}-{cfg.otm_max:.0%}",
        "candidates": [c.doc() for c in ctx.analysis.roll_candidates],
        "candidate": None,
    }
    if ctx.analysis.roll_candidates and math.isfinite(recycle):
        doc |= _sizing(
            ctx.analysis.roll_candidates[0],
            recycle,
            doc["max_next_layer_contracts"],
            after_harvest,
            baseline,
        )
    return doc


def _sizing(
    c: Candidate, recycle: float, cap: int, after_harvest: float, baseline: float
) -> dict[str, Any]:
    per_contract = c.ask * CONTRACT_MULTIPLIER
    affordable = math.floor(recycle / per_contract + 1e-9)
    roll = min(affordable, cap)
    gap = baseline - after_harvest
    restore = max(math.ceil(gap / c.vega_usd - 1e-9), 0) if math.isfinite(gap) else None
    return {
        "candidate": c.doc(),
        "affordable_contracts": affordable,
        "roll_contracts": roll,
        "roll_cost_usd": _r(roll * per_contract),
        "vega_after_roll_usd": _r(after_harvest + roll * c.vega_usd),
        "restore_contracts": restore,
        "restore_cost_usd": None if restore is None else _r(restore * per_contract),
        "vega_after_restore_usd": None
        if restore is None
        else _r(after_harvest + restore * c.vega_usd),
        "restore_exceeds_martingale_cap": restore is not None and restore > cap,
    }


def _v(x: object) -> str:
    return "n/a" if x is None else f"{float(x):+,.0f}"  # type: ignore[arg-type]


def action_text(doc: dict[str, Any]) -> str:
    """Return the concrete suggested action of an advisory, in one paragraph."""
    gain = doc["harvestable_gain_usd"]
    head = (
        f"Harvest {doc['layer']}: sell {doc['contracts']} contract(s) at the bid for "
        f"{_usd(doc['harvest_proceeds_usd'])} (gain {_usd(gain)} on a cost of "
        f"{_usd(doc['entry_cost_usd'])})."
    )
    c = doc.get("candidate")
    if c is None:
        return head + " No roll candidate is quoted now: keep the cash. " + _NEVER
    where = (
        ""
        if c["in_band"]
        else (f" (no listed strike is {doc['otm_band']} OTM; the nearest is {c['otm_pct']:.1f}%)")
    )
    roll = (
        f" Roll {doc['recycle_fraction']:.0%} of the gain, {_usd(doc['recycle_usd'])}, into "
        f"{doc['roll_contracts']} x {c['symbol']} at {c['ask']:.2f} ask "
        f"({_usd(doc['roll_cost_usd'])}; the cash buys {doc['affordable_contracts']}, the "
        f"martingale cap {doc['martingale_coefficient']:g} x {doc['contracts']} allows "
        f"{doc['max_next_layer_contracts']}){where}."
    )
    vega = (
        f" Net vega {_v(doc['vega_now_usd'])} -> {_v(doc['vega_after_harvest_usd'])} after the "
        f"harvest -> {_v(doc['vega_after_roll_usd'])} after the roll (USD per vol point)."
    )
    restore = ""
    if doc.get("restore_contracts") is not None:
        n = doc["restore_contracts"]
        restore = (
            f" Restoring the baseline vega {_v(doc['vega_baseline_usd'])} takes {n} contract(s)"
            + (f" ({_usd(doc['restore_cost_usd'])})." if n else ": the book is already above it.")
        )
    return head + roll + vega + restore + " " + _NEVER


_NEVER = "Do not add size into the pop."


def _usd(x: object) -> str:
    return "n/a" if x is None else f"${float(x):,.0f}"  # type: ignore[arg-type]


def _r(x: float) -> float | None:
    return None if not math.isfinite(x) else round(x, 2)
