"""One point of a session's timeline per evaluated cycle, for the replay's HTML report. [pure]

Per cycle: each layer's gain ratio, each condor's hedge-inclusive break-evens with the forward
and the expected move (the break-even rule's numbers), the VX curve's contango and VIX, the VIX
momentum indicators of the configured timeframe, and each book's value (its P&L over the
session is the change from the first point).
"""

from __future__ import annotations

import math
from typing import Any

from monitor.engine import Cycle
from monitor.settings import Settings


def _f(x: float, digits: int = 4) -> float | None:
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def sample(cycle: Cycle, cfg: Settings) -> dict[str, Any]:
    """Return the timeline point of ``cycle``."""
    st, idx = cycle.state, cycle.state.index
    point: dict[str, Any] = {
        "ts_ns": cycle.now_ns,
        "layers": {
            f"{idx.book_names[int(idx.struct_book[s])]}/{idx.struct_names[s]}": _f(
                st.struct_gain_ratio[s], 6
            )
            for s, kind in enumerate(idx.struct_kind)
            if kind == "layer"
        },
        "books": {name: _f(st.book_value_usd[b], 2) for b, name in enumerate(idx.book_names)},
    }
    if cycle.rules is None:
        return point
    a = cycle.rules.analysis
    be = a.breakevens
    point["condors"] = {
        f"{idx.book_names[int(be.condors.book[c])]}/{idx.struct_names[int(be.condors.struct[c])]}":
        {
            "lower": _f(be.lower[c], 2),
            "upper": _f(be.upper[c], 2),
            "forward": _f(be.forward[c], 2),
            "move": _f(be.expected_move[c], 2),
            "valid": bool(be.valid[c]),
        }
        for c in range(len(be.condors))
    }  # fmt: skip
    ind = a.momentum.by_timeframe.get(cfg.rules.momentum.timeframe)
    point["curve"] = {"contango": _f(a.curve.contango, 6), "vix": _f(a.curve.vix, 3)}
    point["momentum"] = {
        "vix": _f(a.momentum.vix, 3),
        "rsi": None if ind is None else _f(ind.rsi, 3),
        "macd_histogram": None if ind is None else _f(ind.histogram, 5),
    }
    return point
