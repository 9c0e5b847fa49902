"""One roll plan per book per cycle, built when something asks for it (an alert, the API).

``PlanBook`` holds the cycle's inputs; ``get(book)`` searches (``monitor.plan.search``) once per
book and memoizes the ``Plan``: every layer-gain alert of the book carries the same plan, and
``GET /api/v1/plan?book=NAME`` serves it. A book none of whose layers is at its lowest gain
threshold has no plan (None). The document's field names are a contract (docs/alerts.md, Roll plan).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.book import PortfolioState
from monitor.market import MarketState
from monitor.plan import harvest, instruments, preconditions
from monitor.plan.baseline import PlannedTrade, VegaBaseline, VegaBaselines
from monitor.plan.breakevens import Distances, Probe
from monitor.plan.model import HarvestLayer, RollInstrument
from monitor.plan.search import Choice, SearchInput, search
from monitor.plan.text import action_text
from monitor.pricing.valuation import Valuation
from monitor.rules import roll, term_structure
from monitor.rules.calendar import MacroEvent
from monitor.rules.momentum import Momentum
from monitor.rules.vega import NetVega, leg_unit

if TYPE_CHECKING:
    from monitor.settings import RulesConfig

VEGA_UNIT = (
    "USD per vol point: an SPX option counts its vega (per point of SPX implied vol); a VIX "
    "option counts its delta to the VX future of its expiry x 100 (per VX point, one VX point "
    "read as one vol point)"
)
BANDS = {"standard": (0.40, 0.60), "conversion": (0.60, 0.75)}


@dataclass(frozen=True, slots=True)
class PlanInputs:
    now_ns: int
    today: dt.date
    state: PortfolioState
    valuation: Valuation
    market: MarketState
    market_stale: bool
    max_age_ns: int
    cfg: RulesConfig
    net_vega: NetVega
    baselines: VegaBaselines
    probe: Probe | None
    """A probe for book 0 (``Probe.book`` is replaced per book); None without condors."""
    curve: term_structure.Curve
    momentum: Momentum
    next_high_impact: MacroEvent | None
    chain: roll.Chain


@dataclass(frozen=True, slots=True)
class Plan:
    book: str
    doc: dict[str, Any]
    action: str


@dataclass(slots=True)
class PlanBook:
    inputs: PlanInputs
    _plans: dict[str, Plan | None] = field(default_factory=dict)
    _instruments: list[RollInstrument] | None = None
    _book_ids: dict[str, int] | None = None

    def get(self, book: str) -> Plan | None:
        """Return the book's plan this cycle (None: no layer fires, or no such book)."""
        if book not in self._plans:
            b = self._book_id(book)
            self._plans[book] = _plan(self, b) if b is not None else None
        return self._plans[book]

    def _book_id(self, book: str) -> int | None:
        if self._book_ids is None:  # a list lookup per plan is quadratic at 10,000 books
            names = self.inputs.state.index.book_names
            self._book_ids = {name: b for b, name in enumerate(names)}
        return self._book_ids.get(book)

    def no_plan_reason(self, book: str) -> str:
        """Say why ``get(book)`` is None: stale marks are never read as "below threshold"."""
        inp = self.inputs
        idx = inp.state.index
        b = self._book_id(book)
        if b is None:
            raise ValueError(f"{book!r} is not in the portfolio")
        stale = [
            idx.struct_names[s]
            for s in idx.book_structs(b)
            if idx.struct_kind[s] == "layer" and bool(inp.state.struct_stale[s])
        ]
        if stale:
            why = "the feed is silent" if inp.market_stale else "stale or missing leg marks"
            return (
                f"cannot plan on stale marks: {', '.join(stale)} not measured ({why}); "
                "the last plan is not repeated"
            )
        return "no layer of the book is at its lowest gain threshold"

    def instruments(self) -> list[RollInstrument]:
        if self._instruments is None:
            self._instruments = _instruments(self.inputs)
        return self._instruments


def _instruments(inp: PlanInputs) -> list[RollInstrument]:
    cfg = inp.cfg.roll
    cands = roll.candidates(
        inp.chain,
        inp.market,
        inp.valuation,
        inp.today,
        inp.now_ns,
        cfg,
        max_age_ns=inp.max_age_ns,
        stale=inp.market_stale,
        limit=instruments.MAX_LONGS,
    )
    if cfg.variant == "conversion":
        return instruments.spreads(
            cands, inp.chain, inp.market, inp.valuation, inp.now_ns, inp.max_age_ns
        )
    return instruments.calls(cands)


def band(cfg: RulesConfig) -> tuple[float, float]:
    """Return the recycle band of the configured variant (``rules.roll.recycle_band``)."""
    rb = cfg.roll.recycle_band
    return (rb[0], rb[1]) if rb else BANDS[cfg.roll.variant]


