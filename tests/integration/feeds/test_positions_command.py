"""``vixmon positions``: an account holding the demo's condor and three layers is recognized as
exactly the hand-typed demo book, and written out as a portfolio TOML that loads again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from monitor import settings
from monitor.model import Portfolio
from monitor.positions import command
from monitor.positions.export import portfolio_toml, table
from monitor.positions.recognize import structures
from tests.fakes.tastytrade_accounts import FakeTastytradeAccounts
from tests.support.clocked import DEMO_START_NS

ACCT = "5WT00001"
OVERLAY = """\
[names]
"SPXW 261231 5575/5675/6350/6450" = "IC-DEC31"
"VIX 261216" = "L1-DEC"
"VIX 270317" = "L2-MAR"
"VIX 270616" = "L3-JUN"
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeTastytradeAccounts]:
    server = FakeTastytradeAccounts(accounts=(ACCT,))
    await server.start()
    yield server
    await server.close()


def write_config(tmp_path: Path, fake: FakeTastytradeAccounts) -> Path:
    demo = settings.load().portfolio_path
    (tmp_path / "portfolio.toml").write_text(demo.read_text())
    (tmp_path / "overlay.toml").write_text(OVERLAY)
    (tmp_path / "vixmon.toml").write_text(f"""\
portfolio = "portfolio.toml"
[engine]
time_source = "market"
{fake.accounts_table(ACCT, streamer=False, extra='overlay = "overlay.toml"')}
""")
    return tmp_path / "vixmon.toml"


async def test_the_account_gives_the_same_book_as_the_hand_typed_demo(
    tmp_path: Path, fake: FakeTastytradeAccounts, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TT_CLIENT_SECRET", "secret-good")
    monkeypatch.setenv("TT_REFRESH_TOKEN", "refresh-good")
    demo = settings.load().portfolio.books[0]
    for structure in structures(demo):
        for leg in structure.legs:
            await fake.fill(ACCT, leg.symbol, leg.quantity, str(leg.entry_price))
    fake.cash[ACCT] = Decimal(str(demo.cash_usd))

    loaded = settings.load(write_config(tmp_path, fake), now_ns=DEMO_START_NS)  # the demo's day
    books, unplaced, errors = await command._account_books(loaded)
    assert (errors, unplaced) == ([], [])
    [book] = books
    assert book.condors == demo.condors
    assert [y.name for y in book.layers] == [y.name for y in demo.layers]
    for got, want in zip(book.layers, demo.layers, strict=True):
        assert [(g.symbol, g.quantity) for g in got.legs] == [(w.symbol, w.quantity)
                                                            for w in want.legs]
        assert [g.entry_price for g in got.legs] == pytest.approx([w.entry_price
                                                                   for w in want.legs])
    assert book.cash_usd == demo.cash_usd
    assert "IC-DEC31" in table(loaded.portfolio)

    written = tmp_path / "written.toml"
    written.write_text(portfolio_toml(Portfolio(books=books)))
    again = settings.load_portfolio(written)
    assert again.books[0].condors == demo.condors


def test_without_accounts_the_portfolio_is_printed_and_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out.toml"
    assert command.main(settings.load(), write=out) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split() == ["BOOK", "STRUCTURE", "KIND", "SYMBOL", "QTY",
                                               "ENTRY", "COST", "USD"]
    assert settings.load_portfolio(out) == settings.load().portfolio
