"""The harvestable layers of a book: the firing ones, split into units, at the touch.

A layer fires when its gain ratio is at or above the lowest layer-gain threshold on fresh marks
(the layer-gain alert's breach); when none does, the layers inside the hysteresis band (hold)
are the ones the plan works on. A layer one of whose legs has no price to sell at (no bid for a
long leg, no ask for a short one) is *not tradeable*: it is named and left out of the harvest.
A leg the pricing core could not price (no implied vol, so no delta) has no vega: like the book's
net vega (priced legs only), the plan counts it as 0 and names it (``vega_unknown``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from monitor.book import PortfolioState
from monitor.plan.model import HarvestLayer, PlanLeg
from monitor.rules.vega import NetVega


@dataclass(frozen=True, slots=True)
class Firing:
    layers: list[HarvestLayer]
    """Tradeable firing layers, in portfolio order."""
    untradeable: list[str]
    """Firing layers without a price to sell at, by name."""


def firing(
    state: PortfolioState, nv: NetVega, book: int, threshold: float, hysteresis: float
) -> Firing:
    """Return the book's firing layers (see the module docstring)."""
    idx = state.index
    mine = [
        s
        for s in idx.book_structs(book)
        if idx.struct_kind[s] == "layer" and not bool(state.struct_stale[s])
    ]
    gain = {s: float(state.struct_gain_ratio[s]) for s in mine}
    at = [s for s in mine if gain[s] >= threshold]
    if not at:
        at = [s for s in mine if gain[s] >= threshold - hysteresis]
    layers = [_layer(state, nv, s) for s in at]
    return Firing(
        layers=[x for x in layers if x.tradeable],
        untradeable=[x.name for x in layers if not x.tradeable],
    )


def _layer(state: PortfolioState, nv: NetVega, s: int) -> HarvestLayer:
    idx = state.index
    span = idx.book_legs(int(idx.struct_book[s]))
    rows = (span.start + np.flatnonzero(idx.leg_struct[span.start : span.stop] == s)).tolist()
    qty = [int(idx.leg_qty[i]) for i in rows]
    units = math.gcd(*[abs(q) for q in qty]) or 1
    legs = tuple(
        PlanLeg(
            symbol=idx.leg_symbol[i],
            quantity=q // units,
            price=float(state.leg_bid[i] if q > 0 else state.leg_ask[i]),
            mid=float(state.leg_mid[i]),
            vega_usd=_finite(float(nv.leg[i])) / units,
        )
        for i, q in zip(rows, qty, strict=True)
    )
    return HarvestLayer(
        struct=s,
        name=idx.struct_names[s],
        units=units,
        legs=legs,
        cost_usd=float(state.struct_cost_usd[s]) / units,
        gain_ratio=float(state.struct_gain_ratio[s]),
        vega_unknown=tuple(idx.leg_symbol[i] for i in rows if not math.isfinite(float(nv.leg[i]))),
    )


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0
