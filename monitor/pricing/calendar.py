"""Exchange business days and the monthly SPX and VIX expiry rules.

Holidays and early closes come from the ``holidays`` package's NYSE financial calendar (Cboe
index options follow the NYSE holiday schedule), never from a hand-kept list.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path

import holidays

_NYSE_MODULE = "holidays.financial.ny_stock_exchange"


def _nyse_calendar() -> type[holidays.HolidayBase]:
    """Return the ``holidays`` package's NYSE calendar class, loading its module by itself.

    Importing it the ordinary way runs ``holidays.financial``'s package init, which imports every
    market and through them every country: ~310 modules and ~8 MB of private memory in each
    engine process, for one calendar. The NYSE module needs only the package's base modules.
    Falls back to the ordinary import when that is loaded already or the module has changed.
    """
    if "holidays.financial" not in sys.modules:
        alone = _load_alone(Path(holidays.__file__).with_name("financial") / "ny_stock_exchange.py")
        if alone is not None:
            return alone
    return type(holidays.financial_holidays("NYSE"))


def _load_alone(path: Path) -> type[holidays.HolidayBase] | None:
    spec = importlib.util.spec_from_file_location(_NYSE_MODULE, path)
    if not path.is_file() or spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError:
        return None
    found = getattr(module, "NewYorkStockExchange", None)
    if isinstance(found, type) and issubclass(found, holidays.HolidayBase):
        return found
    return None


_NYSE = _nyse_calendar()
_CLOSED = _NYSE()
_HALF_DAYS = _NYSE(categories=("half_day",))
_ONE_DAY = dt.timedelta(days=1)


@lru_cache(maxsize=8192)
def is_holiday(day: dt.date) -> bool:
    """Return True on an NYSE full-day closure that falls on a weekday."""
    return day.weekday() < 5 and day in _CLOSED


def is_business_day(day: dt.date) -> bool:
    """Return True on a weekday the exchange is open (early-close days included)."""
    return day.weekday() < 5 and not is_holiday(day)


@lru_cache(maxsize=8192)
def is_early_close(day: dt.date) -> bool:
    """Return True on an NYSE early-close (13:00 ET) day."""
    return is_business_day(day) and day in _HALF_DAYS


def previous_business_day(day: dt.date) -> dt.date:
    """Return the last business day strictly before ``day``."""
    day -= _ONE_DAY
    while not is_business_day(day):
        day -= _ONE_DAY
    return day


def third_friday(year: int, month: int) -> dt.date:
    """Return the third Friday of a month."""
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)


def spx_monthly_expiry(year: int, month: int) -> dt.date:
    """Return the AM-settled SPX monthly expiry: the third Friday, or the business day before it
    when that Friday is a holiday."""
    friday = third_friday(year, month)
    return friday if is_business_day(friday) else previous_business_day(friday)


def vix_monthly_expiry(year: int, month: int) -> dt.date:
    """Return the VIX option / VX future monthly expiry (final settlement date), Cboe's rule.

    The Wednesday 30 days before the third Friday of the following month. If that Friday is a
    holiday, 30 days before the business day preceding it; if the resulting day is a holiday,
    the business day preceding it.
    """
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    anchor = third_friday(next_year, next_month)
    if not is_business_day(anchor):
        anchor = previous_business_day(anchor)
    expiry = anchor - dt.timedelta(days=30)
    return expiry if is_business_day(expiry) else previous_business_day(expiry)
