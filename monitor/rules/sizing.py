"""Sizing guard: never add size into a pop.

On a portfolio change (reload) the rule memory compares each hedge layer's contracts (sum of
|quantity|) with the previous portfolio. If a layer grew by more than ``growth`` (default 25%)
within ``window_h`` hours after it was last at or above its lowest gain threshold (the layer-gain
alert's condition), the key ``sizing|BOOK|LAYER`` fires and stays firing for ``window_h`` hours
after the increase, then resolves.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import msgspec
import numpy as np

from monitor.book import PortfolioIndex
from monitor.rules import codes as C
from monitor.rules.base import Signal
from monitor.rules.memory import SizeIncrease

if TYPE_CHECKING:
    from monitor.rules.context import RuleContext
    from monitor.settings import RulesConfig

RULE = "sizing"
NS = 1_000_000_000


def layers_layout(rule: str, index: PortfolioIndex) -> C.Layout:
    """One key per hedge layer, subject = the layer name."""
    layers = [s for s, k in enumerate(index.struct_kind) if k == "layer"]
    return C.Layout.of(
        rule,
        [index.book_names[int(index.struct_book[s])] for s in layers],
        [index.struct_names[s] for s in layers],
    )


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    idx = ctx.state.index
    layout = ctx.layouts.get(RULE, idx, cfg, lambda: layers_layout(RULE, idx))
    window_ns = round(cfg.sizing.window_h * 3600 * NS)
    codes = np.zeros(len(layout), np.int8)
    found: dict[int, SizeIncrease] = {}
    for inc in ctx.memory.size_increases.values():
        i = layout.position.get(f"{RULE}|{inc.book}|{inc.layer}")
        if i is not None and now_ns - inc.at_ns <= window_ns:
            codes[i], found[i] = C.BREACH, inc
    out = []
    for i in ctx.select(RULE, layout, codes).tolist():
        sig = _signal(layout.books[i], layout.subjects[i], found.get(i), cfg)
        out.append(msgspec.structs.replace(sig, context=ctx.context))
    return out


def _signal(book: str, layer: str, inc: SizeIncrease | None, cfg: RulesConfig) -> Signal:
    if inc is None:
        return Signal(
            rule=RULE,
            book=book,
            subject=layer,
            condition="clear",
            severity=cfg.sizing.severity,
            summary=f"layer {layer}: no size added into a pop",
        )
    after_h = (inc.at_ns - inc.gain_ns) / NS / 3600
    when = dt.datetime.fromtimestamp(inc.gain_ns / NS, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Signal(
        rule=RULE,
        book=book,
        subject=layer,
        condition="breach",
        severity=cfg.sizing.severity,
        summary=(
            f"adding size into a pop: layer {layer} grew {inc.contracts_before} -> "
            f"{inc.contracts_after} contracts ({inc.growth:+.0%}) {after_h:.1f} h after its "
            f"gain alert ({when})"
        ),
        values={
            "contracts_before": inc.contracts_before,
            "contracts_after": inc.contracts_after,
            "growth": round(inc.growth, 4),
            "hours_after_gain": round(after_h, 2),
            "growth_limit": cfg.sizing.growth,
            "window_h": cfg.sizing.window_h,
        },
        action=(
            "The method says never add size into a pop: harvest and roll instead; size the "
            "new calls to restore the book's baseline vega, not more."
        ),
    )
