"""requirements*.lock against pyproject.toml: every dependency pinned, hashed and satisfied.

requirements.lock is what the image and the systemd install use, requirements-test.lock what
`make run` and `make test` install into .venv; `make lock` writes both. A dependency added to
pyproject.toml without `make lock` fails here, and so does a lock edited by hand.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.daemon import ROOT

RUNTIME_LOCK = ROOT / "requirements.lock"
TEST_LOCK = ROOT / "requirements-test.lock"
LOCKED_EXTRAS = ("test", "dev")  # the extras requirements-test.lock resolves (see Makefile)
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>[^ ;\\]+)\s*(?:;(?P<marker>[^\\]+))?")


@dataclass(frozen=True)
class Pin:
    version: Version
    marker: Marker | None
    hashes: int


def read_lock(path: Path) -> dict[str, Pin]:
    """Parse a pip-compile/uv lock: ``name==version ; marker \\`` then ``--hash=`` lines."""
    pins: dict[str, Pin] = {}
    name = ""
    for line in path.read_text().splitlines():
        if m := _PIN.match(line):
            name = canonicalize_name(m["name"])
            marker = Marker(m["marker"].strip()) if m["marker"] else None
            assert name not in pins, f"{path.name}: {name} is pinned twice"
            pins[name] = Pin(Version(m["version"]), marker, 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            pin = pins[name]
            pins[name] = Pin(pin.version, pin.marker, pin.hashes + 1)
        elif line.strip() and not line.lstrip().startswith("#"):
            pytest.fail(f"{path.name}: unexpected line {line!r}", pytrace=False)
    return pins


def project() -> dict[str, list[str]]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"": doc["dependencies"], **doc["optional-dependencies"]}


def unsatisfied(requirements: list[str], pins: dict[str, Pin]) -> list[str]:
    problems = []
    for text in requirements:
        req = Requirement(text)
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{text}: not in the lock")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{text}: the lock pins {pin.version}")
    return problems


def test_the_runtime_lock_satisfies_every_dependency() -> None:
    assert unsatisfied(project()[""], read_lock(RUNTIME_LOCK)) == [], "run `make lock`"


def test_the_test_lock_satisfies_every_dependency_and_locked_extra() -> None:
    deps = project()
    wanted = deps[""] + [r for extra in LOCKED_EXTRAS for r in deps[extra]]
    assert unsatisfied(wanted, read_lock(TEST_LOCK)) == [], "run `make lock`"


def test_both_locks_pin_the_same_version_of_what_they_share() -> None:
    runtime, test = read_lock(RUNTIME_LOCK), read_lock(TEST_LOCK)
    differ = {n: (str(p.version), str(test[n].version)) for n, p in runtime.items()
              if n in test and test[n].version != p.version}  # fmt: skip
    assert differ == {}
    assert sorted(set(runtime) - set(test)) == []


def test_every_pin_carries_hashes() -> None:
    for lock in (RUNTIME_LOCK, TEST_LOCK):
        assert [n for n, p in read_lock(lock).items() if p.hashes == 0] == [], lock.name


def test_this_environment_runs_what_the_test_lock_pins() -> None:
    """.venv was installed from the lock (the Makefile's stamp): a stale venv shows here."""
    drift = {}
    for name, pin in read_lock(TEST_LOCK).items():
        if pin.marker is not None and not pin.marker.evaluate():
            continue
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            installed = None
        if installed != pin.version:
            drift[name] = (str(pin.version), str(installed))
    assert drift == {}, "re-run `make` (the lock changed) or `make lock` (pyproject changed)"
