"""Data quality: a silent feed, crossed or locked quotes, legs without a usable mark.

Keys:
- ``market|feed_stale``: no instrument has quoted for ``engine.stale_after_s`` (breach).
- ``market|quotes``: the share of two-sided quotes that are crossed (bid > ask) or locked
  (bid == ask) is at or above ``crossed_locked_max``.
- ``BOOK|unmarked_legs``: at least one leg has no fresh usable mark (no two-sided quote, or its
  own quote older than ``engine.mark_max_age_s``).
- ``BOOK|unpriced_legs``: at least one leg cannot be priced (no mark at all, no forward, no
  implied vol or smile, non-finite Greeks); the summary names each leg and why. Such legs are
  left out of the book's sums (``monitor.book``) instead of blanking them.
These report the data problem itself; every other rule reports ``unknown`` on the data they
flag. They are ``unknown`` only while warming up: ``feed_stale`` until the first quote or until
``stale_after_s`` has passed without one, ``unmarked_legs`` for ``stale_after_s`` after the first
quote (subscriptions settle), so a start does not fire and resolve a warning within a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from monitor.book import PortfolioState
from monitor.market import MarketState
from monitor.rules import codes as C
from monitor.rules.base import Signal

if TYPE_CHECKING:
    from monitor.rules.context import RuleContext
    from monitor.settings import RulesConfig

RULE = "data_quality"
MARKET = "market"
NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Quality:
    market_stale: bool
    quote_age_s: float
    """Seconds since the newest quote's event time, on the evaluation clock (NaN before the
    first). On market time that clock *is* the newest quote, so this stays near 0."""
    two_sided: int
    crossed_locked: int
    unmarked_legs: NDArray[np.int64]
    """Per book of the index."""
    unpriced_legs: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    """Per book of the index: legs left out of the book's sums."""
    waiting: bool = False
    """No quote yet, and less than ``stale_after_s`` since the first evaluation."""
    settling: bool = False
    """Less than ``stale_after_s`` since the first quote: leg marks may still be arriving."""
    silence_s: float = math.nan
    """How long the feed has been silent on the clock staleness was judged on: wall seconds
    since the last quote arrived on market time, else ``quote_age_s`` (NaN before the first)."""

    @property
    def crossed_locked_ratio(self) -> float:
        return self.crossed_locked / self.two_sided if self.two_sided else 0.0


def analyze(
    market: MarketState,
    state: PortfolioState,
    now_ns: int,
    stale: bool,
    *,
    silence_s: float | None = None,
    first_eval_ns: int,
    first_quote_ns: int,
    grace_ns: int,
) -> Quality:
    bid, ask, _ = market.view()
    both = np.isfinite(bid) & np.isfinite(ask) & (ask > 0)
    with np.errstate(invalid="ignore"):
        bad = both & (bid >= ask)
    idx = state.index
    # stale legs are few: count them rather than weigh every leg
    unmarked = np.bincount(
        idx.leg_book[np.flatnonzero(state.leg_stale)], minlength=len(idx.book_names)
    ).astype(np.int64)
    age = (now_ns - market.latest_ts_ns) / NS if market.latest_ts_ns else math.nan
    return Quality(
        market_stale=stale,
        quote_age_s=age,
        two_sided=int(both.sum()),
        crossed_locked=int(bad.sum()),
        unmarked_legs=unmarked,
        unpriced_legs=state.book_unpriced_legs.copy(),
        waiting=not market.latest_ts_ns and now_ns - first_eval_ns < grace_ns,
        settling=not first_quote_ns or now_ns - first_quote_ns < grace_ns,
        silence_s=age if silence_s is None or math.isnan(age) else silence_s,
    )


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    del now_ns
    q = ctx.analysis.quality
    limit = cfg.data_quality.crossed_locked_max
    head = np.array(
        [
            C.UNKNOWN if q.waiting else C.BREACH if q.market_stale else C.CLEAR,
            C.BREACH if q.two_sided and q.crossed_locked_ratio >= limit else C.CLEAR,
        ],
        np.int8,
    )
    legs = np.where(q.unmarked_legs > 0, C.BREACH, C.CLEAR).astype(np.int8)
    unpriced = np.where(q.unpriced_legs > 0, C.BREACH, C.CLEAR).astype(np.int8)
    if q.settling and not q.market_stale:
        legs[:] = C.UNKNOWN
        unpriced[:] = C.UNKNOWN
    codes = np.concatenate([head, legs, unpriced])
    idx = ctx.state.index
    n_b = len(idx.book_names)
    layout = ctx.layouts.get(
        RULE,
        idx,
        cfg,
        lambda: C.Layout.of(
            RULE,
            [MARKET, MARKET, *idx.book_names, *idx.book_names],
            ["feed_stale", "quotes"] + ["unmarked_legs"] * n_b + ["unpriced_legs"] * n_b,
        ),
    )
    out = []
    for i in ctx.select(RULE, layout, codes).tolist():
        code = int(codes[i])
        text = _unpriced_text(ctx, i - 2 - n_b) if i - 2 >= n_b else None  # once per signal
        out.append(
            Signal(
                rule=RULE,
                book=layout.books[i],
                subject=layout.subjects[i],
                condition=C.CONDITIONS[code],
                severity=cfg.data_quality.severity,
                summary=_summary(i, q, ctx, limit, text),
                values=_values(i, q, ctx, limit, text),
                context=ctx.context,
            )
        )
    return out


