"""A config may name no portfolio file when ``[[accounts]]`` supply the books; a reload that
changes ``[[accounts]]`` says it needs a restart."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from monitor import reloading, settings
from monitor.cli import main
from monitor.model import Book, Portfolio

ACCOUNTS = """
[[accounts]]
kind = "tastytrade"
accounts = ["5WT00001"]
book = "{book}"
client_secret = {{ env = "TT_CLIENT_SECRET" }}
refresh_token = {{ env = "TT_REFRESH_TOKEN" }}
"""


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vixmon.toml"
    path.write_text(text)
    return path


def test_without_a_portfolio_file_the_books_are_the_accounts_and_start_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = config(tmp_path, ACCOUNTS.format(book="main") + ACCOUNTS.format(book="ira")
                  .replace("[[accounts]]", '[[accounts]]\nname = "second"'))
    loaded = settings.load(path, secrets=False)
    assert loaded.portfolio_path is None
    assert loaded.portfolio == Portfolio(books=[Book(name="main"), Book(name="ira")])
    env = {"TT_CLIENT_SECRET": "s", "TT_REFRESH_TOKEN": "r"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert main(["check-config", str(path)]) == 0
    assert "portfolio none: books from [[accounts]]" in capsys.readouterr().out


def test_with_neither_a_portfolio_nor_accounts_the_config_is_refused(tmp_path: Path) -> None:
    path = config(tmp_path, "[engine]\ncadence_ms = 100\n")
    with pytest.raises(settings.ConfigError) as err:
        settings.load(path, secrets=False)
    assert err.value.errors == [
        f"{path.resolve()}: portfolio: required unless [[accounts]] supply the books"]


def test_changing_the_accounts_on_reload_needs_a_restart(tmp_path: Path) -> None:
    old = settings.load(config(tmp_path, ACCOUNTS.format(book="main")), secrets=False).settings
    new = msgspec.structs.replace(
        old, accounts=[msgspec.structs.replace(old.accounts[0], book="ira")])
    assert reloading.restart_required(old, new) == ["accounts"]
    assert reloading.restart_required(old, old) == []
