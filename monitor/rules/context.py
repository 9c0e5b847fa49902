"""What a rule sees: the cycle's inputs, the shared analyses, and the rule memory (read only).

``analyze`` computes, once per cycle, the numbers several rules and the metrics share: the VX
curve, VIX momentum, every condor's break-evens, the stress grid, data quality, the roll
candidates and the next macro events. Rules then only turn those numbers into signals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import lru_cache, partial
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from monitor.book import PortfolioState
from monitor.market import MarketState, Marks
from monitor.model import Scalar
from monitor.plan.breakevens import Probe
from monitor.plan.build import PlanBook, PlanInputs
from monitor.positions.accounts import AccountStatus
from monitor.positions.ledger import Ledger
from monitor.pricing.calendar import vix_monthly_expiry
from monitor.pricing.valuation import Valuation
from monitor.rules import (
    breakeven,
    data_quality,
    momentum,
    overlay,
    roll,
    stress,
    term_structure,
)
from monitor.rules.calendar import EventCalendar, MacroEvent
from monitor.rules.chains import ChainTable
from monitor.rules.codes import Codes, Emitted, Layout, LayoutCache, select
from monitor.rules.greeks import book_stale
from monitor.rules.margin import BrokerAccount
from monitor.rules.memory import RuleMemory
from monitor.rules.vega import NetVega, net_vega
from monitor.settings import EngineConfig, RulesConfig
from monitor.stages import Stages, finish, wait_for

NEW_YORK = ZoneInfo("America/New_York")
NS = 1_000_000_000
ASIDE_MIN_BOOKS = 200
"""Below this many books the hand-off to ``RuleInputs.aside`` costs more than it saves."""
F64 = NDArray[np.float64]


@lru_cache(maxsize=1024)
def is_vix_monthly(expiry: dt.date) -> bool:
    """Return True if ``expiry`` is the VIX monthly expiry (VX final settlement) of its month."""
    return expiry == vix_monthly_expiry(expiry.year, expiry.month)


def ny_date(now_ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(now_ns / NS, NEW_YORK).date()


@dataclass(frozen=True, slots=True)
class RuleInputs:
    now_ns: int
    state: PortfolioState
    valuation: Valuation
    market: MarketState
    market_stale: bool
    engine: EngineConfig
    events: EventCalendar
    silence_s: float | None = None
    """How long the feed has been silent on the clock ``market_stale`` was judged on (the wall
    clock on market time, ``Engine.silence_ns``); None: ``now_ns`` minus the newest quote."""
    marks: Marks | None = None
    """Every instrument's mark (``monitor.market``); None: computed from ``market``."""
    ledger: Ledger | None = None
    """The realized P&L ledger (``monitor.positions.ledger``): the break-evens count it."""
    accounts: Mapping[str, BrokerAccount] = field(default_factory=dict)
    """Broker-reported requirement and cash per book: they win over the computed ones."""
    account_status: tuple[AccountStatus, ...] = ()
    """Health of each ``[[accounts]]`` source (``monitor.rules.account``)."""
    market_wide: Analysis | None = None
    """A full cycle's analysis whose market-wide parts (curve, momentum, next events, roll
    candidates) a partial evaluation reuses instead of recomputing; None: compute them."""
    aside: Executor | None = None
    """Runs the stress analysis while the break-evens are solved, and the break-even rule while
    the other rules run (``registry``), for an index of at least ``ASIDE_MIN_BOOKS`` books:
    long numpy passes, which release the GIL, so they overlap on a second core (~10 ms of a
    10,000-book cycle when that core is free). None: one after the other."""


@dataclass(frozen=True, slots=True)
class Analysis:
    curve: term_structure.Curve
    momentum: momentum.Momentum
    breakevens: breakeven.Breakevens
    stress: stress.Stress
    quality: data_quality.Quality
    roll_candidates: list[roll.Candidate]
    next_event: MacroEvent | None
    next_high_impact: MacroEvent | None
    next_by_kind: dict[str, MacroEvent]
    book_stale: NDArray[np.bool_]
    net_vega: NetVega
    """Vol-point net vega per leg, structure and book (``monitor.rules.vega``)."""
    vega_baseline: F64
    """Per book, as used this cycle (NaN until the book's first valid cycle ever; see
    ``monitor.plan.baseline``)."""
    be_baseline: F64
    """Per condor (condors x 2, rows of ``breakevens.condors``); NaN while unset."""
    plans: PlanBook | None = None
    """The roll plan per book, built when asked for (``monitor.plan.build``)."""
    ledger: Ledger | None = None
    """The realized P&L ledger the break-evens counted this cycle."""


@dataclass(frozen=True, slots=True)
class RuleContext:
    now_ns: int
    cfg: RulesConfig
    engine: EngineConfig
    state: PortfolioState
    valuation: Valuation
    market: MarketState
    market_stale: bool
    memory: RuleMemory
    analysis: Analysis
    emitted: Mapping[str, Emitted]
    """What each rule last sent, per key (for sparse emission)."""
    full: bool
    layouts: LayoutCache
    context: dict[str, Scalar]
    """What every signal carries (next macro event, VIX momentum, curve)."""
    account_status: tuple[AccountStatus, ...] = ()

    def select(self, rule: str, layout: Layout, codes: Codes) -> NDArray[np.intp]:
        """Return the positions of ``layout`` whose signal goes out this cycle."""
        prev = self.emitted.get(rule)
        return select(codes, layout, prev, self.now_ns, self.full, self.memory.held)


