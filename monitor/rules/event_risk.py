"""Event risk: a high-impact macro release is near while a hedge layer sits on a big gain.

Key ``event_risk|BOOK|LAYER`` fires when the next event of ``rules.calendar.high_impact``
(FOMC, CPI, PPI) is at most ``within_h`` hours away and the layer's gain ratio is at or above the
lowest ``rules.layer_gain`` threshold (re-arming below threshold - hysteresis, like layer_gain).
A release can crush the vol premium the layer's gain is made of, or extend it: decide before.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING

from monitor.rules import codes as C
from monitor.rules.base import Signal
from monitor.rules.layer_gain import layer_rows
from monitor.rules.sizing import layers_layout

if TYPE_CHECKING:
    from monitor.rules.context import RuleContext
    from monitor.settings import RulesConfig

RULE = "event_risk"
NS = 1_000_000_000


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    st, idx = ctx.state, ctx.state.index
    layout = ctx.layouts.get(RULE, idx, cfg, lambda: layers_layout(RULE, idx))
    layers = ctx.layouts.get("layers", idx, cfg, lambda: layer_rows(idx))
    event = ctx.analysis.next_high_impact
    hours = math.inf if event is None else (event.ts_ns - now_ns) / NS / 3600
    thr, hyst = cfg.layer_gain.thresholds[0], cfg.layer_gain.hysteresis
    gain = st.struct_gain_ratio[layers]
    codes = C.levels_above(gain, thr, thr - hyst, st.struct_stale[layers])
    if hours > cfg.calendar.within_h:
        codes[:] = C.CLEAR
    return [
        C.lazy(
            RULE,
            layout.books[i],
            layout.subjects[i],
            int(codes[i]),
            cfg.calendar.severity,
            ctx.context,
            partial(
                _signal,
                ctx,
                layout.books[i],
                layout.subjects[i],
                int(codes[i]),
                float(gain[i]),
                hours,
                cfg,
            ),
        )
        for i in ctx.select(RULE, layout, codes).tolist()
    ]


def _signal(
    ctx: RuleContext, book: str, layer: str, code: int, gain: float, hours: float, cfg: RulesConfig
) -> Signal:
    event = ctx.analysis.next_high_impact
    thr = cfg.layer_gain.thresholds[0]
    if code == C.UNKNOWN:
        summary = f"event risk for {layer} unknown: stale layer marks"
    else:
        label = "no event scheduled" if event is None else event.label()
        summary = (
            f"{label} in {hours:.1f} h while layer {layer} is up {gain:+.0%} (threshold {thr:.0%})"
        )
    return Signal(
        rule=RULE,
        book=book,
        subject=layer,
        condition=C.CONDITIONS[code],
        severity=cfg.calendar.severity,
        summary=summary,
        values={
            "event": None if event is None else event.kind,
            "hours_to_event": None if math.isinf(hours) else round(hours, 2),
            "gain_ratio": None if math.isnan(gain) else round(gain, 4),
            "threshold": thr,
            "within_h": cfg.calendar.within_h,
        },
        action=(
            "Decide before the release: harvest the layer's gain now or accept that the "
            "event may take it back."
        )
        if code == C.BREACH
        else None,
        context=ctx.context,
    )
