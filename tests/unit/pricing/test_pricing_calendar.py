"""Expiry calendars, settlement instants (with DST) and settlement-exact year fractions."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pytest

from monitor.pricing.calendar import (
    is_business_day,
    is_early_close,
    is_holiday,
    previous_business_day,
    spx_monthly_expiry,
    vix_monthly_expiry,
)
from monitor.pricing.expiry import NS_PER_YEAR, last_trading_day, settlement_ns, year_fraction

D = dt.date
NY = ZoneInfo("America/New_York")

# Cboe's monthly calendars. Tuesdays mark the holiday shifts: Juneteenth fell on the third
# Friday of June 2026 and (observed) June 2027, so those months' VIX expiries move a day earlier.
VIX_MONTHLY = {
    2026: [D(2026, 1, 21), D(2026, 2, 18), D(2026, 3, 18), D(2026, 4, 15), D(2026, 5, 19),
           D(2026, 6, 17), D(2026, 7, 22), D(2026, 8, 19), D(2026, 9, 16), D(2026, 10, 21),
           D(2026, 11, 18), D(2026, 12, 16)],
    2027: [D(2027, 1, 20), D(2027, 2, 17), D(2027, 3, 17), D(2027, 4, 21), D(2027, 5, 18),
           D(2027, 6, 16), D(2027, 7, 21), D(2027, 8, 18), D(2027, 9, 15), D(2027, 10, 20),
           D(2027, 11, 17), D(2027, 12, 22)],
    2028: [D(2028, 1, 19), D(2028, 2, 16), D(2028, 3, 22), D(2028, 4, 19), D(2028, 5, 17),
           D(2028, 6, 21), D(2028, 7, 19), D(2028, 8, 16), D(2028, 9, 20), D(2028, 10, 18),
           D(2028, 11, 15), D(2028, 12, 20)],
}  # fmt: skip
SPX_MONTHLY = {
    2026: [D(2026, 1, 16), D(2026, 2, 20), D(2026, 3, 20), D(2026, 4, 17), D(2026, 5, 15),
           D(2026, 6, 18), D(2026, 7, 17), D(2026, 8, 21), D(2026, 9, 18), D(2026, 10, 16),
           D(2026, 11, 20), D(2026, 12, 18)],
    2027: [D(2027, 1, 15), D(2027, 2, 19), D(2027, 3, 19), D(2027, 4, 16), D(2027, 5, 21),
           D(2027, 6, 17), D(2027, 7, 16), D(2027, 8, 20), D(2027, 9, 17), D(2027, 10, 15),
           D(2027, 11, 19), D(2027, 12, 17)],
    2028: [D(2028, 1, 21), D(2028, 2, 18), D(2028, 3, 17), D(2028, 4, 21), D(2028, 5, 19),
           D(2028, 6, 16), D(2028, 7, 21), D(2028, 8, 18), D(2028, 9, 15), D(2028, 10, 20),
           D(2028, 11, 17), D(2028, 12, 15)],
}  # fmt: skip


def _ns(day: dt.date, hour: int, minute: int = 0) -> int:
    return int(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NY).timestamp()) * 10**9


@pytest.mark.parametrize("year", sorted(VIX_MONTHLY))
def test_vix_monthly_expiries_match_cboe_calendar(year: int) -> None:
    assert [vix_monthly_expiry(year, m) for m in range(1, 13)] == VIX_MONTHLY[year]


@pytest.mark.parametrize("year", sorted(SPX_MONTHLY))
def test_spx_monthly_expiries_match_cboe_calendar(year: int) -> None:
    assert [spx_monthly_expiry(year, m) for m in range(1, 13)] == SPX_MONTHLY[year]


def test_vix_expiry_moves_to_tuesday_when_the_anchor_friday_is_good_friday() -> None:
    # April 18, 2025 was Good Friday: the March 2025 VIX expiry was Tuesday March 18.
    assert vix_monthly_expiry(2025, 3) == D(2025, 3, 18)


def test_spx_monthly_moves_to_thursday_when_the_third_friday_is_a_holiday() -> None:
    assert spx_monthly_expiry(2025, 4) == D(2025, 4, 17)


def test_business_days_skip_weekends_and_nyse_holidays() -> None:
    assert is_business_day(D(2026, 3, 9))
    assert not is_business_day(D(2026, 3, 7))
    assert not is_business_day(D(2026, 4, 3))  # Good Friday
    assert not is_business_day(D(2025, 1, 9))  # national day of mourning
    assert previous_business_day(D(2026, 4, 6)) == D(2026, 4, 2)


def test_closures_and_early_closes_are_the_holidays_packages_nyse_calendar() -> None:
    years = range(1990, 2061)
    closed = holidays.financial_holidays("NYSE", years=years)
    half = holidays.financial_holidays("NYSE", categories=("half_day",), years=years)
    first, end = D(1990, 1, 1), D(2061, 1, 1)
    days = [first + dt.timedelta(days=i) for i in range((end - first).days)]
    weekdays = [d for d in days if d.weekday() < 5]
    assert [d for d in days if is_holiday(d)] == [d for d in weekdays if d in closed]
    assert [d for d in days if is_early_close(d)] == [
        d for d in weekdays if d in half and d not in closed
    ]


def test_the_calendar_imports_no_other_market_or_country_of_the_holidays_package() -> None:
    # holidays.financial's package init imports every market and country (~8 MB per process)
    probe = (
        "import sys, datetime as dt\n"
        "from monitor.pricing import calendar\n"
        "assert calendar.is_holiday(dt.date(2026, 4, 3))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('holidays.financial', "
        "'holidays.countries'))))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_spxw_settles_at_the_1600_et_close() -> None:
    assert settlement_ns("SPXW", D(2026, 3, 6)) == _ns(D(2026, 3, 6), 16)


def test_spxw_settlement_follows_daylight_saving_time() -> None:
    winter = settlement_ns("SPXW", D(2026, 3, 6))  # EST, UTC-5
    summer = settlement_ns("SPXW", D(2026, 3, 9))  # EDT, UTC-4 from March 8
    assert winter % (86_400 * 10**9) == 21 * 3600 * 10**9
    assert summer % (86_400 * 10**9) == 20 * 3600 * 10**9


def test_spxw_settles_at_1300_on_an_early_close_day() -> None:
    assert is_early_close(D(2026, 11, 27))
    assert settlement_ns("SPXW", D(2026, 11, 27)) == _ns(D(2026, 11, 27), 13)


def test_spx_am_monthly_settles_at_the_open_and_stops_trading_the_day_before() -> None:
    assert settlement_ns("SPX", D(2026, 3, 20)) == _ns(D(2026, 3, 20), 9, 30)
    assert last_trading_day("SPX", D(2026, 3, 20)) == D(2026, 3, 19)
    assert last_trading_day("SPXW", D(2026, 3, 20)) == D(2026, 3, 20)


@pytest.mark.parametrize("root", ["VIX", "VIXW", "VX"])
def test_vix_products_settle_at_the_wednesday_open(root: str) -> None:
    assert settlement_ns(root, D(2026, 3, 18)) == _ns(D(2026, 3, 18), 9, 30)


@pytest.mark.parametrize("root", ["VIX", "VIXW"])
def test_vix_options_stop_trading_the_business_day_before_settlement(root: str) -> None:
    assert last_trading_day(root, D(2026, 3, 18)) == D(2026, 3, 17)


def test_an_expiring_vx_future_trades_on_its_final_settlement_date() -> None:
    assert last_trading_day("VX", D(2026, 3, 18)) == D(2026, 3, 18)
    assert last_trading_day("VX", D(2027, 5, 18)) == D(2027, 5, 18)


def test_unknown_root_is_rejected() -> None:
    with pytest.raises(ValueError, match="QQQ"):
        settlement_ns("QQQ", D(2026, 3, 18))


def test_year_fraction_counts_exact_nanoseconds_act_365() -> None:
    settle = settlement_ns("SPXW", D(2026, 3, 9))
    ten_minutes = 600 * 10**9
    assert year_fraction(settle, settle - ten_minutes) == ten_minutes / NS_PER_YEAR


def test_year_fraction_clamps_at_zero_after_settlement() -> None:
    settle = settlement_ns("SPXW", D(2026, 3, 9))
    assert year_fraction(settle, settle + 1) == 0.0


def test_year_fraction_is_vectorized_over_settlements() -> None:
    now = _ns(D(2026, 3, 9), 15, 59)
    settles = np.array([settlement_ns("SPXW", D(2026, 3, 9)), settlement_ns("VIX", D(2026, 3, 18))])
    out = year_fraction(settles, now)
    assert out.shape == (2,)
    assert out[0] == pytest.approx(60 / (365 * 86_400))


def test_a_zero_dte_minute_before_the_close_is_one_minute() -> None:
    settle = settlement_ns("SPXW", D(2026, 7, 2))
    assert year_fraction(settle, _ns(D(2026, 7, 2), 15, 59)) * 365 * 1440 == pytest.approx(1.0)
