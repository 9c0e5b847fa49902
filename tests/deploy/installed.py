"""vixmon as a user installs it: a wheel built from the tree, installed into a fresh virtualenv.

The wheel is built from exactly what the Dockerfile copies (pyproject.toml, README.md, monitor/,
adapters/), in a copy of them, so nothing else in the checkout can leak into it. Its
dependencies are not downloaded again: a ``.pth`` line puts .venv's site-packages (installed from
requirements-test.lock, whose pins equal requirements.lock's) after the new venv's own. A
``.pth`` *line* only extends ``sys.path``; the ``.pth`` files inside that folder, among them the
editable install's import hook, are not run, so ``monitor`` resolves to the wheel's copy alone.

Compiling the numba kernels for a new install takes about a minute on 2 cores, and numba keys its
cache by the source files' paths and mtimes. The venv therefore lives under a folder named by a
digest of the wheel's inputs and is reused while they are unchanged: the first session after a
change of the sources pays one compile, later sessions none.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.daemon import ROOT

WHEEL_INPUTS = ("pyproject.toml", "README.md", "monitor", "adapters")
# what a daemon may inherit from the test's environment: nothing that points into the checkout
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
CACHE_ROOT = Path(tempfile.gettempdir()) / "vixmon-installed-wheels"
STALE_AFTER_S = 2 * 86400


@dataclass(frozen=True)
class Installed:
    """A non-editable install: ``venv`` holds the wheel, ``numba_cache`` its compiled kernels."""

    venv: Path
    wheel: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def vixmon(self) -> Path:
        return self.venv / "bin" / "vixmon"

    @property
    def numba_cache(self) -> Path:
        return self.venv.parent / "numba-cache"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a user's shell would give: no PYTHONPATH, no VIXMON_* overrides."""
        base = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        return {**base, "NUMBA_CACHE_DIR": str(self.numba_cache), **extra}

    def run(self, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.vixmon), *args], cwd=cwd, env=self.env(**env),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".egg-info"))}


def _copy_inputs(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in WHEEL_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=_ignore)
        else:
            shutil.copy2(source, dest / name)
    return dest


def _digest(tree: Path, deps: Path) -> str:
    h = hashlib.sha256(str(deps).encode())
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _check(argv: list[str | Path], what: str, **kwargs: object) -> str:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=900, check=False,
        **kwargs,  # type: ignore[call-overload]
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return str(done.stdout)


def _prune(keep: Path) -> None:
    """Drop installs of older sources (a cache, not state: anything here can be rebuilt)."""
    for old in CACHE_ROOT.iterdir():
        if old.is_dir() and old != keep and time.time() - old.stat().st_mtime > STALE_AFTER_S:
            shutil.rmtree(old, ignore_errors=True)
            old.with_suffix(".lock").unlink(missing_ok=True)


def _install(home: Path, src: Path, deps: Path) -> Installed:
    dist = home / "dist"
    _check(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "-w", dist, src],
        "pip wheel", cwd=home,
    )  # fmt: skip
    [wheel] = dist.glob("vixmon-*.whl")
    venv = home / "venv"
    _check([sys.executable, "-m", "venv", "--without-pip", venv], "python -m venv")
    installed = Installed(venv=venv, wheel=wheel)
    purelib = _check(
        [installed.python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        "venv purelib",
    ).strip()
    (Path(purelib) / "vixmon-test-deps.pth").write_text(f"{deps}\n")
    _check(
        [sys.executable, "-m", "pip", "--python", installed.python, "install", "--no-deps",
         "--no-index", "--quiet", wheel],
        "pip install the wheel",
    )  # fmt: skip
    # compile (or load) the kernels once, outside any daemon's start-up timeout
    warm = "from monitor.pricing import black; black.warm_up(); print(black.backend())"
    backend = _check([installed.python, "-c", warm], "warm-up", cwd=home, env=installed.env())
    assert backend.strip() == "numba", backend
    return installed


def installed_wheel() -> Installed:
    """Return the install for the current sources, building it if there is none yet."""
    deps = Path(sysconfig.get_path("purelib"))  # .venv's: the locked dependencies
    staging = Path(tempfile.mkdtemp(prefix="vixmon-wheel-src-"))
    try:
        src = _copy_inputs(staging / "src")
        home = CACHE_ROOT / _digest(src, deps)
        done = home / "complete"
        CACHE_ROOT.mkdir(parents=True, exist_ok=True)
        # two sessions at once (a full run beside a focused one) build one install, not two
        with (CACHE_ROOT / f"{home.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                shutil.rmtree(home, ignore_errors=True)
                home.mkdir(parents=True)
                _install(home, src, deps)
                done.touch()
        os.utime(home)  # in use: not stale
        _prune(home)
        [wheel] = (home / "dist").glob("vixmon-*.whl")
        return Installed(venv=home / "venv", wheel=wheel)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
