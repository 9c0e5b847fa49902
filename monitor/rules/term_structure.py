"""VIX term structure: the VX futures curve, front/second contango and VIX/VIX3M.

The curve is the monthly VX futures (a future is monthly when it settles on the VIX monthly
expiry date of the pricing calendar) that have not settled and carry a fresh quote with a mark,
priced at the mark (``monitor.market``: two-sided mid, else a recent last trade, else the
settlement; each point says which), in expiry order. Cboe's delayed futures carry no bid or ask,
so their points are ``last`` or ``settle``. Weekly VX futures are listed beside the curve
(``Curve.weeklies``) and never enter the months-out points, the contango or the metrics.
With no fresh monthly the curve says why (``Curve.status``: ``stale`` since
``last_quote_ns``, with the last marks as ``stale_points``, or ``never_quoted``).
``contango = F2 / F1 - 1`` of its first two points; ``vix_vix3m = VIX / VIX3M`` from the index
quotes.

Alert keys (book ``market``), all "at or beyond" the threshold:
- ``backwardation``: contango <= 0 (F2 at or below F1); clears above ``hysteresis``.
- ``contango_low``: contango <= ``min_contango``; clears above ``min_contango + hysteresis``.
- ``vix_vix3m``: VIX/VIX3M >= ``vix_vix3m_max``; clears below ``vix_vix3m_max - hysteresis``.
The resolve event of each is "the return". Fewer than two fresh monthlies (or a stale feed) is
``unknown``.
"""

from __future__ import annotations

import datetime as dt
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from monitor import symbols
from monitor.market import MARK_SOURCES, Lineage, MarketState, Marks
from monitor.pricing.expiry import settlement_ns
from monitor.rules import codes as C
from monitor.rules.base import Signal

if TYPE_CHECKING:
    from monitor.rules.context import RuleContext
    from monitor.settings import RulesConfig

RULE = "term_structure"
MARKET = "market"
SUBJECTS = ["backwardation", "contango_low", "vix_vix3m"]
NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class CurvePoint:
    months_out: int
    symbol: str
    expiry: dt.date
    days: int
    settle_ns: int
    """The final settlement instant (the VIX special opening quotation, 09:30 ET)."""
    price: float
    source: str = "mid"
    """Where ``price`` came from: ``mid``, ``last`` or ``settle`` (``monitor.market``)."""
    age_s: float = 0.0
    """Seconds since the event time of the quote that carried ``price``."""
    weekly: bool = False


@dataclass(frozen=True, slots=True)
class Curve:
    points: list[CurvePoint]
    contango: float
    vix: float
    vix3m: float
    weeklies: list[CurvePoint] = field(default_factory=list)
    """Weekly VX futures with a mark (``months_out`` 0), in expiry order."""
    stale_points: list[CurvePoint] = field(default_factory=list)
    """The monthlies that have a mark but no fresh quote (a silent feed): the last curve, shown
    as stale, never used for the contango or the alerts."""
    last_quote_ns: int = 0
    """Event time of the newest quote of a VX future with a mark (0: none ever quoted)."""

    @property
    def status(self) -> str:
        """``live`` (fresh monthlies), ``stale`` (quoted before, none fresh) or ``never_quoted``."""
        if self.points:
            return "live"
        return "stale" if self.last_quote_ns else "never_quoted"

    @property
    def non_mid(self) -> str | None:
        """Name the front two points' mark sources when either is not a mid (alert context)."""
        front = self.points[:2]
        if all(p.source == "mid" for p in front):
            return None
        return ",".join(f"{p.symbol}:{p.source}" for p in front)

    @property
    def vix_vix3m(self) -> float:
        return self.vix / self.vix3m if self.vix3m > 0 else math.nan

    @property
    def in_contango(self) -> bool | None:
        return None if math.isnan(self.contango) else self.contango > 0

    def future(self, expiry: dt.date) -> float:
        """Return the curve's price of the monthly settling on ``expiry`` (NaN if absent)."""
        return next((p.price for p in self.points if p.expiry == expiry), math.nan)


def _fresh(market: MarketState, row: int, now_ns: int, max_age_ns: int, stale: bool) -> bool:
    return not stale and now_ns - int(market.ts_ns[row]) <= max_age_ns


def index_level(market: MarketState, name: str, now_ns: int, max_age_ns: int, stale: bool) -> float:
    """Return an index's last value if fresh, else NaN."""
    row = market.index.get(name)
    if row is None or not _fresh(market, row, now_ns, max_age_ns, stale):
        return math.nan
    return float(market.last[row])


_FUTURES: weakref.WeakKeyDictionary[Lineage, tuple[int, list[tuple[int, symbols.Instrument]]]]
_FUTURES = weakref.WeakKeyDictionary()


def _futures(market: MarketState) -> list[tuple[int, symbols.Instrument]]:
    """Return (row, instrument) of every future with an expiry, rebuilt when one registers:
    the curve is a few dozen rows of a market of tens of thousands (a full cycle's market is
    a snapshot: the cache is the live market's lineage's)."""
    hit = _FUTURES.get(market.lineage)
    if hit is not None and hit[0] == market.version:
        return hit[1]
    out = [
        (market.index[i.symbol], i)
        for i in market.instruments
        if i.kind is symbols.Kind.FUTURE and i.expiry is not None
    ]
    _FUTURES[market.lineage] = (market.version, out)
    return out


