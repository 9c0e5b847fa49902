"""The rules' part of the ``/api/v1/snapshot`` document (pure).

Market-wide: the VX curve, VIX momentum, the next macro events, data quality, the live roll
candidates and every alert key that is not clear (with its condition: breach, hold or unknown).
Per book: the vega baseline, the stress result and each condor's break-evens.
"""

from __future__ import annotations

import math
from typing import Any

from monitor.book import PortfolioState
from monitor.rules.breakeven import SIDES
from monitor.rules.registry import Outcome

NS = 1_000_000_000


def _f(x: float, digits: int = 4) -> float | None:
    return None if not math.isfinite(x) else round(x, digits)


def _edge(x: float) -> float | str | None:
    """Break-evens: a number, ``"-inf"``/``"+inf"`` (none on that side) or null (unknown)."""
    if math.isinf(x):
        return "-inf" if x < 0 else "+inf"
    return _f(x, 2)


def market(out: Outcome, now_ns: int) -> dict[str, Any]:
    a = out.analysis
    ind = {
        tf: {
            "bars": i.bars,
            "close": _f(i.close, 2),
            "rsi": _f(i.rsi, 2),
            "macd_histogram": _f(i.histogram, 4),
            "contracting": i.contracting,
        }
        for tf, i in a.momentum.by_timeframe.items()
    }
    return {
        "curve": {
            "points": [
                {
                    "months_out": p.months_out,
                    "symbol": p.symbol,
                    "expiry": p.expiry.isoformat(),
                    "days": p.days,
                    "price": round(p.price, 4),
                }
                for p in a.curve.points
            ],
            "contango": _f(a.curve.contango),
            "vix": _f(a.curve.vix, 2),
            "vix3m": _f(a.curve.vix3m, 2),
            "vix_vix3m": _f(a.curve.vix_vix3m),
        },
        "momentum": {
            "vix": _f(a.momentum.vix, 2),
            "timeframes": ind,
            "mean_reversion_likely": a.momentum.mean_reversion,
        },
        "events": {
            "next": None
            if a.next_event is None
            else _event(a.next_event.label(), a.next_event.ts_ns, now_ns),
            "by_kind": {
                k: _event(e.label(), e.ts_ns, now_ns) for k, e in sorted(a.next_by_kind.items())
            },
        },
        "data_quality": {
            "market_stale": a.quality.market_stale,
            "quote_age_s": _f(a.quality.quote_age_s, 1),
            "two_sided_quotes": a.quality.two_sided,
            "crossed_or_locked": a.quality.crossed_locked,
        },
        "roll_candidates": [c.doc() for c in a.roll_candidates],
        "alerts": [{"key": k, "condition": c} for k, c in out.not_clear()],
    }


def _event(label: str, ts_ns: int, now_ns: int) -> dict[str, Any]:
    return {"event": label, "ts_ns": ts_ns, "in_h": round((ts_ns - now_ns) / NS / 3600, 2)}


def book(out: Outcome, state: PortfolioState, b: int) -> dict[str, Any]:
    a = out.analysis
    idx = state.index
    be = a.breakevens
    condors = []
    for c in range(len(be.condors)):
        if int(be.condors.book[c]) != b:
            continue
        condors.append(
            {
                "name": idx.struct_names[int(be.condors.struct[c])],
                "valid": bool(be.valid[c]),
                "forward": _f(float(be.forward[c]), 2),
                "expected_move_points": _f(float(be.expected_move[c]), 2),
                "overlay_pnl_usd": _f(float(be.overlay_usd[c]), 2),
                **{
                    f"{side}_breakeven": {
                        "points": _edge(float(be.points[c, j])),
                        "baseline_points": _edge(float(a.be_baseline[c, j])),
                        "distance_sigma": _f(float(be.distance_sigma[c, j]), 3),
                    }
                    for j, side in enumerate(SIDES)
                },
            }
        )
    st = a.stress
    w = int(st.worst_scenario[b]) if len(st.worst_scenario) else 0
    name = idx.book_names[b]
    unknown = [k for k, c in out.not_clear() if c == "unknown" and k.split("|")[1] == name]
    return {
        "vega_baseline_usd": _f(float(a.vega_baseline[b]), 2),
        "stress": {
            "worst_loss_usd": _f(float(st.worst_loss_usd[b]), 2),
            "worst_spot_shock": float(st.spot_shocks[w]) if len(st.spot_shocks) else None,
            "worst_vol_shift": float(st.vol_shifts[w]) if len(st.vol_shifts) else None,
            "coverage_assets_usd": _f(float(st.assets_usd[b]), 2),
            "coverage": _f(float(st.coverage[b]), 3),
        },
        "breakevens": condors,
        "unknown": unknown,
    }