def _plan(pb: PlanBook, b: int) -> Plan | None:
    inp, cfg = pb.inputs, pb.inputs.cfg
    name = inp.state.index.book_names[b]
    lg = cfg.layer_gain
    fired = harvest.firing(inp.state, inp.net_vega, b, lg.thresholds[0], lg.hysteresis)
    if not fired.layers and not fired.untradeable:
        return None
    vega_now = float(inp.net_vega.book[b])
    base = inp.baselines.get(name)
    target = base.value_usd if base is not None else vega_now
    probe = Probe(inp.probe.be, b) if inp.probe else None
    now_be = probe.now() if probe else Distances(math.nan, math.nan, False)
    k = cfg.breakeven.k_sigma
    selective = now_be.outside(k)
    reverting = bool(inp.momentum.mean_reversion)
    coef = (
        cfg.roll.martingale_coefficient_reverting if reverting else cfg.roll.martingale_coefficient
    )
    insts = pb.instruments()
    sin = SearchInput(
        vega_now_usd=vega_now,
        baseline_usd=target,
        layers=fired.layers,
        instruments=insts,
        band=band(cfg),
        coefficient=coef,
        selective=selective,
    )
    accept = (lambda d: probe.at(d).outside(k)) if (probe and selective) else None
    choice = search(sin, accept)
    after_be = probe.at(choice.overlay_change_usd) if (probe and choice) else now_be
    doc = _doc(inp, b, sin, choice, base, now_be, after_be, fired.untradeable)
    plan = Plan(book=name, doc=doc, action=action_text(doc))
    if choice is not None:
        inp.baselines.note_plan(name, _planned(sin, choice, doc["action_text"]))
    return plan


def _planned(sin: SearchInput, ch: Choice, summary: str) -> PlannedTrade:
    trade: dict[str, int] = {}
    for layer, h in zip(sin.layers, ch.harvest, strict=True):
        for leg in layer.legs:
            trade[leg.symbol] = trade.get(leg.symbol, 0) - leg.quantity * h
    if ch.instrument is not None:
        for leg in sin.instruments[ch.instrument].legs:
            trade[leg.symbol] = trade.get(leg.symbol, 0) + leg.quantity * ch.quantity
    return PlannedTrade(
        trade=trade, vega_after_roll_usd=ch.vega_after_roll_usd, summary=summary[:200]
    )


def binding(sin: SearchInput, ch: Choice) -> str:
    """Return what decided the size: vega, budget, cap, harvest (too much vega left even with
    nothing bought) or market (no tradeable roll instrument)."""
    unit = _unit_vega(sin, ch)
    residual = ch.vega_after_roll_usd - sin.baseline_usd
    if abs(residual) <= unit + 1e-9:
        return "vega"
    if residual > 0:
        return "harvest"
    if not any(math.isfinite(x.cost_usd) and x.cost_usd > 0 for x in sin.instruments):
        return "market"
    return "cap" if ch.cap < ch.affordable else "budget"


def _unit_vega(sin: SearchInput, ch: Choice) -> float:
    if ch.instrument is not None:
        return abs(sin.instruments[ch.instrument].vega_usd)
    ok = [x for x in sin.instruments if math.isfinite(x.cost_usd) and x.cost_usd > 0]
    return abs(min(ok, key=lambda x: x.rank).vega_usd) if ok else 0.0