def analyze(
    market: MarketState,
    today: dt.date,
    now_ns: int,
    *,
    is_monthly: Callable[[dt.date], bool],
    max_age_ns: int,
    stale: bool,
    months: int = 8,
    marks: Marks | None = None,
) -> Curve:
    """Build the monthly curve (the first ``months`` points), the weeklies and the two ratios.

    ``marks`` defaults to ``market.marks`` with ``max_age_ns`` as the last-trade age limit.
    """
    if marks is None:
        marks = market.marks(now_ns, max_age_ns)
    monthly: list[CurvePoint] = []
    weekly: list[CurvePoint] = []
    old: list[CurvePoint] = []
    last_quote_ns = 0
    for row, inst in _futures(market):
        assert inst.expiry is not None
        if inst.expiry <= today:
            continue
        price = float(marks.price[row])
        if not price > 0:
            continue
        last_quote_ns = max(last_quote_ns, int(market.ts_ns[row]))
        is_weekly = not is_monthly(inst.expiry)
        fresh = _fresh(market, row, now_ns, max_age_ns, stale)
        if not fresh and is_weekly:
            continue
        (old if not fresh else weekly if is_weekly else monthly).append(
            CurvePoint(
                months_out=0,
                symbol=inst.symbol,
                expiry=inst.expiry,
                days=(inst.expiry - today).days,
                settle_ns=settlement_ns("VX", inst.expiry),
                price=price,
                source=MARK_SOURCES[int(marks.source[row])],
                age_s=(now_ns - int(marks.ts_ns[row])) / NS,
                weekly=is_weekly,
            )
        )
    monthly.sort(key=lambda p: p.expiry)
    points = [replace(p, months_out=i + 1) for i, p in enumerate(monthly[:months])]
    old.sort(key=lambda p: p.expiry)
    stale_points = [] if points else [
        replace(p, months_out=i + 1) for i, p in enumerate(old[:months])
    ]
    contango = points[1].price / points[0].price - 1 if len(points) >= 2 else math.nan
    return Curve(
        points=points,
        contango=contango,
        vix=index_level(market, "VIX", now_ns, max_age_ns, stale),
        vix3m=index_level(market, "VIX3M", now_ns, max_age_ns, stale),
        weeklies=sorted(weekly, key=lambda p: p.expiry),
        stale_points=stale_points,
        last_quote_ns=last_quote_ns,
    )


def conditions(curve: Curve, cfg: RulesConfig) -> C.Codes:
    ts = cfg.term_structure
    c = np.array([curve.contango], np.float64)
    ratio = np.array([curve.vix_vix3m], np.float64)
    return np.concatenate(
        [
            C.levels_below(c, 0.0, ts.hysteresis),
            C.levels_below(c, ts.min_contango, ts.min_contango + ts.hysteresis),
            C.levels_above(ratio, ts.vix_vix3m_max, ts.vix_vix3m_max - ts.hysteresis),
        ]
    )


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    del now_ns
    curve = ctx.analysis.curve
    codes = conditions(curve, cfg)
    layout = ctx.layouts.get(
        RULE, None, cfg, lambda: C.Layout.of(RULE, [MARKET] * len(SUBJECTS), SUBJECTS)
    )
    values = _values(curve)
    ts = cfg.term_structure
    out = []
    for i in ctx.select(RULE, layout, codes).tolist():
        code = int(codes[i])
        out.append(
            Signal(
                rule=RULE,
                book=MARKET,
                subject=SUBJECTS[i],
                condition=C.CONDITIONS[code],
                severity=ts.backwardation_severity if i == 0 else ts.contango_severity,
                summary=_summary(i, code, curve, cfg),
                values=values,
                action=_action(i) if code == C.BREACH else None,
                context=ctx.context,
            )
        )
    return out


def _values(curve: Curve) -> dict[str, float | int | str | bool | None]:
    out: dict[str, float | int | str | bool | None] = {
        "contango": _r(curve.contango, 4),
        "vix": _r(curve.vix, 2),
        "vix3m": _r(curve.vix3m, 2),
        "vix_vix3m": _r(curve.vix_vix3m, 4),
    }
    for p in curve.points[:2]:
        out[f"f{p.months_out}"] = round(p.price, 3)
        out[f"f{p.months_out}_symbol"] = p.symbol
        out[f"f{p.months_out}_source"] = p.source
    return out


def _summary(i: int, code: int, curve: Curve, cfg: RulesConfig) -> str:
    ts = cfg.term_structure
    if code == C.UNKNOWN and i == 2:
        return "VIX/VIX3M unknown: an index quote is missing or stale"
    if code == C.UNKNOWN:
        return f"VX term structure {SUBJECTS[i]} unknown: fewer than two fresh monthly futures"
    if i == 2:
        side = "at or above" if curve.vix_vix3m >= ts.vix_vix3m_max else "below"
        return f"VIX/VIX3M {curve.vix_vix3m:.3f} {side} {ts.vix_vix3m_max:g}"
    f1, f2 = curve.points[0], curve.points[1]
    spread = (
        f"F2/F1-1 {curve.contango:+.2%} ({f1.symbol} {f1.price:.2f}{_src(f1)}, "
        f"{f2.symbol} {f2.price:.2f}{_src(f2)})"
    )
    if i == 0:
        return f"VX curve in {'backwardation' if curve.contango <= 0 else 'contango'}: {spread}"
    side = "at or below" if curve.contango <= ts.min_contango else "above"
    return f"VX contango {side} {ts.min_contango:.1%}: {spread}"


def _src(p: CurvePoint) -> str:
    """Say which mark a non-mid point rests on (``" last"``, ``" settle"``)."""
    return "" if p.source == "mid" else f" {p.source}"


def _action(i: int) -> str:
    if i == 2:
        return "Short-end stress: check the hedge layers' gains before the front settles."
    return (
        "Backwardation favours harvesting short-dated VIX calls; do not add size into the "
        "pop, roll into 45-90-day calls only once contango returns."
    )


def _r(x: float, digits: int) -> float | None:
    return None if math.isnan(x) else round(x, digits)
