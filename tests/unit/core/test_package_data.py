"""The defaults vixmon reads at run time are package data, found through importlib.resources."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from importlib import metadata, resources
from pathlib import Path

import pytest

from monitor import cli, settings
from tests.support.clocked import DEMO_START_NS

PACKAGED = ("events.toml", "vixmon.toml", "portfolio.toml", "sample-session.jsonl.gz")


def test_the_defaults_are_the_packages_data_files() -> None:
    data = resources.files("monitor") / "data"
    assert settings.DATA_DIR == data
    assert settings.DEFAULT_CONFIG == data / "vixmon.toml"
    assert settings.DEFAULT_EVENTS == data / "events.toml"
    assert {p.name for p in settings.DATA_DIR.iterdir() if p.is_file()} >= set(PACKAGED)


def test_every_file_beside_the_code_is_declared_as_package_data(project_root: Path) -> None:
    """A file under monitor/ or adapters/ that is not Python ships only if declared: an
    editable install reads it from the tree and hides the omission (a wheel does not)."""
    pyproject = tomllib.loads((project_root / "pyproject.toml").read_text())
    declared: dict[str, list[str]] = pyproject["tool"]["setuptools"]["package-data"]
    missing = []
    for top in ("monitor", "adapters"):
        for path in (project_root / top).rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            parts = path.relative_to(project_root).parts
            covered = any(
                fnmatch("/".join(parts[i:]), glob)
                for i in range(1, len(parts))
                for glob in declared.get(".".join(parts[:i]), [])
            )
            if not covered:
                missing.append("/".join(parts))
    assert missing == [], "add to [tool.setuptools.package-data] in pyproject.toml"


@pytest.mark.parametrize("name", PACKAGED)
def test_the_config_examples_are_the_packaged_files(project_root: Path, name: str) -> None:
    """config/ holds links into monitor/data: one copy, so the examples cannot drift."""
    example = project_root / "config" / name
    assert example.read_bytes() == (settings.DATA_DIR / name).read_bytes(), (
        f"config/{name} differs from monitor/data/{name}: config/ must link to the packaged file"
    )


def test_the_builtin_demo_resolves_its_portfolio_and_calendar_inside_the_package() -> None:
    loaded = settings.load()
    assert loaded.config_path == settings.DEFAULT_CONFIG.resolve()
    assert loaded.portfolio_path.parent == settings.DATA_DIR.resolve()


@pytest.fixture
def cwd(tmp_path: Path) -> Iterator[Path]:
    before = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def test_the_builtin_demo_keeps_its_state_under_the_working_directory(cwd: Path) -> None:
    loaded = settings.load()
    assert loaded.state_dir == cwd / loaded.settings.redis.state_dir


def test_a_users_config_keeps_its_state_beside_itself(cwd: Path, project_root: Path) -> None:
    config = cwd / "etc" / "vixmon.toml"
    config.parent.mkdir()
    portfolio = project_root / "config" / "portfolio.toml"
    config.write_text(f'portfolio = "{portfolio}"\n[redis]\nstate_dir = "state"\n')
    # the demo book on the demo's day: its contracts are checked on the (wall) clock's date
    loaded = settings.load(config, now_ns=DEMO_START_NS)
    assert loaded.state_dir == config.parent.resolve() / "state"


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"vixmon {metadata.version('vixmon')}"