def _events(
    events: EventCalendar, now_ns: int, cfg: RulesConfig
) -> tuple[MacroEvent | None, MacroEvent | None, dict[str, MacroEvent]]:
    by_kind = {}
    for kind in events.kinds():
        ev = events.next_event(now_ns, frozenset({kind}))
        if ev is not None:
            by_kind[kind] = ev
    high = events.next_event(now_ns, frozenset(cfg.calendar.high_impact))
    return events.next_event(now_ns), high, by_kind


def analyze(inp: RuleInputs, cfg: RulesConfig, mem: RuleMemory) -> Analysis:
    """Compute the cycle's shared numbers and fill the rule memory's missing baselines."""
    return finish(analyze_stages(inp, cfg, mem))


def analyze_stages(inp: RuleInputs, cfg: RulesConfig, mem: RuleMemory) -> Stages[Analysis]:
    """``analyze`` in stages (``monitor.stages``): it pauses after the break-evens, after the
    baselines and roll candidates, and while the stress grid is still running aside."""
    st, market, now_ns = inp.state, inp.market, inp.now_ns
    idx = st.index
    today = ny_date(now_ns)
    max_age_ns = round(inp.engine.mark_max_age_s * NS)
    marks = inp.marks
    if marks is None:
        marks = market.marks(now_ns, round(inp.engine.last_trade_max_age_s * NS))
    shared = inp.market_wide
    if shared is None:
        curve = term_structure.analyze(
            market,
            today,
            now_ns,
            is_monthly=is_vix_monthly,
            max_age_ns=max_age_ns,
            stale=inp.market_stale,
            months=cfg.term_structure.curve_months,
            marks=marks,
        )
        vix = term_structure.index_level(market, "VIX", now_ns, max_age_ns, inp.market_stale)
        mom = momentum.analyze(mem.bars, vix, curve.contango, cfg.momentum)
    else:
        curve, mom = shared.curve, shared.momentum
    cd = mem.layouts.get("breakeven:condors", idx, cfg, lambda: breakeven.condors(idx))
    chains = ChainTable.build(cd.chain_keys, inp.valuation)
    prep = mem.layouts.get("breakeven:prepared", idx, cfg, lambda: breakeven.prepare(cd, idx))
    realized = mem.layouts.get(
        "breakeven:realized",
        idx,
        inp.ledger,
        lambda: overlay.realized_share(cd, prep, idx, inp.ledger),
    )
    ex = mem.layouts.get("stress:exposure", idx, cfg, lambda: stress.exposure(idx, market))
    stressed = partial(stress.analyze, st, inp.valuation, ex, cfg.stress, inp.accounts)
    aside = inp.aside if len(idx.book_names) >= ASIDE_MIN_BOOKS else None
    stress_later = aside.submit(stressed) if aside is not None else None
    be = breakeven.analyze(st, cd, prep, chains, realized)
    yield None
    stale_books = book_stale(st)
    nv = net_vega(st, inp.valuation)
    mem.fill_baselines(
        nv.book,
        stale_books,
        _be_by_struct(be, len(idx.struct_names)),
        _be_valid_by_struct(be, len(idx.struct_names)),
    )
    ch = mem.layouts.get("roll:chain", idx, cfg, lambda: roll.chain(market, cfg.roll.roots))
    if shared is None:
        cands = roll.candidates(
            ch,
            market,
            inp.valuation,
            today,
            now_ns,
            cfg.roll,
            max_age_ns=max_age_ns,
            stale=inp.market_stale,
        )
        nxt, high, by_kind = _events(inp.events, now_ns, cfg)
    else:
        cands = shared.roll_candidates
        nxt, high, by_kind = shared.next_event, shared.next_high_impact, shared.next_by_kind
    yield None
    if stress_later is not None:
        stressed_now = yield from wait_for(stress_later)
    else:
        stressed_now = stressed()
        yield None
    plans = PlanBook(
        PlanInputs(
            now_ns=now_ns,
            today=today,
            state=st,
            valuation=inp.valuation,
            market=market,
            market_stale=inp.market_stale,
            max_age_ns=max_age_ns,
            cfg=cfg,
            net_vega=nv,
            baselines=mem.vega,
            probe=Probe(be, 0) if len(cd) else None,
            curve=curve,
            momentum=mom,
            next_high_impact=high,
            chain=ch,
        )
    )
    return Analysis(
        curve=curve,
        momentum=mom,
        breakevens=be,
        stress=stressed_now,
        quality=data_quality.analyze(
            market,
            st,
            now_ns,
            inp.market_stale,
            silence_s=inp.silence_s,
            first_eval_ns=mem.first_eval_ns,
            first_quote_ns=mem.first_quote_ns,
            grace_ns=round(inp.engine.stale_after_s * NS),
        ),
        roll_candidates=cands,
        next_event=nxt,
        next_high_impact=high,
        next_by_kind=by_kind,
        book_stale=stale_books,
        net_vega=nv,
        vega_baseline=mem.vega_baseline.copy(),
        be_baseline=np.where(
            mem.be_baseline_set[cd.struct][:, None], mem.be_baseline[cd.struct], np.nan
        ),
        plans=plans,
        ledger=inp.ledger,
    )


def _be_by_struct(be: breakeven.Breakevens, n_struct: int) -> F64:
    out = np.full((n_struct, 2), np.nan)
    out[be.condors.struct] = be.points
    return out


def _be_valid_by_struct(be: breakeven.Breakevens, n_struct: int) -> NDArray[np.bool_]:
    out = np.zeros(n_struct, np.bool_)
    out[be.condors.struct] = be.valid
    return out
