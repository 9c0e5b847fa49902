"""``check-config`` refuses a hand-typed portfolio no broker account could hold."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from monitor import settings
from monitor.cli import main
from monitor.pricing.expiry import NEW_YORK

CONDOR = """\
[[books]]
name = "main"
[[books.condors]]
name = "IC"
legs = [
  { symbol = "SPXW270115P05500000", quantity = 1, entry_price = 9.8 },
  { symbol = "SPXW270115P05600000", quantity = -1, entry_price = 14.2 },
  { symbol = "SPXW270115C06250000", quantity = -1, entry_price = 17.6 },
  { symbol = "SPXW270115C06350000", quantity = 1, entry_price = 7.4 },
]
[[books.layers]]
name = "L1"
legs = [{ symbol = "VIX270120C00025000", quantity = 4, entry_price = 0.85 }]
"""
# 2027-01-04 10:00 New York: every contract above is live
NOW_NS = int(dt.datetime(2027, 1, 4, 10, tzinfo=NEW_YORK).timestamp()) * 1_000_000_000


def errors(tmp_path: Path, portfolio: str, now_ns: int = NOW_NS) -> list[str]:
    (tmp_path / "portfolio.toml").write_text(portfolio)
    path = tmp_path / "vixmon.toml"
    path.write_text('portfolio = "portfolio.toml"\n')
    with pytest.raises(settings.ConfigError) as info:
        settings.load(path, now_ns=now_ns)
    return [e.split(": ", 1)[1] for e in info.value.errors]


def test_the_valid_portfolio_loads(tmp_path: Path) -> None:
    (tmp_path / "portfolio.toml").write_text(CONDOR)
    (tmp_path / "vixmon.toml").write_text('portfolio = "portfolio.toml"\n')
    loaded = settings.load(tmp_path / "vixmon.toml", now_ns=NOW_NS)
    assert [c.name for c in loaded.portfolio.books[0].condors] == ["IC"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param("VIX270120C", "VIX270121C",
                     "books[0].layers[0].legs[0].symbol: 2027-01-21 is no VIX expiry",
                     id="VIX on a date that is no VIX expiry"),
        pytest.param("VIX270120C", "VIXW270122C",
                     "books[0].layers[0].legs[0].symbol: 2027-01-22 is no VIXW expiry",
                     id="VIXW on a Friday"),
        pytest.param("SPXW270115P05500000", "SPXW270115P00005500",
                     "books[0].condors[0].legs[0].symbol: strike 5.5 of 'SPXW270115P00005500' "
                     "looks like it is missing its x1000 (did you mean 'SPXW270115P05500000'?)",
                     id="strike without its x1000"),
        pytest.param("SPXW270115P05500000", "SPXW270115P5500",
                     "books[0].condors[0].legs[0].symbol: unknown symbol form "
                     "'SPXW270115P5500'; expected ROOT + YYMMDD + C|P + strike x 1000",
                     id="short strike form shows the expected one"),
        pytest.param('"SPXW270115P05600000", quantity = -1', '"SPXW270115P05600000", quantity = 1',
                     "books[0].condors[0].legs: not an iron condor",
                     id="wrong sign"),
        pytest.param("SPXW270115C06350000", "SPXW270115P06350000",
                     "books[0].condors[0].legs: not an iron condor",
                     id="a put where the long call should be"),
        pytest.param("SPXW270115C06350000", "SPXW270122C06350000",
                     "books[0].condors[0].legs: an iron condor's legs are on one root and expiry",
                     id="legs on two expiries"),
        pytest.param('"SPXW270115C06350000", quantity = 1', '"SPXW270115C06350000", quantity = 2',
                     "books[0].condors[0].legs: an iron condor's legs have one size",
                     id="mismatched sizes"),
        pytest.param('name = "L1"', 'name = "IC"',
                     "books[0].layers[0].name: duplicate structure name 'IC'",
                     id="duplicate structure names"),
        pytest.param("VIX270120C00025000", "VIX270120P00025000",
                     "books[0].layers[0].legs[0].symbol: a hedge layer holds VIX calls",
                     id="a VIX put in a layer"),
        pytest.param("entry_price = 0.85", "entry_price = -0.85",
                     "books[0].layers[0].legs[0].entry_price: must be >= 0",
                     id="negative entry price"),
    ],
)
def test_portfolio_mistake_is_named_by_its_toml_path(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in CONDOR
    got = errors(tmp_path, CONDOR.replace(old, new))
    assert any(e.startswith(expected) for e in got), got


def test_an_expired_contract_is_refused_at_the_check_clock(tmp_path: Path) -> None:
    after_vix_expiry = int(dt.datetime(2027, 1, 20, 10, tzinfo=NEW_YORK).timestamp()) * 10**9
    got = errors(tmp_path, CONDOR, now_ns=after_vix_expiry)
    assert [e for e in got if "expired" in e] == [
        "books[0].condors[0].legs[0].symbol: 'SPXW270115P05500000' expired (settled 2027-01-15):"
        " remove it",
        "books[0].condors[0].legs[1].symbol: 'SPXW270115P05600000' expired (settled 2027-01-15):"
        " remove it",
        "books[0].condors[0].legs[2].symbol: 'SPXW270115C06250000' expired (settled 2027-01-15):"
        " remove it",
        "books[0].condors[0].legs[3].symbol: 'SPXW270115C06350000' expired (settled 2027-01-15):"
        " remove it",
        "books[0].layers[0].legs[0].symbol: 'VIX270120C00025000' expired (settled 2027-01-20):"
        " remove it",
    ]


def test_a_replay_on_market_time_checks_expiry_on_its_own_clock(tmp_path: Path) -> None:
    (tmp_path / "portfolio.toml").write_text(CONDOR)
    (tmp_path / "session.jsonl").write_text("")
    (tmp_path / "vixmon.toml").write_text(
        'portfolio = "portfolio.toml"\n[engine]\ntime_source = "market"\n'
        '[[feeds]]\nkind = "replay"\npath = "session.jsonl"\n')
    far_future = NOW_NS + 400 * 86_400 * 10**9
    assert settings.load(tmp_path / "vixmon.toml", now_ns=far_future).portfolio.books


def test_check_config_exits_2_on_a_bad_portfolio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "portfolio.toml").write_text(CONDOR.replace("entry_price = 0.85",
                                                            "entry_price = -1.0"))
    (tmp_path / "vixmon.toml").write_text('portfolio = "portfolio.toml"\n')
    with pytest.raises(SystemExit) as info:
        main(["check-config", str(tmp_path / "vixmon.toml")])
    assert info.value.code == 2
    assert "books[0].layers[0].legs[0].entry_price: must be >= 0" in capsys.readouterr().err
