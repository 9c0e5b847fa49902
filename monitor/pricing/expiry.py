"""Settlement instants and settlement-exact time to expiry.

Times are integer nanoseconds since the epoch (UTC); the settlement clock is America/New_York
with DST from zoneinfo. The option symbol's date is the settlement date:

- SPXW (PM-settled weeklies, dailies, end-of-month, PM third Friday): the close on the expiry
  date, 16:00 ET (13:00 ET on NYSE early-close days); last trading day is the expiry date.
- SPX (AM-settled monthlies): the open of the expiry date, 09:30 ET (the special opening
  quotation); last trading day is the business day before.
- VIX, VIXW options and VX futures: the open of the expiry Wednesday (VRO), 09:30 ET; the
  options' last trading day is the business day before; an expiring VX future trades on its
  final settlement date (CFE rule since 2011: trading ends at the open, 08:00 CT, when the
  special opening quotation starts).

Year fractions are ACT/365 on the exact nanosecond difference.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from monitor.pricing.calendar import is_early_close, previous_business_day

NEW_YORK = ZoneInfo("America/New_York")
NS_PER_YEAR = 365 * 86_400 * 1_000_000_000
AM_ROOTS = frozenset({"SPX", "VIX", "VIXW", "VX"})
PM_ROOTS = frozenset({"SPXW"})
_OPEN = dt.time(9, 30)
_CLOSE = dt.time(16, 0)
_EARLY_CLOSE = dt.time(13, 0)


def _to_ns(day: dt.date, at: dt.time) -> int:
    moment = dt.datetime.combine(day, at, tzinfo=NEW_YORK)
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


@lru_cache(maxsize=4096)
def settlement_ns(root: str, expiry: dt.date) -> int:
    """Return the settlement instant (ns UTC) of a root's contracts expiring on ``expiry``."""
    if root in PM_ROOTS:
        return _to_ns(expiry, _EARLY_CLOSE if is_early_close(expiry) else _CLOSE)
    if root in AM_ROOTS:
        return _to_ns(expiry, _OPEN)
    raise ValueError(f"no settlement convention for root {root!r}")


def last_trading_day(root: str, expiry: dt.date) -> dt.date:
    """Return the last day the contract trades: the expiry for PM roots and VX futures, else
    the business day before."""
    if root in PM_ROOTS or root == "VX":
        return expiry
    if root in AM_ROOTS:
        return previous_business_day(expiry)
    raise ValueError(f"no settlement convention for root {root!r}")


def year_fraction(settle_ns: npt.ArrayLike, now_ns: npt.ArrayLike) -> NDArray[np.float64]:
    """Return ACT/365 years from ``now_ns`` to ``settle_ns``, clamped at 0 once settled.

    Works on scalars and int64 arrays alike; the subtraction is done in integers so nanosecond
    precision survives for any realistic horizon.
    """
    diff = np.asarray(settle_ns, dtype=np.int64) - np.asarray(now_ns, dtype=np.int64)
    out: NDArray[np.float64] = np.maximum(diff, 0).astype(np.float64) / NS_PER_YEAR
    return out
