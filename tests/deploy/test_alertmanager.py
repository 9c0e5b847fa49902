"""deploy/alertmanager: severity routing to real receivers, inhibition, and feed alerts muted
when the market is closed (NYSE holidays from the project's calendar)."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from monitor.pricing import calendar
from tests.deploy.conftest import DEPLOY

ALERTMANAGER = DEPLOY / "alertmanager"
CONFIG = ALERTMANAGER / "alertmanager.yml"
GENERATOR = ALERTMANAGER / "generate_holidays.py"
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = [dt.date(2000, m, 1).strftime("%B").lower() for m in range(1, 13)]


def config() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return doc


def route_for(amtool: Path, *labels: str) -> str:
    done = subprocess.run(
        [str(amtool), "config", "routes", "test", f"--config.file={CONFIG}", *labels],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=VixmonDown", "severity=critical"], "page"),
        (["alertname=VixmonDataLoss", "severity=critical"], "page"),
        (["alertname=VixmonConfigReloadFailed", "severity=warning"], "ticket"),
        (["alertname=VixmonFeedStale", "severity=warning"], "ticket"),
        (["alertname=VixmonFeedDown", "severity=critical"], "page"),
        (["alertname=VixmonSomethingNew", "severity=info"], "ticket"),
    ],
)
def test_critical_pages_and_warning_goes_to_the_ticket_channel(
    amtool: Path, labels: list[str], receiver: str
) -> None:
    assert route_for(amtool, *labels) == receiver


def test_every_rule_severity_reaches_a_receiver_with_an_integration() -> None:
    receivers = {r["name"]: r for r in config()["receivers"]}
    for name, receiver in receivers.items():
        integrations = [k for k in receiver if k.endswith("_configs") and receiver[k]]
        assert integrations, f"receiver {name} has nothing behind it"
    rules = yaml.safe_load((DEPLOY / "prometheus/rules/vixmon.yml").read_text())
    severities = {r["labels"]["severity"] for g in rules["groups"] for r in g["rules"]}
    assert severities <= {"critical", "warning", "info"}


def test_secrets_are_read_from_files_never_written_in_the_config() -> None:
    text = CONFIG.read_text()
    assert "hooks.slack.com" not in text and "routing_key:" not in text
    [page] = [r for r in config()["receivers"] if r["name"] == "page"]
    assert page["pagerduty_configs"][0]["routing_key_file"].startswith("/etc/alertmanager/")


def test_a_critical_inhibits_the_warning_of_the_same_alert_and_book() -> None:
    rules = config()["inhibit_rules"]
    assert {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["alertname", "book"],
    } in rules
    assert "book" in config()["route"]["group_by"]


def _in_ranges(value: int, ranges: list[str], names: list[str] | None = None) -> bool:
    def number(token: str) -> int:
        return names.index(token) if names and token in names else int(token)

    for item in ranges:
        low, _, high = str(item).partition(":")
        if number(low) <= value <= number(high or low):
            return True
    return False


def _matches(entry: dict[str, Any], at: dt.datetime) -> bool:
    """Alertmanager's time_interval semantics for the fields our config uses."""
    local = at.astimezone(ZoneInfo(entry.get("location", "UTC")))
    minute = local.hour * 60 + local.minute
    checks = [
        ("weekdays", lambda v: _in_ranges(local.weekday(), v, WEEKDAYS)),
        ("months", lambda v: _in_ranges(local.month - 1, v, MONTHS)),
        ("days_of_month", lambda v: _in_ranges(local.day, v)),
        ("years", lambda v: _in_ranges(local.year, v)),
        (
            "times",
            lambda v: any(_minutes(t["start_time"]) <= minute < _minutes(t["end_time"]) for t in v),
        ),
    ]
    return all(check(entry[field]) for field, check in checks if field in entry)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def muted(alertname: str, severity: str, at: dt.datetime) -> bool:
    doc = config()
    intervals = {t["name"]: t["time_intervals"] for t in doc["time_intervals"]}
    route = next(
        r
        for r in doc["route"]["routes"]
        if _route_matches(r["matchers"], {"alertname": alertname, "severity": severity})
    )
    return any(
        _matches(entry, at)
        for name in route.get("mute_time_intervals", [])
        for entry in intervals[name]
    )


def _route_matches(matchers: list[str], labels: dict[str, str]) -> bool:
    for m in matchers:
        name, op, value = re.fullmatch(r'(\w+)(=~|=)"(.*)"', m).groups()  # type: ignore[union-attr]
        actual = labels.get(name, "")
        if (op == "=" and actual != value) or (op == "=~" and not re.fullmatch(value, actual)):
            return False
    return True


def et(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (et(2026, 12, 1, 10, 0), False),  # a Tuesday morning
        (et(2026, 12, 1, 16, 14), False),  # options trade until 16:15
        (et(2026, 12, 1, 9, 0), True),
        (et(2026, 12, 1, 16, 15), True),
        (et(2026, 12, 5, 12, 0), True),  # Saturday
        (et(2026, 11, 26, 11, 0), True),  # Thanksgiving
        (et(2026, 11, 27, 11, 0), False),  # the early-close Friday after it, morning
        (et(2026, 11, 27, 14, 0), True),  # ... and afternoon
        (et(2027, 6, 18, 12, 0), True),  # Juneteenth observed on the Friday
        (et(2027, 7, 5, 12, 0), True),  # Independence Day observed on the Monday
    ],
)
def test_feed_alerts_are_muted_when_the_market_is_closed(at: dt.datetime, expected: bool) -> None:
    assert muted("VixmonFeedStale", "warning", at) is expected
    assert muted("VixmonFeedDisconnected", "warning", at) is expected


def test_other_alerts_are_never_muted() -> None:
    saturday = et(2026, 12, 5, 12, 0)
    assert not muted("VixmonDown", "critical", saturday)
    assert not muted("VixmonConfigReloadFailed", "warning", saturday)


def test_every_nyse_holiday_the_file_covers_is_muted_all_day() -> None:
    sys.path.insert(0, str(ALERTMANAGER))
    import generate_holidays  # type: ignore[import-not-found]

    years = generate_holidays.covered_years(CONFIG.read_text())
    day = dt.date(years.start, 1, 1)
    while day.year <= years[-1]:
        noon = et(day.year, day.month, day.day, 12, 0)
        closed = calendar.is_holiday(day) or day.weekday() >= 5
        assert muted("VixmonFeedStale", "warning", noon) is closed, day
        day += dt.timedelta(days=1)


def test_the_holiday_block_is_current_and_covers_next_year() -> None:
    done = subprocess.run(
        [sys.executable, GENERATOR, "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