def _doc(
    inp: PlanInputs,
    b: int,
    sin: SearchInput,
    ch: Choice | None,
    base: VegaBaseline | None,
    now_be: Distances,
    after_be: Distances,
    untradeable: list[str],
) -> dict[str, Any]:
    cfg = inp.cfg
    lo, hi = sin.band
    codes = term_structure.conditions(inp.curve, cfg)
    ts = cfg.term_structure
    pre = [
        preconditions.macro_event(inp.next_high_impact, inp.now_ns, cfg.calendar.within_h),
        preconditions.term_structure(
            inp.curve.contango, int(codes[0]), int(codes[1]), ts.min_contango + ts.hysteresis
        ),
        preconditions.mean_reversion(inp.momentum.mean_reversion, _histogram(inp), sin.coefficient),
        preconditions.breakevens(after_be, cfg.breakeven.k_sigma),
    ]
    inst = sin.instruments[ch.instrument] if ch and ch.instrument is not None else None
    gain = ch.gain_usd if ch else 0.0
    doc: dict[str, Any] = {
        "book": inp.state.index.book_names[b],
        "ts_ns": inp.now_ns,
        "variant": cfg.roll.variant,
        "harvest_mode": "selective" if sin.selective else "full",
        "harvest_rule": _harvest_rule(sin.selective, now_be, cfg.breakeven.k_sigma),
        "harvest": _harvest_doc(sin.layers, ch),
        "untradeable_layers": untradeable,
        "harvested_gain_usd": _r(gain),
        "recycle_band": [lo, hi],
        "budget_usd": _r(hi * max(gain, 0.0)),
        "roll": None if inst is None else inst.doc(),
        "roll_contracts": ch.quantity if ch else 0,
        "roll_cost_usd": _r(ch.cost_usd) if ch else 0.0,
        "recycle_fraction_used": round(ch.cost_usd / gain, 4) if ch and gain > 0 else 0.0,
        "affordable_contracts": ch.affordable if ch else 0,
        "martingale_coefficient": sin.coefficient,
        "martingale_cap_contracts": ch.cap if ch else 0,
        "candidates_considered": len(sin.instruments),
        "candidates": [x.doc() for x in sin.instruments],
        "vega_unit": VEGA_UNIT,
        "vega_now_usd": _r(sin.vega_now_usd),
        "vega_after_harvest_usd": _r(ch.vega_after_harvest_usd) if ch else _r(sin.vega_now_usd),
        "vega_after_roll_usd": _r(ch.vega_after_roll_usd) if ch else _r(sin.vega_now_usd),
        "vega_baseline_usd": _r(sin.baseline_usd),
        "vega_baseline_source": base.describe() if base is not None else "none yet: net vega now",
        "binding": binding(sin, ch) if ch else "market",
        "residual_vega_usd": _r(ch.vega_after_roll_usd - sin.baseline_usd) if ch else None,
        "vega_legs": _vega_legs(inp, b, sin, ch),
        "breakevens_now": now_be.text(),
        "breakevens_after": after_be.text(),
        "breakevens_kept": bool(ch.accepted) if ch else None,
        "preconditions": [p.doc() for p in pre],
        "action": preconditions.timing(pre[0], pre[1], bool(ch.quantity)) if ch else "no_harvest",
    }
    doc["action_text"] = action_text(doc)
    return doc


def _histogram(inp: PlanInputs) -> float | None:
    ind = inp.momentum.by_timeframe.get(inp.cfg.momentum.timeframe)
    return None if ind is None else float(ind.histogram)


def _harvest_rule(selective: bool, now_be: Distances, k: float) -> str:
    if selective:
        return (
            f"selective: the break-evens ({now_be.text()}) are outside +-{k:g} sigma with the "
            "hedge, so only the fewest units that reach the vega baseline within one contract "
            "(and keep the break-evens outside) are harvested"
        )
    return (
        f"full: the break-evens ({now_be.text()}) are not outside +-{k:g} sigma, so every "
        "firing layer is harvested in full"
    )


def _harvest_doc(layers: Sequence[HarvestLayer], ch: Choice | None) -> list[dict[str, Any]]:
    out = []
    for j, layer in enumerate(layers):
        h = ch.harvest[j] if ch else 0
        out.append(
            {
                "layer": layer.name,
                "gain_ratio": round(layer.gain_ratio, 4),
                "units": layer.units,
                "units_harvested": h,
                "contracts_harvested": h * layer.contracts_per_unit,
                "fully": h == layer.units,
                "legs": [leg.doc(h) for leg in layer.legs],
                "proceeds_usd": _r(h * layer.proceeds_usd),
                "entry_cost_usd": _r(h * layer.cost_usd),
                "gain_usd": _r(h * (layer.proceeds_usd - layer.cost_usd)),
                "vega_usd": _r(h * layer.vega_usd),
                "contracts_per_unit": layer.contracts_per_unit,
                "proceeds_usd_per_unit": _r(layer.proceeds_usd),
                "entry_cost_usd_per_unit": _r(layer.cost_usd),
                "vega_usd_per_unit": _r(layer.vega_usd),
                "vega_unknown_legs": list(layer.vega_unknown),
            }
        )
    return out


def _vega_legs(
    inp: PlanInputs, b: int, sin: SearchInput, ch: Choice | None
) -> list[dict[str, Any]]:
    """Per leg of the book (and of the roll): what it adds to the net vega, in which unit."""
    idx = inp.state.index
    out = [
        {
            "structure": idx.struct_names[int(idx.leg_struct[i])],
            "symbol": idx.leg_symbol[i],
            "quantity": int(idx.leg_qty[i]),
            "unit": leg_unit(bool(idx.leg_is_spx[i])),
            "vega_usd": _r(float(inp.net_vega.leg[i])),
        }
        for i in idx.book_legs(b)
    ]
    if ch and ch.instrument is not None:
        for leg in sin.instruments[ch.instrument].legs:
            out.append(
                {
                    "structure": "roll",
                    "symbol": leg.symbol,
                    "quantity": leg.quantity * ch.quantity,
                    "unit": "vix_delta_x100",
                    "vega_usd": _r(leg.vega_usd * ch.quantity),
                }
            )
    return out


def _r(x: float) -> float | None:
    return round(x, 2) if math.isfinite(x) else None
