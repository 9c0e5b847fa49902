"""Dates the tests run at, so that no test depends on the day it runs.

Two ways, one per kind of test:

- **The demo's own date.** The shipped demo book (config/portfolio.toml) was opened for the
  sample session recorded on 2026-11-16; a simulator started then (``DEMO_START``, on
  ``engine.time_source = "market"``) trades it with every contract live, whenever it runs.
- **Relative to the clock.** Tests of config checks that run on the wall clock build a book whose
  contracts expire some weeks after today (``live_book``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from monitor import symbols
from monitor.pricing.calendar import is_business_day, vix_monthly_expiry

DEMO_START_AT = dt.datetime(2026, 11, 16, 14, 30, tzinfo=dt.UTC)
"""09:30 New York on the sample session's day: the demo book's SPX 6,000 / VIX 15 market."""
DEMO_START = "2026-11-16T14:30:00Z"
"""``DEMO_START_AT`` as a TOML value."""
DEMO_START_NS = 1_794_839_400_000_000_000
DEMO_SIMULATOR = (
    f'[engine]\ntime_source = "market"\n[[feeds]]\nkind = "simulator"\nstart = {DEMO_START}\n'
)
"""TOML for the default feed (a simulator) on the demo's day, for a config with no [engine]."""


def condor_expiry(today: dt.date, days: int = 45) -> dt.date:
    """Return the first business-day Friday at least ``days`` after ``today`` (an SPXW expiry)."""
    day = today + dt.timedelta(days=days)
    while day.weekday() != 4 or not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def layer_expiry(today: dt.date, days: int = 20) -> dt.date:
    """Return the first monthly VIX expiry at least ``days`` after ``today``."""
    year, month = today.year, today.month
    while (exp := vix_monthly_expiry(year, month)) < today + dt.timedelta(days=days):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return exp


def layer_leg(today: dt.date | None = None) -> str:
    """Return the VIX 20 call ``live_book`` hedges with (default: on the wall clock's date)."""
    return symbols.option_symbol("VIX", layer_expiry(today or _today()), 1, 20.0)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def live_book(today: dt.date | None = None) -> str:
    """Return a one-book portfolio (a 5500/5600/6250/6350 SPXW condor ~45 days out, one VIX 20
    call layer on the next monthly expiry) whose contracts are live on ``today`` (default:
    the wall clock's date, a faked one included)."""
    today = today or _today()
    ic = condor_expiry(today)
    legs = [
        (-1, 5500.0, 1, 19.8),
        (-1, 5600.0, -1, 27.4),
        (1, 6250.0, -1, 17.6),
        (1, 6350.0, 1, 7.4),
    ]
    rows = ",\n".join(
        f'  {{ symbol = "{symbols.option_symbol("SPXW", ic, right, k)}", '
        f"quantity = {qty}, entry_price = {price} }}"
        for right, k, qty, price in legs
    )
    layer = layer_leg(today)
    return (
        '\n[[books]]\nname = "main"\n[[books.condors]]\nname = "IC"\n'
        f"legs = [\n{rows},\n]\n"
        f'[[books.layers]]\nname = "L1"\n'
        f'legs = [{{ symbol = "{layer}", quantity = 4, entry_price = 0.85 }}]\n'
    )


def with_live_book(etc: Path) -> None:
    """Replace the example portfolio a deployment installed into ``etc`` with ``live_book``.

    The deploy configs run on the wall clock, and their example portfolio is the demo's book,
    whose contracts expire in December 2026: from then on ``check-config`` rightly refuses it
    (docs/deployment.md tells deployers to put their own book there). The deploy tests check the
    deployment, not the demo's dates, so they install a book that is live on the day they run.
    """
    portfolio = etc / "portfolio.toml"
    assert portfolio.is_file(), f"{etc}: the deployment installs no portfolio.toml"
    portfolio.write_text(live_book())
