"""A simulator's ``start``: validated with its TOML path, and the clock the book's expiries are
judged at; the shipped demo and the tests' demo day agree with the sample recording."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import msgspec

from monitor import settings
from monitor.model import Quote
from tests.support.clocked import DEMO_SIMULATOR, DEMO_START, DEMO_START_NS
from tests.unit.core.test_settings import errors, write

DEMO_BOOK = settings.DATA_DIR / "portfolio.toml"
LATER_NS = int(dt.datetime(2027, 6, 30, 15, tzinfo=dt.UTC).timestamp()) * 10**9
"""A clock long after the demo book's December contracts expired."""
MARKET = '[engine]\ntime_source = "market"\n'


def demo_config(tmp_path: Path, tables: str) -> Path:
    path = tmp_path / "vixmon.toml"
    path.write_text(f'portfolio = "{DEMO_BOOK}"\n{tables}')
    return path


def load_errors(path: Path, now_ns: int) -> list[str]:
    try:
        settings.load(path, now_ns=now_ns)
    except settings.ConfigError as exc:
        return [e.split(": ", 1)[1] for e in exc.errors]
    return []


def test_on_a_fixed_start_the_demo_book_is_live_long_after_its_expiry(tmp_path: Path) -> None:
    assert load_errors(demo_config(tmp_path, DEMO_SIMULATOR), LATER_NS) == []


def test_a_simulator_without_start_judges_the_book_at_the_clock(tmp_path: Path) -> None:
    path = demo_config(tmp_path, MARKET + '[[feeds]]\nkind = "simulator"\n')
    found = load_errors(path, LATER_NS)
    assert (
        "books[0].layers[0].legs[0].symbol: 'VIX261216C00020000' expired (settled "
        "2026-12-16): remove it" in found
    )


def test_a_contract_expired_at_the_start_is_refused(tmp_path: Path) -> None:
    sim = MARKET + '[[feeds]]\nkind = "simulator"\nstart = 2026-12-17T14:30:00Z\n'
    found = load_errors(demo_config(tmp_path, sim), LATER_NS)
    assert [e for e in found if "expired" in e] == [
        "books[0].layers[0].legs[0].symbol: 'VIX261216C00020000' expired (settled 2026-12-16):"
        " remove it"
    ]


def test_a_fixed_start_needs_market_time(tmp_path: Path) -> None:
    sim = f'[[feeds]]\nkind = "simulator"\nstart = {DEMO_START}\n'
    [error] = errors(write(tmp_path, sim))  # a book live today: on wall time it is checked now
    assert error.startswith(
        "feeds[0].start: a fixed start puts the simulated clock off the wall clock"
    )


def test_a_start_ahead_of_the_clock_is_refused(tmp_path: Path) -> None:
    found = load_errors(demo_config(tmp_path, DEMO_SIMULATOR), DEMO_START_NS - 10**9)
    assert found == [
        "feeds[0].start: 2026-11-16T14:30:00+00:00 must lie between 1970 and the "
        "clock's now (2026-11-16T14:29:59+00:00): a first quote after it is "
        "rejected (future_ts)"
    ]


def test_a_start_without_a_utc_offset_is_refused_with_its_path(tmp_path: Path) -> None:
    sim = MARKET + '[[feeds]]\nkind = "simulator"\nstart = 2026-11-16T09:30:00\n'
    assert errors(demo_config(tmp_path, sim)) == [
        "feeds[0].start: Expected `datetime` with a timezone component"
    ]


def test_the_tests_demo_day_is_the_sample_sessions_first_quote() -> None:
    with gzip.open(settings.DATA_DIR / "sample-session.jsonl.gz") as fh:
        first = msgspec.json.decode(fh.readline(), type=Quote | list[Quote])
    assert (first if isinstance(first, Quote) else first[0]).ts == DEMO_START_NS


def test_the_shipped_demo_book_is_live_on_the_sample_sessions_day() -> None:
    assert settings.load_portfolio(DEMO_BOOK, now_ns=DEMO_START_NS).books
