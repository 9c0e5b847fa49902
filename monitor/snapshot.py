"""The ``/api/v1/snapshot`` document, built on request from the latest engine cycle.

Per book, per structure (condor or layer): value, entry cost, gain ratio, net dollar Greeks; per
leg: the quote, the mark with its ``source`` (``mid``, ``last``, ``settle`` or ``none``) and age,
the settlement and open interest the feed sent, IV (and why there is none), unit Greeks and every
pricing input used (forward and how it was obtained, time to expiry in years, rate), so anyone
can recompute our numbers. Book numbers are sums over priced legs; ``unpriced_legs`` names the
others with the reason (``monitor.book``).
"""

from __future__ import annotations

import math
from typing import Any

from monitor.book import UNPRICED_REASONS
from monitor.engine import Cycle
from monitor.market import MARK_SOURCES, MarketState
from monitor.pricing.reasons import IvReason
from monitor.rules import doc as rules_doc


def _f(x: Any, digits: int = 6) -> float | None:
    v = float(x)
    return None if math.isnan(v) or math.isinf(v) else round(v, digits)


def _forward_method(cycle: Cycle, r: int) -> str | None:
    chain = int(cycle.valuation.universe.chain_id[r])
    return None if chain < 0 else cycle.valuation.forward_method(chain)


def _settle(market: MarketState | None, r: int) -> dict[str, Any]:
    if market is None:
        return {}
    day = market.settle_date(r)
    oi = float(market.open_interest[r])
    return {
        "settle": _f(market.settle[r]),
        "settle_date": None if day is None else day.isoformat(),
        "open_interest": None if math.isnan(oi) else int(oi),
    }


def silent_beyond_clock_s(cycle: Cycle) -> float:
    """Seconds the feed has been silent beyond the evaluation clock (0 on wall time).

    On market time the clock is the newest quote, so it stops while the feed is silent; the
    silence ``feed_stale`` judges (wall seconds since the last quote arrived) is added to every
    mark's age so that ``mark_age_s`` keeps growing instead of reading 0.
    """
    if cycle.rules is None:
        return 0.0
    q = cycle.rules.analysis.quality
    extra = q.silence_s - q.quote_age_s
    return max(0.0, extra) if math.isfinite(extra) else 0.0


def _leg(cycle: Cycle, i: int, market: MarketState | None = None) -> dict[str, Any]:
    st, val = cycle.state, cycle.valuation
    idx = st.index
    r = int(idx.leg_row[i])
    mark_ts = int(st.leg_mark_ts_ns[i])
    silent_s = silent_beyond_clock_s(cycle)
    return {
        "symbol": idx.leg_symbol[i],
        "quantity": int(idx.leg_qty[i]),
        "entry_price": float(idx.leg_entry[i]),
        "bid": _f(st.leg_bid[i]),
        "ask": _f(st.leg_ask[i]),
        "mid": _f(st.leg_mid[i]),
        "source": MARK_SOURCES[int(st.leg_mark_source[i])],
        "mark_age_s": round((cycle.now_ns - mark_ts) / 1e9 + silent_s, 1) if mark_ts else None,
        **_settle(market, r),
        "priced": bool(st.leg_unpriced[i] == 0),
        "unpriced_reason": None if st.leg_unpriced[i] == 0 else UNPRICED_REASONS[
            int(st.leg_unpriced[i])],
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
            "forward_method": _forward_method(cycle, r),
            "t_years": _f(val.t_years[r], 10),
            "rate": _f(val.rate[r], 8),
            "discount_factor": _f(val.df[r], 10),
        },
        "value_usd": _f(st.leg_value_usd[i], 2),
        "delta_1pct_usd": _f(st.leg_delta_1pct_usd[i], 2),
        "vega_usd": _f(st.leg_vega_usd[i], 2),
        "theta_usd": _f(st.leg_theta_usd[i], 2),
    }


def _structure(
    cycle: Cycle, s: int, legs: list[int], market: MarketState | None = None
) -> dict[str, Any]:
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
        "legs": [_leg(cycle, i, market) for i in legs],
    }


def build(cycle: Cycle, market: MarketState | None = None) -> dict[str, Any]:
    """Return the snapshot document for ``cycle`` (``market`` adds settlements per leg)."""
    market = market if market is not None else cycle.market
    st = cycle.state
    idx = st.index
    legs_of: dict[int, list[int]] = {}
    for i, s in enumerate(idx.leg_struct.tolist()):
        legs_of.setdefault(s, []).append(i)
    books: list[dict[str, Any]] = []
    for b, name in enumerate(idx.book_names):
        structs = [s for s, owner in enumerate(idx.struct_book.tolist()) if owner == b]
        docs = [_structure(cycle, s, legs_of.get(s, []), market) for s in structs]
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
                "unpriced_legs": [
                    {"symbol": sym, "reason": why} for sym, why in st.unpriced(b)
                ],
                "condors": [d for d in docs if d["kind"] == "condor"],
                "layers": [d for d in docs if d["kind"] == "layer"],
                "others": [d for d in docs if d["kind"] == "other"],
            }
        )
        if cycle.rules is not None:
            books[-1]["rules"] = rules_doc.book(cycle.rules, st, b)
    out: dict[str, Any] = {"ts_ns": cycle.now_ns, "books": books}
    if cycle.rules is not None:
        out["rules"] = rules_doc.market(cycle.rules, cycle.now_ns)
        _bar_origins(out["rules"], cycle.backfilled_bars or {})
    return out


def _bar_origins(rules: dict[str, Any], backfilled: dict[str, int]) -> None:
    """Say per timeframe how many completed VIX bars are real (seen by this monitor, kept
    across restarts) and how many came from the published daily history."""
    for tf, doc in rules.get("momentum", {}).get("timeframes", {}).items():
        filled = min(backfilled.get(tf, 0), int(doc["bars"]))
        doc["backfilled_bars"] = filled
        doc["real_bars"] = int(doc["bars"]) - filled
