"""VIX momentum: 1-minute and daily bars from VIX index quotes, RSI(14), MACD(12,26,9).

Bars are built from the VIX index's ``last`` at the quote's own event time (``Bars.update``; the
engine's rule memory owns them). Indicators read completed bars only, so a value changes once per
bar, identically in a live run and a replay:

- RSI: Wilder's smoothing (first average = mean of the first ``period`` changes).
- MACD: EMA(fast) - EMA(slow) with EMAs seeded at the first close (``alpha = 2 / (n + 1)``),
  signal = EMA(signal) of that line, histogram = line - signal.

"Mean reversion likely": the histogram is positive and has shrunk on each of the last
``contracting_bars`` completed bars while the VX curve is in contango (F2 > F1). It needs
``macd_slow`` completed bars of history (26 minutes on 1-minute bars); before that, and on a
stale VIX quote, the rule reports ``unknown``. The signal tightens the roll advisory's
martingale coefficient.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from monitor.rules import codes as C
from monitor.rules.base import Signal
from monitor.rules.config import MomentumConfig

if TYPE_CHECKING:
    from monitor.rules.context import RuleContext
    from monitor.settings import RulesConfig

RULE = "vix_momentum"
MARKET = "market"
NEW_YORK = ZoneInfo("America/New_York")
MINUTE_NS = 60 * 1_000_000_000
F64 = NDArray[np.float64]


def minute_bucket(ts_ns: int) -> int:
    return ts_ns // MINUTE_NS


def day_bucket(ts_ns: int) -> int:
    """Return the New York calendar day of ``ts_ns`` as a proleptic ordinal."""
    return dt.datetime.fromtimestamp(ts_ns / 1e9, NEW_YORK).date().toordinal()


@dataclass(slots=True)
class Bars:
    """OHLC bars keyed by an increasing bucket id; the last bar may still be forming."""

    max_bars: int
    bucket: list[int] = field(default_factory=list)
    open: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)

    def update(self, bucket: int, price: float) -> None:
        """Add ``price`` to the bar of ``bucket``; a bucket older than the last is ignored."""
        if self.bucket and bucket == self.bucket[-1]:
            self.high[-1] = max(self.high[-1], price)
            self.low[-1] = min(self.low[-1], price)
            self.close[-1] = price
        elif not self.bucket or bucket > self.bucket[-1]:
            self.bucket.append(bucket)
            for prices in (self.open, self.high, self.low, self.close):
                prices.append(price)
            if len(self.bucket) > self.max_bars:
                del self.bucket[0], self.open[0], self.high[0], self.low[0], self.close[0]

    def completed_closes(self) -> F64:
        return np.asarray(self.close[:-1], np.float64)


_EMA_BLOCK = 64


@lru_cache(maxsize=16)
def _ema_kernel(a: float) -> tuple[F64, F64]:
    """Return (W, P) for one block: ``y = W @ x + P * y_before`` (W[j, k] = a (1-a)^(j-k))."""
    j = np.arange(_EMA_BLOCK)
    lag = j[:, None] - j[None, :]
    w = np.where(lag >= 0, a * (1.0 - a) ** np.maximum(lag, 0), 0.0).astype(np.float64)
    return w, ((1.0 - a) ** (j + 1.0)).astype(np.float64)


def ema(x: F64, n: int) -> F64:
    """Exponential moving average seeded at ``x[0]`` (alpha = 2 / (n + 1)).

    The recursion ``y[i] = a x[i] + (1 - a) y[i-1]`` is applied a block of 64 at a time as a
    small matrix product (exact up to rounding; no Python loop per bar, and no scipy.signal,
    whose import alone costs an engine ~35 MB of private memory).
    """
    if len(x) == 0:
        return x
    a = 2.0 / (n + 1)
    w, p = _ema_kernel(a)
    x = np.asarray(x, np.float64)
    out = np.empty(len(x), np.float64)
    before = float(x[0])
    for start in range(0, len(x), _EMA_BLOCK):
        xs = x[start: start + _EMA_BLOCK]
        m = len(xs)
        ys = w[:m, :m] @ xs + p[:m] * before
        out[start: start + m] = ys
        before = float(ys[-1])
    return out


def rsi(closes: F64, period: int) -> float:
    """Wilder's RSI of the last close; NaN with fewer than ``period + 1`` closes."""
    if len(closes) < period + 1:
        return math.nan
    diff = np.diff(closes)
    gains, losses = np.maximum(diff, 0.0), np.maximum(-diff, 0.0)
    avg_gain, avg_loss = float(gains[:period].mean()), float(losses[:period].mean())
    for g, loss in zip(gains[period:].tolist(), losses[period:].tolist(), strict=True):
        avg_gain = (avg_gain * (period - 1) + g) / period
        avg_loss = (avg_loss * (period - 1) + loss) / period
    if avg_loss == 0.0:
        return 100.0 if avg_gain > 0 else 50.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


