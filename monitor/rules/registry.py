"""The rule list and one evaluation cycle over it.

A rule is a pure function ``evaluate(ctx, cfg, now_ns) -> list[Signal]``; adding one is a new
module and one line in ``RULES``. ``run`` advances the rule memory (bars, positions, session),
computes the shared analyses, evaluates every rule, attaches the market context every alert
carries, and records which keys were not clear for the next cycle's sparse emission.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import numpy as np

from monitor.book import PortfolioState
from monitor.market import MARK_SOURCES, MID
from monitor.model import Scalar
from monitor.rules import (
    account,
    breakeven,
    data_quality,
    event_risk,
    greeks,
    layer_gain,
    momentum,
    sizing,
    stress,
    term_structure,
)
from monitor.rules.base import Signal
from monitor.rules.codes import CLEAR, CONDITIONS, Codes, Layout
from monitor.rules.context import (
    ASIDE_MIN_BOOKS,
    Analysis,
    RuleContext,
    RuleInputs,
    analyze_stages,
)
from monitor.rules.memory import RuleMemory
from monitor.settings import RulesConfig
from monitor.stages import Stages, finish, wait_for

NS = 1_000_000_000
Rule = Callable[[RuleContext, RulesConfig, int], list[Signal]]

RULES: tuple[tuple[str, Rule], ...] = (
    (layer_gain.RULE, layer_gain.evaluate),
    (breakeven.RULE, breakeven.evaluate),
    (term_structure.RULE, term_structure.evaluate),
    (greeks.RULE, greeks.evaluate),
    (stress.RULE, stress.evaluate),
    (momentum.RULE, momentum.evaluate),
    (event_risk.RULE, event_risk.evaluate),
    (sizing.RULE, sizing.evaluate),
    (data_quality.RULE, data_quality.evaluate),
    (account.RULE, account.evaluate),
)


@dataclass(frozen=True, slots=True)
class Outcome:
    signals: list[Signal]
    analysis: Analysis
    context: dict[str, Scalar]
    states: dict[str, tuple[Layout, Codes]]
    """Every key's condition after this cycle, per rule (a copy)."""
    full: bool = False
    """The first cycle after a start: every live key not clear or held by the alert machine
    was sent (``RuleMemory.held``; see ``live_keys``)."""

    def live_keys(self) -> set[str]:
        """Return every alert key of the current portfolio and config."""
        return {k for layout, _ in self.states.values() for k in layout.keys}

    def conditions(self) -> dict[tuple[str, str, str], int]:
        """Return (rule, book, condition) -> number of keys, for every condition but clear."""
        counts: Counter[tuple[str, str, str]] = Counter()
        for rule, (layout, codes) in self.states.items():
            for p in np.flatnonzero(codes != CLEAR).tolist():
                counts[(rule, layout.books[p], CONDITIONS[int(codes[p])])] += 1
        return dict(counts)

    def not_clear(self) -> list[tuple[str, str]]:
        """Return (key, condition) of every key that is not clear, sorted by key."""
        out = [
            (layout.keys[p], CONDITIONS[int(codes[p])])
            for layout, codes in self.states.values()
            for p in np.flatnonzero(codes != CLEAR).tolist()
        ]
        return sorted(out)


def market_context(a: Analysis, now_ns: int, cfg: RulesConfig) -> dict[str, Scalar]:
    """Return the context every alert carries: next macro event, VIX momentum, the curve."""
    ev = a.next_event
    ind = a.momentum.by_timeframe.get(cfg.momentum.timeframe)
    return {
        "next_event": None if ev is None else ev.label(),
        "next_event_kind": None if ev is None else ev.kind,
        "next_event_in_h": None if ev is None else round((ev.ts_ns - now_ns) / NS / 3600, 2),
        "vix": _r(a.momentum.vix),
        "vix_rsi": None if ind is None else _r(ind.rsi),
        "vix_macd_histogram": None if ind is None else _r(ind.histogram, 4),
        "vix_mean_reversion_likely": a.momentum.mean_reversion,
        "vx_contango": _r(a.curve.contango, 4),
        "vx_curve_marks": a.curve.non_mid,
    }


def non_mid_legs(state: PortfolioState) -> dict[str, str]:
    """Return, per book with legs not marked at a two-sided mid, ``"SYM:source,..."``."""
    idx = state.index
    owner = idx.struct_book[idx.leg_struct]
    out: dict[str, list[str]] = {}
    for i in np.flatnonzero(state.leg_mark_source != MID).tolist():
        name = idx.book_names[int(owner[i])]
        out.setdefault(name, []).append(
            f"{idx.leg_symbol[i]}:{MARK_SOURCES[int(state.leg_mark_source[i])]}"
        )
    return {b: _clip(legs) for b, legs in out.items()}


def _clip(items: list[str], most: int = 6) -> str:
    more = f",+{len(items) - most} more" if len(items) > most else ""
    return ",".join(items[:most]) + more


