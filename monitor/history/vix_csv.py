"""Cboe's daily VIX history CSV, sans I/O: text in, daily bars out, merged under live bars.

The file (``https://cdn.cboe.com/api/global/us_indices/daily_prices/VIX_History.csv``) has a
header ``DATE,OPEN,HIGH,LOW,CLOSE`` and one row per session, dates as ``MM/DD/YYYY``, oldest
first. A row that does not parse (or has a non-positive or non-finite price) is counted and
skipped; the rest is still used.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from monitor.rules.momentum import Bars

HEADER = ("DATE", "OPEN", "HIGH", "LOW", "CLOSE")


class HistoryFormatError(ValueError):
    """The text is not a VIX history CSV (its header is not ``DATE,OPEN,HIGH,LOW,CLOSE``)."""


@dataclass(frozen=True, slots=True)
class DailyBar:
    day: dt.date
    open: float
    high: float
    low: float
    close: float


def parse(text: str) -> tuple[list[DailyBar], int]:
    """Return the file's bars sorted by date (one per date, the last wins) and the bad rows."""
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    head = lines[0] if lines else ""
    if tuple(c.strip().upper() for c in head.split(",")) != HEADER:
        raise HistoryFormatError(f"not a VIX history CSV (header {head[:60]!r})")
    bars: dict[dt.date, DailyBar] = {}
    bad = 0
    for line in lines[1:]:
        bar = _row(line)
        if bar is None:
            bad += 1
        else:
            bars[bar.day] = bar
    return [bars[d] for d in sorted(bars)], bad


def _row(line: str) -> DailyBar | None:
    cells = [c.strip() for c in line.split(",")]
    if len(cells) != len(HEADER):
        return None
    try:
        day = dt.datetime.strptime(cells[0], "%m/%d/%Y").date()
        o, h, lo, c = (float(x) for x in cells[1:])
    except ValueError:
        return None
    if not all(math.isfinite(x) and x > 0 for x in (o, h, lo, c)):
        return None
    return DailyBar(day, o, h, lo, c)


def backfill(bars: Bars, history: list[DailyBar], today: dt.date) -> set[int]:
    """Merge ``history`` (sessions before ``today``) under the daily ``bars``; return the
    buckets (day ordinals) that came from it.

    Bars built live win over the file for the same day; the result keeps the newest
    ``bars.max_bars``.
    """
    live = {b: (o, h, lo, c) for b, o, h, lo, c in
            zip(bars.bucket, bars.open, bars.high, bars.low, bars.close, strict=True)}
    filled = {
        bar.day.toordinal(): (bar.open, bar.high, bar.low, bar.close)
        for bar in history
        if bar.day < today and bar.day.toordinal() not in live
    }
    merged = sorted((live | filled).items())[-bars.max_bars:]
    bars.bucket = [b for b, _ in merged]
    bars.open = [v[0] for _, v in merged]
    bars.high = [v[1] for _, v in merged]
    bars.low = [v[2] for _, v in merged]
    bars.close = [v[3] for _, v in merged]
    kept = set(bars.bucket)
    return {b for b in filled if b in kept}
