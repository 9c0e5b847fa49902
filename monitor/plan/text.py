"""The plan as text a trader can act on: one paragraph that follows from the plan document.

Harvest (what to sell, at which price), roll (what to buy, at which price, against the budget
and cap), the net vega before and after against the baseline and what bound the size, then the
timing the preconditions dictate ("Roll now" / "Harvest now, roll when contango returns" / ...)
and, when the break-evens stay inside the expected move after the plan, that the condor itself
needs attention.
"""

from __future__ import annotations

from typing import Any


def action_text(doc: dict[str, Any]) -> str:
    """Return the plan as one paragraph a trader can act on (follows from its preconditions)."""
    if doc["action"] == "no_harvest":
        names = ", ".join(doc["untradeable_layers"]) or "no layer"
        return f"No plan: {names} has no tradeable price to sell at now (no bid)."
    parts = [_harvest_text(doc), _roll_text(doc), _vega_text(doc), _timing_text(doc)]
    be = next(p for p in doc["preconditions"] if p["name"] == "breakevens_after_plan")
    if be["holds"] is False:
        parts.append(
            f"Break-evens after the plan: {be['value']}: still inside the expected move with the "
            "hedge counted; the condor itself needs attention."
        )
    parts.append("Do not add size into the pop.")
    return " ".join(p for p in parts if p)


def _harvest_text(doc: dict[str, Any]) -> str:
    picked = [h for h in doc["harvest"] if h["units_harvested"]]
    if not picked:
        return "Harvest nothing."
    lines = []
    for h in picked:
        legs = ", ".join(
            f"{-leg['quantity'] if leg['quantity'] < 0 else leg['quantity']} x "
            f"{leg['symbol']} at {_px(leg['price'])}"
            for leg in h["legs"]
        )
        part = "all" if h["fully"] else f"{h['units_harvested']} of"
        lines.append(f"{h['layer']}: {part} {h['units']} units ({legs})")
    return (
        f"Harvest {'; '.join(lines)} for {_usd(sum(h['proceeds_usd'] or 0 for h in picked))} "
        f"(gain {_usd(doc['harvested_gain_usd'])})."
    )


def _roll_text(doc: dict[str, Any]) -> str:
    r = doc["roll"]
    lo, hi = doc["recycle_band"]
    if r is None:
        return f"Buy nothing: {_why_none(doc)}."
    px = " / ".join(
        f"{_px(leg['price'])} {'ask' if leg['quantity'] > 0 else 'bid'}" for leg in r["legs"]
    )
    below = (
        "; below the band's floor: the baseline needs no more, the rest of the gain stays cash"
        if doc["recycle_fraction_used"] < lo - 1e-9
        else ""
    )
    return (
        f"Buy {doc['roll_contracts']} x {r['label']} ({r['dte']} DTE, {r['otm_pct']:.1f}% OTM of "
        f"{r['future']:g}) at {px}: {_usd(doc['roll_cost_usd'])}, "
        f"{doc['recycle_fraction_used']:.0%} of the gain (band {lo:.0%}-{hi:.0%}, budget "
        f"{_usd(doc['budget_usd'])}; martingale cap {doc['martingale_cap_contracts']}){below}."
    )


def _why_none(doc: dict[str, Any]) -> str:
    if doc["binding"] == "market":
        return "no tradeable price for any roll candidate (no ask) now; keep the cash"
    if doc["binding"] == "harvest":
        return "the harvest leaves net vega above the baseline, any call moves it further away"
    return "the baseline is reached without a roll"


def _vega_text(doc: dict[str, Any]) -> str:
    b = doc["binding"]
    tail = {
        "vega": "the baseline is reached within one contract",
        "budget": f"the budget binds: {_v(doc['residual_vega_usd'])} from the baseline remain",
        "cap": f"the martingale cap binds: {_v(doc['residual_vega_usd'])} from the baseline remain",
        "harvest": f"{_v(doc['residual_vega_usd'])} above the baseline remain",
        "market": f"{_v(doc['residual_vega_usd'])} from the baseline remain",
    }[b]
    return (
        f"Net vega {_v(doc['vega_now_usd'])} -> {_v(doc['vega_after_harvest_usd'])} after the "
        f"harvest -> {_v(doc['vega_after_roll_usd'])} after the roll, baseline "
        f"{_v(doc['vega_baseline_usd'])} ({doc['vega_baseline_source']}): {tail}."
    )


def _timing_text(doc: dict[str, Any]) -> str:
    pre = {p["name"]: p for p in doc["preconditions"]}
    match doc["action"]:
        case "harvest_now_roll_when_contango_returns":
            return f"Harvest now, roll when contango returns ({pre['term_structure']['value']})."
        case "harvest_now_roll_after_event":
            return f"Harvest now, roll after the release ({pre['macro_event']['value']})."
        case "harvest_only":
            return "Harvest now."
    return "Roll now: harvest and buy together."


def _px(x: object) -> str:
    return "n/a" if x is None else f"{float(x):.2f}"  # type: ignore[arg-type]


def _v(x: object) -> str:
    return "n/a" if x is None else f"{float(x):+,.0f}"  # type: ignore[arg-type]


def _usd(x: object) -> str:
    return "n/a" if x is None else f"${float(x):,.0f}"  # type: ignore[arg-type]
