"""The macro calendar: the shipped file loads, instants follow US Eastern time, next event."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from monitor import settings
from monitor.rules.calendar import EventCalendar, et_instant_ns

ROOT = Path(__file__).resolve().parents[3]
UTC = dt.UTC


def ns(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=UTC).timestamp()) * 1_000_000_000


@pytest.fixture(scope="module")
def calendar() -> EventCalendar:
    return settings.load_events(ROOT / "config" / "events.toml")


def test_the_shipped_calendar_has_fomc_cpi_and_ppi_for_2026_and_2027(
    calendar: EventCalendar,
) -> None:
    years = {(e.kind, e.et.year) for e in calendar.events}
    assert years >= {(k, y) for k in ("FOMC", "CPI", "PPI") for y in (2026, 2027)}
    assert sum(e.kind == "FOMC" for e in calendar.events) == 16


def test_an_fomc_statement_is_at_two_pm_eastern_in_winter_and_summer() -> None:
    assert et_instant_ns(dt.date(2026, 1, 28), dt.time(14)) == ns(2026, 1, 28, 19)
    assert et_instant_ns(dt.date(2026, 6, 17), dt.time(14)) == ns(2026, 6, 17, 18)


def test_the_next_event_after_the_demo_session_is_the_december_fomc(
    calendar: EventCalendar,
) -> None:
    ev = calendar.next_event(ns(2026, 11, 24, 15))
    assert ev is not None and ev.label() == "FOMC 2026-12-09 14:00 ET"


def test_next_event_can_be_restricted_to_kinds(calendar: EventCalendar) -> None:
    ev = calendar.next_event(ns(2026, 11, 24, 15), frozenset({"PPI"}))
    assert ev is not None and ev.label() == "PPI 2026-12-15 08:30 ET"


def test_an_event_at_the_current_instant_is_no_longer_next(calendar: EventCalendar) -> None:
    ev = calendar.next_event(ns(2026, 12, 9, 19))
    assert ev is not None and ev.kind == "CPI"


def test_provisional_dates_say_so(calendar: EventCalendar) -> None:
    ev = calendar.next_event(ns(2027, 1, 1, 0), frozenset({"CPI"}))
    assert ev is not None and ev.label().endswith("(provisional)")


def test_a_bad_events_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "events.toml"
    bad.write_text('[[series]]\nkind = "CPI"\ntitle = "x"\ntime_et = "8:30"\ndates = []\n')
    with pytest.raises(settings.ConfigError) as info:
        settings.load_events(bad)
    assert "series[0].time_et" in info.value.errors[0]
