"""What ``GET /api/v1/plan`` and ``POST /api/v1/baseline`` answer, over the engine (pure).

Each function returns (HTTP status, JSON document); the app's HTTP layer only transports them.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from monitor.engine import Engine


class BaselineRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    book: str
    value_usd: float | None = None
    """None: the book's net vega in the last cycle."""


REQUEST = msgspec.json.Decoder(BaselineRequest)


def plan(engine: Engine, book: str | None) -> tuple[int, dict[str, Any]]:
    """Return the book's roll plan of the last cycle."""
    if not book:
        return 400, {"error": "the book query parameter is required: /api/v1/plan?book=NAME"}
    cycle = engine.last_cycle
    if cycle is None or cycle.rules is None or cycle.rules.analysis.plans is None:
        return 503, {"error": "no cycle yet"}
    if book not in cycle.state.index.book_names:
        return 404, {"error": f"no book named {book!r}"}
    plans = cycle.rules.analysis.plans
    p = plans.get(book)
    if p is None:
        reason = plans.no_plan_reason(book)
        return 200, {"book": book, "ts_ns": cycle.now_ns, "plan": None, "reason": reason}
    return 200, {"book": book, "ts_ns": cycle.now_ns, "plan": p.doc, "action": p.action}


def set_baseline(engine: Engine, body: bytes, now_ns: int) -> tuple[int, dict[str, Any]]:
    """Set a book's vega baseline to a value, or to its net vega now (an explicit command)."""
    try:
        req = REQUEST.decode(body or b"{}")
    except msgspec.DecodeError as exc:
        want = '{"book": NAME, "value_usd": NUMBER or null}'
        return 400, {"error": f"bad request body: {exc} (want {want})"}
    cycle = engine.last_cycle
    if cycle is None or cycle.rules is None:
        return 503, {"error": "no cycle yet"}
    names = cycle.state.index.book_names
    if req.book not in names:
        return 404, {"error": f"no book named {req.book!r}"}
    value = req.value_usd
    detail = "to a given value"
    if value is None:
        value = float(cycle.rules.analysis.net_vega.book[names.index(req.book)])
        detail = "to the net vega of the last cycle"
    if not math.isfinite(value):
        return 409, {"error": f"book {req.book!r} has no finite net vega now; give a value"}
    vega = engine.memory.vega
    vega.set(req.book, value, "command", now_ns, detail)
    b = vega.get(req.book)
    assert b is not None
    return 200, {
        "book": req.book,
        "vega_baseline_usd": round(value, 2),
        "vega_baseline_source": b.describe(),
    }