def macd_histogram(closes: F64, fast: int, slow: int, signal: int) -> F64:
    """Return the MACD histogram series (line - signal line)."""
    line = ema(closes, fast) - ema(closes, slow)
    return line - ema(line, signal)


@dataclass(frozen=True, slots=True)
class Indicators:
    timeframe: str
    bars: int
    """Completed bars the indicators read."""
    close: float
    rsi: float
    histogram: float
    contracting: bool | None
    """None until the MACD is warm (``macd_slow`` completed bars)."""


def indicators(timeframe: str, bars: Bars, cfg: MomentumConfig) -> Indicators:
    closes = bars.completed_closes()
    hist = macd_histogram(closes, cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)
    warm = len(closes) >= cfg.macd_slow
    contracting: bool | None = None
    if warm and len(hist) > cfg.contracting_bars:
        tail = hist[-cfg.contracting_bars - 1 :]
        contracting = bool(tail[-1] > 0 and np.all(np.diff(tail) < 0))
    return Indicators(
        timeframe=timeframe,
        bars=len(closes),
        close=float(closes[-1]) if len(closes) else math.nan,
        rsi=rsi(closes, cfg.rsi_period),
        histogram=float(hist[-1]) if len(hist) else math.nan,
        contracting=contracting,
    )


@dataclass(frozen=True, slots=True)
class Momentum:
    vix: float
    """The VIX index level now (NaN when unquoted or stale)."""
    by_timeframe: dict[str, Indicators]
    mean_reversion: bool | None
    """None: unknown (MACD not warm, VIX quote stale, or curve unknown)."""


def analyze(bars: dict[str, Bars], vix: float, contango: float, cfg: MomentumConfig) -> Momentum:
    """Compute the indicators of every timeframe and the mean-reversion signal."""
    by_tf = {tf: indicators(tf, b, cfg) for tf, b in bars.items()}
    chosen = by_tf.get(cfg.timeframe)
    mr: bool | None = None
    if chosen is not None and chosen.contracting is not None and not math.isnan(vix):
        mr = None if math.isnan(contango) else bool(chosen.contracting and contango > 0)
    return Momentum(vix=vix, by_timeframe=by_tf, mean_reversion=mr)


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    """One market-wide key: ``mean_reversion`` (info), breach while the signal is on."""
    del now_ns
    m = ctx.analysis.momentum
    code = C.UNKNOWN if m.mean_reversion is None else (C.BREACH if m.mean_reversion else C.CLEAR)
    layout = ctx.layouts.get(
        RULE, None, cfg, lambda: C.Layout.of(RULE, [MARKET], ["mean_reversion"])
    )
    picked = ctx.select(RULE, layout, np.array([code], np.int8))
    if not len(picked):
        return []
    ind = m.by_timeframe.get(cfg.momentum.timeframe)
    values: dict[str, float | int | str | bool | None] = {"vix": _r(m.vix)}
    if ind is not None:
        values |= {
            "timeframe": ind.timeframe,
            "bars": ind.bars,
            "rsi": _r(ind.rsi),
            "macd_histogram": _r(ind.histogram, 4),
        }
    summary = {
        C.BREACH: "VIX mean reversion likely: MACD histogram contracting, curve in contango",
        C.CLEAR: "VIX mean-reversion signal off",
        C.UNKNOWN: "VIX mean-reversion signal unknown (warming up or stale VIX quote)",
    }[code]
    return [
        Signal(
            rule=RULE,
            book=MARKET,
            subject="mean_reversion",
            condition=C.CONDITIONS[code],
            severity=cfg.momentum.severity,
            summary=summary,
            values=values,
            context=ctx.context,
        )
    ]


def _r(x: float, digits: int = 2) -> float | None:
    return None if math.isnan(x) else round(x, digits)
