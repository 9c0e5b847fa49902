"""Layer gain: a hedge layer's gain ratio crossing each configured threshold.

gain ratio = (value - entry cost) / |entry cost|, on the layer's current marks. One alert key per
(layer, threshold): it breaches at ``gain >= threshold`` and re-arms only below
``threshold - hysteresis``. A layer with a stale or missing leg mark is ``unknown``.
"""

from __future__ import annotations

import math
from typing import cast

from monitor.book import PortfolioState
from monitor.model import Severity
from monitor.rules.base import Condition, Signal
from monitor.settings import LayerGainConfig

RULE = "layer_gain"


def _condition(gain: float, threshold: float, hysteresis: float, stale: bool) -> Condition:
    if stale or math.isnan(gain):
        return "unknown"
    if gain >= threshold:
        return "breach"
    if gain < threshold - hysteresis:
        return "clear"
    return "hold"


def evaluate(state: PortfolioState, cfg: LayerGainConfig, now_ns: int) -> list[Signal]:
    """Return one signal per (layer, threshold)."""
    del now_ns  # the rule is instantaneous; kept for the uniform rule signature
    idx = state.index
    signals: list[Signal] = []
    for s, kind in enumerate(idx.struct_kind):
        if kind != "layer":
            continue
        book = idx.book_names[int(idx.struct_book[s])]
        gain = float(state.struct_gain_ratio[s])
        stale = bool(state.struct_stale[s])
        values = {
            "gain_ratio": None if math.isnan(gain) else round(gain, 4),
            "value_usd": _num(state.struct_value_usd[s]),
            "entry_cost_usd": _num(state.struct_cost_usd[s]),
            "vega_usd": _num(state.struct_vega_usd[s]),
        }
        for threshold, severity in zip(cfg.thresholds, cfg.severities, strict=True):
            name = idx.struct_names[s]
            signals.append(
                Signal(
                    rule=RULE,
                    book=book,
                    subject=f"{name}@{threshold:g}",
                    condition=_condition(gain, threshold, cfg.hysteresis, stale),
                    severity=cast(Severity, severity),
                    summary=(
                        f"layer {name} gain {gain:+.0%} crossed {threshold:.0%}"
                        if not math.isnan(gain)
                        else f"layer {name} gain unknown"
                    ),
                    values={**values, "threshold": threshold},
                )
            )
    return signals


def _num(x: object) -> float | None:
    v = float(cast(float, x))
    return None if math.isnan(v) else round(v, 2)
