"""Rule configuration: defaults, ranges, and errors that name the TOML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import settings
from tests.unit.core.test_settings import write


def errors(tmp_path: Path, config: str) -> list[str]:
    with pytest.raises(settings.ConfigError) as info:
        settings.load(write(tmp_path, config))
    return [e.split(": ", 1)[1] for e in info.value.errors]


def test_every_rule_section_has_defaults(tmp_path: Path) -> None:
    rules = settings.load(write(tmp_path, "")).settings.rules
    assert rules.roll.recycle_fraction == 0.5 and rules.breakeven.k_sigma == 1.0
    assert rules.stress.min_coverage == 1.5 and rules.momentum.rsi_period == 14


def test_the_standard_variant_recycles_between_40_and_60_percent(tmp_path: Path) -> None:
    msg = "rules.roll.recycle_fraction: must be between 0.4 and 0.6"
    assert msg in errors(tmp_path, "[rules.roll]\nrecycle_fraction = 0.7\n")


def test_the_conversion_variant_recycles_between_60_and_75_percent(tmp_path: Path) -> None:
    ok = settings.load(
        write(tmp_path, '[rules.roll]\nvariant = "conversion"\nrecycle_fraction = 0.7\n')
    )
    assert ok.settings.rules.roll.recycle_fraction == 0.7
    msg = "rules.roll.recycle_fraction: must be between 0.6 and 0.75"
    assert msg in errors(tmp_path, '[rules.roll]\nvariant = "conversion"\n')


def test_the_reverting_martingale_coefficient_may_only_tighten(tmp_path: Path) -> None:
    got = errors(tmp_path, "[rules.roll]\nmartingale_coefficient_reverting = 2.0\n")
    assert any(e.startswith("rules.roll.martingale_coefficient_reverting") for e in got)


def test_an_unknown_rule_key_is_named_by_its_path(tmp_path: Path) -> None:
    got = errors(tmp_path, "[rules.stress]\nmin_cover = 2\n")
    assert any("rules.stress" in e and "min_cover" in e for e in got)


def test_per_book_greek_limits_override_the_defaults(tmp_path: Path) -> None:
    cfg = settings.load(write(tmp_path, "[rules.greeks.books.main]\nvega_usd = 100.0\n"))
    greeks = cfg.settings.rules.greeks
    assert greeks.limits("main").vega_usd == 100.0 and greeks.limits("other").vega_usd == 5000.0


def test_a_missing_events_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(settings.ConfigError) as info:
        settings.load(write(tmp_path, '[rules.calendar]\npath = "nope.toml"\n'))
    assert any("nope.toml: cannot read" in e for e in info.value.errors)


def test_without_a_calendar_path_the_shipped_calendar_is_used(tmp_path: Path) -> None:
    assert len(settings.load(write(tmp_path, "")).events.events) > 40