def _with_marks(signals: list[Signal], by_book: dict[str, str]) -> list[Signal]:
    """Add ``non_mid_marks`` to the context of every book signal that rests on such marks."""
    if not by_book:
        return signals
    return [_marked(sig, by_book[sig.book]) if sig.book in by_book else sig for sig in signals]


def _marked(sig: Signal, legs: str) -> Signal:
    context = {**sig.context, "non_mid_marks": legs}
    render = sig.render
    if render is None:
        return msgspec.structs.replace(sig, context=context)

    def full() -> Signal:
        return msgspec.structs.replace(render(), context=context)

    return msgspec.structs.replace(sig, context=context, render=full)


def removed(mem: RuleMemory, context: dict[str, Scalar]) -> list[Signal]:
    """Return a clear signal for every key not clear last cycle whose structure (or book) left
    the portfolio: the alert machine resolves it with a resolved notification."""
    out = []
    for rule, prev in mem.emitted.items():
        layout = mem.layouts.latest(rule)
        if layout is None or layout is prev.layout:
            continue
        for p in np.flatnonzero(prev.codes != CLEAR).tolist():
            if prev.layout.keys[p] in layout.position:
                continue
            book, subject = prev.layout.books[p], prev.layout.subjects[p]
            out.append(
                Signal(
                    rule=rule,
                    book=book,
                    subject=subject,
                    condition="clear",
                    severity="info",
                    summary=f"{subject} of book {book} is no longer in the portfolio",
                    context=context,
                )
            )
    return out


def run(inp: RuleInputs, cfg: RulesConfig, mem: RuleMemory) -> Outcome:
    """Evaluate every rule at ``inp.now_ns``; the memory advances, nothing else changes."""
    return finish(run_stages(inp, cfg, mem))


def run_stages(inp: RuleInputs, cfg: RulesConfig, mem: RuleMemory) -> Stages[Outcome]:
    """``run`` in stages (``monitor.stages``): it pauses within the analyses and after each
    rule, so no step of a large portfolio's cycle holds the caller's loop for long."""
    now_ns = inp.now_ns
    mem.observe_market(inp.market, now_ns)
    mem.observe_index(
        inp.state.index,
        now_ns,
        growth=cfg.sizing.growth,
        window_ns=round(cfg.sizing.window_h * 3600 * NS),
    )
    mem.observe_session(now_ns)
    mem.observe_gains(inp.state, cfg.layer_gain.thresholds[0], now_ns)
    analysis = yield from analyze_stages(inp, cfg, mem)
    context = market_context(analysis, now_ns, cfg)
    ctx = RuleContext(
        context=context,
        now_ns=now_ns,
        cfg=cfg,
        engine=inp.engine,
        state=inp.state,
        valuation=inp.valuation,
        market=inp.market,
        market_stale=inp.market_stale,
        memory=mem,
        analysis=analysis,
        emitted=mem.emitted,
        full=mem.full,
        layouts=mem.layouts,
        account_status=inp.account_status,
    )
    signals = yield from _evaluate_rules(ctx, cfg, inp)
    signals = _with_marks(signals, non_mid_legs(inp.state))
    signals += removed(mem, ctx.context)
    full = mem.full
    mem.after_signals(signals, now_ns, (name for name, _ in RULES))
    return Outcome(
        signals=signals, analysis=analysis, context=context, states=states_of(mem), full=full
    )


def states_of(mem: RuleMemory) -> dict[str, tuple[Layout, Codes]]:
    """Return every key's condition as last sent, per rule (a copy: ``Outcome.states``)."""
    return {rule: (e.layout, e.codes.copy()) for rule, e in mem.emitted.items()}


def _evaluate_rules(ctx: RuleContext, cfg: RulesConfig, inp: RuleInputs) -> Stages[list[Signal]]:
    """Every rule's signals, in ``RULES`` order, pausing after each. On a large index the
    break-even rule (the costliest, numpy over every condor) runs on ``inp.aside`` while this
    thread does the others: the rules only read the cycle's context."""
    now_ns = inp.now_ns
    aside = inp.aside if len(inp.state.index.book_names) >= ASIDE_MIN_BOOKS else None
    heavy = dict(RULES)[breakeven.RULE]
    later = aside.submit(heavy, ctx, cfg, now_ns) if aside is not None else None
    by_rule: dict[str, list[Signal]] = {}
    for name, rule in RULES:
        if later is None or name != breakeven.RULE:
            by_rule[name] = rule(ctx, cfg, now_ns)
            yield None
    if later is not None:
        by_rule[breakeven.RULE] = yield from wait_for(later)
    return [sig for name, _rule in RULES for sig in by_rule[name]]


def _r(x: float, digits: int = 2) -> float | None:
    return None if math.isnan(x) else round(x, digits)