def _values(
    i: int, q: Quality, ctx: RuleContext, limit: float, text: str | None
) -> dict[str, float | int | str | bool | None]:
    if i == 0:
        age = None if math.isnan(q.quote_age_s) else round(q.quote_age_s, 1)
        silent = None if math.isnan(q.silence_s) else round(q.silence_s, 1)
        return {"quote_age_s": age, "silence_s": silent, "stale_after_s": ctx.engine.stale_after_s}
    if i == 1:
        return {
            "two_sided": q.two_sided,
            "crossed_locked": q.crossed_locked,
            "ratio": round(q.crossed_locked_ratio, 4),
            "limit": limit,
        }
    n_b = len(q.unmarked_legs)
    if i - 2 >= n_b:
        b = i - 2 - n_b
        return {"unpriced_legs": int(q.unpriced_legs[b]), "legs": text}
    return {"unmarked_legs": int(q.unmarked_legs[i - 2])}


def _unpriced_text(ctx: RuleContext, b: int) -> str | None:
    legs = ctx.state.unpriced(b)
    return ", ".join(f"{sym} ({why})" for sym, why in legs) or None


def _summary(i: int, q: Quality, ctx: RuleContext, limit: float, text: str | None) -> str:
    """``text``: the book's unpriced legs (``_unpriced_text``) for an ``unpriced_legs`` key."""
    if i == 0:
        if q.waiting:
            return "feed warming up: no quote yet"
        if q.market_stale and math.isnan(q.quote_age_s):
            return "feed silent: no quote yet; rules report unknown"
        if q.market_stale:
            return (
                f"feed silent: no quote for {q.silence_s:,.0f} s "
                f"(stale after {ctx.engine.stale_after_s:g} s); rules report unknown"
            )
        return "feed live"
    if i == 1:
        return (
            f"{q.crossed_locked} of {q.two_sided} two-sided quotes crossed or locked "
            f"({q.crossed_locked_ratio:.1%}, limit {limit:.1%})"
        )
    n_b = len(q.unmarked_legs)
    if i - 2 >= n_b:
        b = i - 2 - n_b
        n = int(q.unpriced_legs[b])
        if not n:
            return "every leg is priced"
        return f"{n} leg(s) left out of the book's numbers, unpriced: {text}"
    n = int(q.unmarked_legs[i - 2])
    if q.settling and not q.market_stale:
        return f"{n} leg(s) without a fresh mark while quotes settle after the start"
    return f"{n} leg(s) without a fresh usable mark" if n else "every leg has a fresh mark"
