"""Config errors name the TOML path of every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import settings
from monitor.cli import main
from tests.support.clocked import layer_leg, live_book

PORTFOLIO = live_book()
"""A condor ~45 days out and a VIX call layer on the next monthly expiry, live whenever the
tests run (the checks run on the wall clock)."""
LAYER_LEG = layer_leg()


def write(tmp_path: Path, config: str, portfolio: str = PORTFOLIO) -> Path:
    (tmp_path / "portfolio.toml").write_text(portfolio)
    path = tmp_path / "vixmon.toml"
    path.write_text('portfolio = "portfolio.toml"\n' + config)
    return path


def errors(path: Path) -> list[str]:
    with pytest.raises(settings.ConfigError) as info:
        settings.load(path)
    return [e.split(": ", 1)[1] for e in info.value.errors]


def test_the_shipped_demo_config_is_valid() -> None:
    loaded = settings.load()
    assert loaded.portfolio.books[0].name == "main"


def test_a_wrong_type_names_its_toml_path(tmp_path: Path) -> None:
    path = write(tmp_path, '[[feeds]]\nkind = "replay"\npath = "x"\nspeed = "fast"\n')
    assert errors(path) == ["feeds[0].speed: Expected `float`, got `str`"]


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[engine]\ncadense_ms = 5\n")
    assert errors(path) == ["engine.cadense_ms: unknown key"]


def test_every_section_reports_its_own_mistake(tmp_path: Path) -> None:
    path = write(tmp_path, '[http]\nport = "x"\n[redis]\nblock_ms = "y"\n')
    assert sorted(errors(path)) == [
        "http.port: Expected `int`, got `str`",
        "redis.block_ms: Expected `int`, got `str`",
    ]


def test_an_unknown_feed_kind_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, '[[feeds]]\nkind = "bloomberg"\n')
    assert errors(path) == ["feeds[0].kind: Invalid value 'bloomberg'"]


def test_semantic_checks_name_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, "[rules.layer_gain]\nthresholds = [2.0, 1.5]\n")
    assert "rules.layer_gain.thresholds: must be a non-empty ascending list" in errors(path)


def test_portfolio_mistakes_name_the_leg(tmp_path: Path) -> None:
    typo = LAYER_LEG.replace("C", "X")
    path = write(tmp_path, "", PORTFOLIO.replace(LAYER_LEG, typo))
    [error] = errors(path)
    assert error.startswith(
        f"books[0].layers[0].legs[0].symbol: unknown symbol form '{typo}'; expected ")


def test_a_condor_needs_four_legs(tmp_path: Path) -> None:
    lines = PORTFOLIO.splitlines()
    three = "\n".join(line for line in lines if "06350000" not in line)
    assert errors(write(tmp_path, "", three)) == [
        "books[0].condors[0].legs: an iron condor has exactly 4 legs"
    ]


def test_check_config_exits_2_and_prints_each_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[http]\nport = "x"\n')
    with pytest.raises(SystemExit) as info:
        main(["check-config", str(path)])
    assert info.value.code == 2
    assert "http.port: Expected `int`, got `str`" in capsys.readouterr().err


def test_check_config_accepts_a_good_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(write(tmp_path, ""))]) == 0
    assert capsys.readouterr().out.startswith("ok:")
