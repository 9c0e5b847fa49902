"""The ``/api/v1/snapshot`` document, built on request from the latest engine cycle.

Per book, per structure (condor or layer): value, entry cost, gain ratio, net dollar Greeks; per
leg: the quote, mid, IV (and why there is none), unit Greeks and every pricing input used
(forward, time to expiry in years, rate), so anyone can recompute our numbers.
"""

from __future__ import annotations

import math
from typing import Any

from monitor.engine import Cycle
from monitor.pricing.reasons import IvReason
from monitor.rules import doc as rules_doc


def _f(x: Any, digits: int = 6) -> float | None:
    v = float(x)
    return None if math.isnan(v) or math.isinf(v) else round(v, digits)


def _leg(cycle: Cycle, i: int) -> dict[str, Any]:
    st, val = cycle.state, cycle.valuation
    idx = st.index
    r = int(idx.leg_row[i])
    return {
        "symbol": idx.leg_symbol[i],
        "quantity": int(idx.leg_qty[i]),
        "entry_price": float(idx.leg_entry[i]),
        "bid": _f(st.leg_bid[i]),
        "ask": _f(st.leg_ask[i]),
        "mid": _f(st.leg_mid[i]),
        "stale": bool(st.leg_stale[i]),
        "iv": _f(val.iv_mid[r], 8),
        "iv_bid": _f(val.iv_bid[r], 8),
        "iv_ask": _f(val.iv_ask[r], 8),
        "iv_reason": IvReason(int(val.iv_reason[r])).name.lower(),
        "delta": _f(val.delta[r], 8),
        "gamma": _f(val.gamma[r], 10),
        "vega": _f(val.vega[r], 8),
        "theta": _f(val.theta[r], 8),
        "rho": _f(val.rho[r], 8),
        "inputs": {
            "forward": _f(val.forward[r], 6),
            "t_years": _f(val.t_years[r], 10),
            "rate": _f(val.rate[r], 8),
            "discount_factor": _f(val.df[r], 10),
        },
        "value_usd": _f(st.leg_value_usd[i], 2),
        "delta_1pct_usd": _f(st.leg_delta_1pct_usd[i], 2),
        "vega_usd": _f(st.leg_vega_usd[i], 2),
        "theta_usd": _f(st.leg_theta_usd[i], 2),
    }


def _structure(cycle: Cycle, s: int, legs: list[int]) -> dict[str, Any]:
    st = cycle.state
    return {
        "name": st.index.struct_names[s],
        "kind": st.index.struct_kind[s],
        "value_usd": _f(st.struct_value_usd[s], 2),
        "entry_cost_usd": _f(st.struct_cost_usd[s], 2),
        "gain_ratio": _f(st.struct_gain_ratio[s], 6),
        "stale": bool(st.struct_stale[s]),
        "greeks": {
            "delta_1pct_usd": _f(st.struct_delta_1pct_usd[s], 2),
            "gamma_1pct_usd": _f(st.struct_gamma_1pct_usd[s], 2),
            "vega_usd": _f(st.struct_vega_usd[s], 2),
            "theta_usd": _f(st.struct_theta_usd[s], 2),
        },
        "legs": [_leg(cycle, i) for i in legs],
    }


def build(cycle: Cycle) -> dict[str, Any]:
    """Return the snapshot document for ``cycle``."""
    st = cycle.state
    idx = st.index
    legs_of: dict[int, list[int]] = {}
    for i, s in enumerate(idx.leg_struct.tolist()):
        legs_of.setdefault(s, []).append(i)
    books: list[dict[str, Any]] = []
    for b, name in enumerate(idx.book_names):
        structs = [s for s, owner in enumerate(idx.struct_book.tolist()) if owner == b]
        docs = [_structure(cycle, s, legs_of.get(s, [])) for s in structs]
        books.append(
            {
                "name": name,
                "cash_usd": float(idx.cash_usd[b]),
                "value_usd": _f(st.book_value_usd[b], 2),
                "net_greeks": {
                    "delta_spx_1pct_usd": _f(st.book_delta_spx_1pct_usd[b], 2),
                    "delta_vix_1pct_usd": _f(st.book_delta_vix_1pct_usd[b], 2),
                    "gamma_spx_1pct_usd": _f(st.book_gamma_spx_1pct_usd[b], 2),
                    "vega_usd": _f(st.book_vega_usd[b], 2),
                    "theta_usd": _f(st.book_theta_usd[b], 2),
                },
                "condors": [d for d in docs if d["kind"] == "condor"],
                "layers": [d for d in docs if d["kind"] == "layer"],
            }
        )
        if cycle.rules is not None:
            books[-1]["rules"] = rules_doc.book(cycle.rules, st, b)
    out: dict[str, Any] = {"ts_ns": cycle.now_ns, "books": books}
    if cycle.rules is not None:
        out["rules"] = rules_doc.market(cycle.rules, cycle.now_ns)
    return out
