"""What ``/api/v1/risk-profile`` answers and what the page's event stream carries. [pure]

Each function returns plain documents; the app gives them the running engine's last cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from monitor.engine import Cycle
from monitor.model import CONTRACT_MULTIPLIER
from monitor.symbols import Kind
from monitor.web.profile import ProfileError, compute


def risk_profile(
    cycle: Cycle | None, book: str | None, structure: str | None
) -> tuple[int, dict[str, Any]]:
    """Return (HTTP status, document): the risk profile of a book or one of its condors."""
    if not book:
        want = "/api/v1/risk-profile?book=NAME[&structure=CONDOR]"
        return 400, {"error": f"the book query parameter is required: {want}"}
    if cycle is None or cycle.rules is None:
        return 503, {"error": "no cycle yet"}
    try:
        p = compute(cycle.state, cycle.valuation, book, structure or None,
                    cycle.rules.analysis.breakevens)  # fmt: skip
    except ProfileError as exc:
        return exc.status, {"error": str(exc)}
    return 200, p.to_doc()


def profiles(
    snapshot: dict[str, Any], profile_of: Callable[[str, str | None], tuple[int, Any]]
) -> list[dict[str, Any]]:
    """Return every book's profile, and each condor's when a book has more than one."""
    out = []
    for book in snapshot.get("books", []):
        condors = [c["name"] for c in book.get("condors", [])]
        if not condors:
            continue
        wanted: list[str | None] = [None, *condors] if len(condors) > 1 else [None]
        for structure in wanted:
            code, doc = profile_of(book["name"], structure)
            out.append(doc if code == 200 else {"book": book["name"], "structure": structure,
                                                "error": doc.get("error")})  # fmt: skip
    return out


def _usd(x: float) -> float | None:
    return round(x, 2) if math.isfinite(x) else None


def layers(cycle: Cycle, thresholds: list[float]) -> list[dict[str, Any]]:
    """Return per layer: gain against each threshold and the dollars harvestable now.

    Harvestable: what closing the layer at the touch would realize over its entry cost (sell a
    long leg at the bid, buy back a short one at the ask); null when a side is missing.
    """
    st, idx = cycle.state, cycle.state.index
    out = []
    for s, kind in enumerate(idx.struct_kind):
        if kind != "layer":
            continue
        rows = np.flatnonzero(idx.leg_struct == s)
        qty = idx.leg_qty[rows]
        touch = np.where(qty > 0, st.leg_bid[rows], st.leg_ask[rows])
        exit_usd = float((touch * qty * CONTRACT_MULTIPLIER).sum())
        cost = float(st.struct_cost_usd[s])
        gain = float(st.struct_gain_ratio[s])
        out.append(
            {
                "book": idx.book_names[int(idx.struct_book[s])],
                "name": idx.struct_names[s],
                "gain_ratio": round(gain, 6) if math.isfinite(gain) else None,
                "value_usd": _usd(float(st.struct_value_usd[s])),
                "entry_cost_usd": _usd(cost),
                "harvestable_usd": _usd(exit_usd - cost),
                "stale": bool(st.struct_stale[s]),
                "thresholds": [
                    {"threshold": t, "reached": math.isfinite(gain) and gain >= t}
                    for t in thresholds
                ],
            }
        )
    return out


def curve_settlements(cycle: Cycle) -> dict[str, float]:
    """Return each VX future's previous settlement the feeds sent, by symbol."""
    market = cycle.market
    if market is None:
        return {}
    out = {}
    for inst in market.instruments:
        if inst.kind is Kind.FUTURE:
            row = market.index[inst.symbol]
            value = float(market.settle[row])
            if math.isfinite(value):
                out[inst.symbol] = round(value, 4)
    return out


def live_doc(
    *,
    cycle: Cycle | None,
    snapshot: dict[str, Any] | None,
    status: dict[str, Any],
    profile_of: Callable[[str, str | None], tuple[int, Any]],
    plan_of: Callable[[str], tuple[int, Any]],
    alerts: dict[str, Any],
    layer_gain_thresholds: list[float],
) -> dict[str, Any] | None:
    """Return the page's whole document (None before the first cycle)."""
    if snapshot is None or cycle is None:
        return None
    names = [b["name"] for b in snapshot.get("books", [])]
    return {
        "ts_ns": snapshot.get("ts_ns"),
        "ts_ns_text": str(snapshot.get("ts_ns")),  # exact: a JavaScript number holds 53 bits
        "status": status,
        "snapshot": snapshot,
        "profiles": profiles(snapshot, profile_of),
        "plans": {name: plan_of(name)[1] for name in names},
        "alerts": alerts,
        "layers": layers(cycle, layer_gain_thresholds),
        "curve_settlements": curve_settlements(cycle),
        "config": {"layer_gain_thresholds": layer_gain_thresholds},
    }
