"""The page's assets ship as package data, are read with importlib.resources, and fetch nothing
from the network."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

from monitor.web import routes

PAGES = ("index.html", "login.html")
SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # an identifier, never fetched


def test_every_asset_is_package_data_declared_in_pyproject(project_root: Path) -> None:
    globs = tomllib.loads((project_root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["monitor"]  # fmt: skip
    folder = resources.files("monitor.web") / "static"
    names = {p.name for p in folder.iterdir() if p.is_file()}
    assert names >= {*routes.STATIC, *PAGES}
    for name in names:
        assert any(fnmatch(f"web/static/{name}", g) for g in globs), name


def test_no_asset_refers_to_another_host() -> None:
    for name in (*routes.STATIC, *PAGES):
        text = routes.asset(name).decode().replace(SVG_NAMESPACE, "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name


def test_the_pages_load_only_their_own_script_and_style() -> None:
    for name in PAGES:
        html = routes.asset(name).decode()
        assert "<script>" not in html  # the CSP allows no inline script
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert ref.startswith("/static/") or ref == "data:,", (name, ref)
