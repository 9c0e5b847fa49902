"""Layer gain: a hedge layer's gain ratio crossing each configured threshold, with the roll plan.

gain ratio = (value - entry cost) / |entry cost|, on the layer's current marks. One alert key per
(layer, threshold), subject ``LAYER@THRESHOLD``: it breaches at ``gain >= threshold`` and re-arms
only below ``threshold - hysteresis``. A layer with a stale or missing leg mark is ``unknown``
(the gain is never measured on stale marks). Every breach/hold signal carries the book's roll
plan of the cycle (``monitor.plan``: one plan per book, the same for every layer alert of the
book) as ``advisory`` and the plan's action text as ``action``. The alert machine lets a higher
threshold of the same layer inhibit the lower one (``monitor.alerts``).
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, cast

import numpy as np

from monitor.book import PortfolioIndex
from monitor.model import Scalar, Severity
from monitor.rules import codes as C
from monitor.rules.base import Signal

if TYPE_CHECKING:
    from monitor.rules.context import RuleContext
    from monitor.settings import RulesConfig

RULE = "layer_gain"


def layer_rows(index: PortfolioIndex) -> np.ndarray:
    """Return the structure positions of the hedge layers."""
    return np.array([s for s, k in enumerate(index.struct_kind) if k == "layer"], np.int64)


def _layout(index: PortfolioIndex, thresholds: list[float]) -> C.Layout:
    books, subjects = [], []
    for s in layer_rows(index).tolist():
        for t in thresholds:
            books.append(index.book_names[int(index.struct_book[s])])
            subjects.append(f"{index.struct_names[s]}@{t:g}")
    return C.Layout.of(RULE, books, subjects)


def conditions(
    gain: np.ndarray, stale: np.ndarray, thresholds: list[float], hysteresis: float
) -> C.Codes:
    """Return codes (layers x thresholds)."""
    thr = np.asarray(thresholds, np.float64)[None, :]
    return C.levels_above(gain[:, None], thr, thr - hysteresis, stale[:, None])


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    """Return the signals of every (layer, threshold) key that needs one."""
    del now_ns  # the rule is instantaneous; kept for the uniform rule signature
    st, idx, lg = ctx.state, ctx.state.index, cfg.layer_gain
    layers = ctx.layouts.get("layers", idx, cfg, lambda: layer_rows(idx))
    layout = ctx.layouts.get(RULE, idx, cfg, lambda: _layout(idx, lg.thresholds))
    gain = st.struct_gain_ratio[layers]
    n_t = len(lg.thresholds)
    codes = conditions(gain, st.struct_stale[layers], lg.thresholds, lg.hysteresis).reshape(-1)
    out = []
    sel = ctx.select(RULE, layout, codes)
    # Python numbers in one conversion each: thousands of keys on a resend cycle
    picked = zip(sel.tolist(), layers[sel // n_t].tolist(), codes[sel].tolist(), strict=True)
    severities = [cast(Severity, x) for x in lg.severities]
    books, subjects, context = layout.books, layout.subjects, ctx.context
    for p, s, code in picked:
        t = p % n_t
        render = partial(_signal, ctx, s, t, code, cfg)
        out.append(C.lazy(RULE, books[p], subjects[p], code, severities[t], context, render))
    return out


def _signal(ctx: RuleContext, s: int, t: int, code: int, cfg: RulesConfig) -> Signal:
    st, idx, lg = ctx.state, ctx.state.index, cfg.layer_gain
    name = idx.struct_names[s]
    book = idx.book_names[int(idx.struct_book[s])]
    plans = ctx.analysis.plans
    plan = plans.get(book) if plans is not None and code in (C.BREACH, C.HOLD) else None
    threshold = lg.thresholds[t]
    gain = float(st.struct_gain_ratio[s])
    values: dict[str, Scalar] = {
        "gain_ratio": None if math.isnan(gain) else round(gain, 4),
        "value_usd": _num(st.struct_value_usd[s]),
        "entry_cost_usd": _num(st.struct_cost_usd[s]),
        "vega_usd": _num(st.struct_vega_usd[s]),
        "threshold": threshold,
    }
    if code == C.UNKNOWN:
        summary = f"layer {name} gain unknown: a leg lacks a fresh usable mark"
    else:
        verb = "at or above" if gain >= threshold else "below"
        summary = f"layer {name} gain {gain:+.0%} {verb} {threshold:.0%}"
    return Signal(
        rule=RULE,
        book=book,
        subject=f"{name}@{threshold:g}",
        condition=C.CONDITIONS[code],
        severity=cast(Severity, lg.severities[t]),
        summary=summary,
        values=values,
        advisory=None if plan is None else plan.doc,
        action=None if plan is None else plan.action,
        context=ctx.context,
    )


def _num(x: object) -> float | None:
    v = float(cast(float, x))
    return None if math.isnan(v) else round(v, 2)
