"""The shipped demo tells the method's story: calm, the spike, the layer pop with its roll plan.

The sample session (scripts/make_sample_session.py) is replayed offline through the demo config
(`vixmon replay`'s code path), and its dates are checked against the project's calendar.
"""

from __future__ import annotations

import datetime as dt
import gzip
from typing import Any

import msgspec
import pytest

from monitor import replay_report, settings, symbols
from monitor.model import Quote
from monitor.pricing import calendar
from monitor.pricing.expiry import NEW_YORK

SAMPLE = settings.DATA_DIR / "sample-session.jsonl.gz"


@pytest.fixture(scope="module")
def alerts() -> list[dict[str, Any]]:
    report = replay_report.run(SAMPLE, settings.load())
    return [a for a in report["alerts"] if a["status"] == "firing"]


@pytest.fixture(scope="module")
def quotes() -> list[Quote]:
    dec = msgspec.json.Decoder(list[Quote])
    with gzip.open(SAMPLE, "rb") as fh:
        return [q for line in fh for q in dec.decode(line)]


def _et(a: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(a["time_et"])


def test_the_first_alert_is_the_short_dated_layer_crossing_its_first_threshold(
    alerts: list[dict[str, Any]],
) -> None:
    first = alerts[0]
    assert (first["rule"], first["subject"], first["severity"]) == (
        "layer_gain",
        "L1-DEC@1.5",
        "warning",
    )
    assert first["action"].startswith("Harvest L1-DEC")
    assert first["advisory"]["candidates"][0]["in_band"] is True


def test_nothing_fires_during_the_calm_stretch(alerts: list[dict[str, Any]]) -> None:
    assert _et(alerts[0]).time() >= dt.time(9, 42)


def test_150_and_200_percent_fire_minutes_apart_as_the_spike_builds(
    alerts: list[dict[str, Any]],
) -> None:
    gains = {a["subject"]: a for a in alerts if a["rule"] == "layer_gain"}
    first, second = gains["L1-DEC@1.5"], gains["L1-DEC@2"]
    assert dt.timedelta(minutes=2) <= _et(second) - _et(first) <= dt.timedelta(minutes=10)
    assert 1.5 <= first["values"]["gain_ratio"] < 2.0 <= second["values"]["gain_ratio"]
    assert set(gains) == {"L1-DEC@1.5", "L1-DEC@2"}, "only the short-dated layer pops"


def test_every_expiry_in_the_sample_is_one_the_calendar_lists(quotes: list[Quote]) -> None:
    expiries: dict[str, set[dt.date]] = {}
    for sym in {q.sym for q in quotes}:
        inst = symbols.parse(sym)
        if inst.expiry is not None:
            expiries.setdefault(inst.root, set()).add(inst.expiry)
    vix = expiries.pop("VX") | expiries.pop("VIX")
    assert vix == {calendar.vix_monthly_expiry(d.year, d.month) for d in vix}
    assert dt.date(2027, 5, 18) in vix  # Juneteenth observed on Friday 2027-06-18
    assert all(calendar.is_business_day(d) for days in expiries.values() for d in days)


def test_the_session_is_a_regular_trading_morning(quotes: list[Quote]) -> None:
    times = [dt.datetime.fromtimestamp(q.ts / 1e9, NEW_YORK) for q in (quotes[0], quotes[-1])]
    assert calendar.is_business_day(times[0].date()) and times[0].date() == times[1].date()
    assert dt.time(9, 30) <= times[0].time() < times[1].time() <= dt.time(16, 0)


def test_every_portfolio_leg_is_quoted_in_the_sample(quotes: list[Quote]) -> None:
    portfolio = settings.load().portfolio
    legs = {leg.symbol for b in portfolio.books for c in b.condors for leg in c.legs}
    legs |= {leg.symbol for b in portfolio.books for y in b.layers for leg in y.legs}
    assert legs <= {q.sym for q in quotes}
