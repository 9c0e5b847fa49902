"""The rules' part of the ``/api/v1/snapshot`` document (pure).

Market-wide: the VX curve, VIX momentum, the next macro events, data quality, the live roll
candidates and every alert key that is not clear (with its condition: breach, hold or unknown).
Per book: the vega baseline, the stress result and each condor's break-evens.
"""

from __future__ import annotations

import math
from typing import Any

from monitor.book import PortfolioState
from monitor.positions.ledger import Ledger
from monitor.rules import stress
from monitor.rules.breakeven import SIDES
from monitor.rules.registry import Outcome
from monitor.rules.term_structure import CurvePoint

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
    q = a.quality
    silent = q.silence_s - q.quote_age_s  # beyond a market clock that stops with the feed
    extra = max(0.0, silent) if math.isfinite(silent) else 0.0
    return {
        "curve": {
            "points": [_point(p) for p in a.curve.points],
            "weeklies": [_point(p) for p in a.curve.weeklies],
            "status": a.curve.status,
            "last_quote_ns": a.curve.last_quote_ns or None,
            "stale_points": [_point(p, extra) for p in a.curve.stale_points],
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
            "silence_s": _f(a.quality.silence_s, 1),
            "two_sided_quotes": a.quality.two_sided,
            "crossed_or_locked": a.quality.crossed_locked,
            "unpriced_legs": int(a.quality.unpriced_legs.sum()),
        },
        "roll_candidates": [c.doc() for c in a.roll_candidates],
        "alerts": [{"key": k, "condition": c} for k, c in out.not_clear()],
    }


def _point(p: CurvePoint, silent_s: float = 0.0) -> dict[str, Any]:
    return {
        "months_out": p.months_out,
        "symbol": p.symbol,
        "expiry": p.expiry.isoformat(),
        "days": p.days,
        "price": round(p.price, 4),
        "source": p.source,
        "age_s": round(p.age_s + silent_s, 1),
    }


def _event(label: str, ts_ns: int, now_ns: int) -> dict[str, Any]:
    return {"event": label, "ts_ns": ts_ns, "in_h": round((ts_ns - now_ns) / NS / 3600, 2)}


def _opt(arr: Any, c: int) -> float | None:
    return None if arr is None else _f(float(arr[c]), 2)


def _realized(ledger: Ledger | None, book: str) -> list[dict[str, Any]]:
    """The book's realized P&L entries (``monitor.positions.ledger``), oldest first."""
    if ledger is None:
        return []
    return [
        {
            "structure": e.structure,
            "kind": e.kind,
            "symbol": e.symbol,
            "quantity": e.quantity,
            "entry_price": e.entry_price,
            "exit_price": e.exit_price,
            "source": e.source,
            "realized_usd": round(e.realized_usd, 2),
            "ts_ns": e.ts_ns,
        }
        for e in ledger.entries
        if e.book == book
    ]


def book(out: Outcome, state: PortfolioState, b: int) -> dict[str, Any]:
    """Per book: vega baseline, stress and margin (with the grid), break-evens, realized P&L."""
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
                "hedge_open_pnl_usd": _opt(be.hedge_usd, c),
                "realized_pnl_usd": _opt(be.realized_usd, c),
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
    name = idx.book_names[b]
    unknown = [k for k, c in out.not_clear() if c == "unknown" and k.split("|")[1] == name]
    return {
        "vega_baseline_usd": _f(float(a.vega_baseline[b]), 2),
        "stress": {
            **stress.values(st, b),
            "margin": [
                {"kind": ln.kind, "what": ln.what, "usd": _f(ln.usd, 2)}
                for ln in st.margin_lines
                if ln.book == b
            ],
            "grid": stress.grid_doc(st, b),
        },
        "realized": _realized(a.ledger, name),
        "breakevens": condors,
        "unknown": unknown,
    }
