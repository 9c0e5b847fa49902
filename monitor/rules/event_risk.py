"""Event risk: a high-impact macro release is near while a hedge layer sits on a big gain.

Key ``event_risk|BOOK|LAYER`` fires when the next event of ``rules.calendar.high_impact``
(FOMC, CPI, PPI) is at most ``within_h`` hours away and the layer's gain ratio is at or above the
lowest ``rules.layer_gain`` threshold (re-arming below threshold - hysteresis, like layer_gain).
A release can crush the vol premium the layer's gain is made of, or extend it: decide before.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from monitor.rules import codes as C
from monitor.rules.base import Signal
from monitor.rules.sizing import layers_layout

if TYPE_CHECKING:
    from monitor.rules.context import RuleContext
    from monitor.settings import RulesConfig

RULE = "event_risk"
NS = 1_000_000_000


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    st, idx = ctx.state, ctx.state.index
    layout = ctx.layouts.get(RULE, idx, cfg, lambda: layers_layout(RULE, idx))
    layers = ctx.layouts.get(
        "layers",
        idx,
        cfg,
        lambda: np.array([s for s, k in enumerate(idx.struct_kind) if k == "layer"], np.int64),
    )
    event = ctx.analysis.next_high_impact
    hours = math.inf if event is None else (event.ts_ns - now_ns) / NS / 3600
    thr, hyst = cfg.layer_gain.thresholds[0], cfg.layer_gain.hysteresis
    gain = st.struct_gain_ratio[layers]
    codes = C.levels_above(gain, thr, thr - hyst, st.struct_stale[layers])
    if hours > cfg.calendar.within_h:
        codes[:] = C.CLEAR
    out = []
    for i in C.select(codes, layout, ctx.live_keys, RULE, ctx.full).tolist():
        g = float(gain[i])
        label = "none scheduled" if event is None else event.label()
        code = int(codes[i])
        if code == C.UNKNOWN:
            summary = f"event risk for {layout.subjects[i]} unknown: stale layer marks"
        else:
            summary = (
                f"{label} in {hours:.1f} h while layer {layout.subjects[i]} is up "
                f"{g:+.0%} (threshold {thr:.0%})"
            )
        out.append(
            Signal(
                rule=RULE,
                book=layout.books[i],
                subject=layout.subjects[i],
                condition=C.CONDITIONS[code],
                severity=cfg.calendar.severity,
                summary=summary,
                values={
                    "event": None if event is None else event.kind,
                    "hours_to_event": None if math.isinf(hours) else round(hours, 2),
                    "gain_ratio": None if math.isnan(g) else round(g, 4),
                    "threshold": thr,
                    "within_h": cfg.calendar.within_h,
                },
                action=(
                    "Decide before the release: harvest the layer's gain now or accept that the "
                    "event may take it back."
                )
                if code == C.BREACH
                else None,
            )
        )
    return out
