"""A demo daemon behind a token, and headless Chromium (Debian's package) driven by Playwright.

The daemon replays the shipped sample session as fast as it can, then sits on its last market
(market time: every number stays put), so the page and the API can be compared exactly. Its
portfolio is the demo's with the layers bought dearer, so no layer reaches a gain threshold
unless a test injects a quote.

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``) and the ``playwright`` Python
package from the test lock (the driver only: never ``playwright install``). A missing chromium is
installed from Debian's package (``tests.deploy.tools.ensure_tool``); if it cannot be, the tests
fail with the reason: a browser check that silently does not run does not exist.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.tools import ensure_tool

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE = ROOT / "config" / "sample-session.jsonl.gz"
CHROMIUM_OVERRIDE = os.environ.get("VIXMON_CHROMIUM")
ARTIFACTS = Path(os.environ.get("VIXMON_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))
TOKEN = "page-test-token-0123456789"
LAYER_ENTRY = 5.0
"""Entry price of every demo layer here: far above anything the sample session quotes them at."""
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
WHAT_TO_INSTALL = (
    "the risk page's browser tests need Debian's chromium (apt-get install -y chromium) and the "
    "playwright Python package in the test lock (the driver only; never `playwright install`)"
)


def _chromium() -> Path:
    if CHROMIUM_OVERRIDE:
        return Path(CHROMIUM_OVERRIDE)
    return ensure_tool("chromium", "chromium")


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"playwright is not installed: {WHAT_TO_INSTALL}", pytrace=False)
    return sync_playwright


class Daemon:
    """``vixmon run`` in a subprocess; its JSON log lines are read by a thread as they come."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        self._done = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            text = raw.decode(errors="replace").rstrip()
            with self._cond:
                self.raw.append(text)
                try:
                    self.lines.append(json.loads(text))
                except ValueError:
                    pass
                self._cond.notify_all()
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def wait_log(self, pred: Callable[[dict[str, Any]], bool], timeout_s: float) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((line for line in self.lines if pred(line)), None)

        with self._cond:
            self._cond.wait_for(lambda: found() is not None or self._done, timeout_s)
            line = found()
        if line is None:
            tail = "\n".join(self.raw[-30:])
            raise AssertionError(f"log line not seen in {timeout_s}s; last lines:\n{tail}")
        return line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for line in self.lines:  # a killed daemon leaves its embedded Redis behind
            if line.get("event") == "embedded_redis_started" and line.get("pid"):
                try:
                    os.kill(int(line["pid"]), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def _portfolio(directory: Path) -> Path:
    text = (ROOT / "config" / "portfolio.toml").read_text()
    for old in ("entry_price = 0.90 }", "entry_price = 0.85 }", "entry_price = 0.65 }"):
        assert old in text, f"the demo portfolio changed: {old!r} not found"
        text = text.replace(old, f"entry_price = {LAYER_ENTRY:.2f} }}")
    path = directory / "portfolio.toml"
    path.write_text(text)
    return path


def _config(directory: Path) -> Path:
    cfg = directory / "vixmon.toml"
    cfg.write_text(
        f'portfolio = "{_portfolio(directory)}"\n'
        f'[redis]\nurl = ""\nstate_dir = "{directory / "state"}"\n'
        '[engine]\ntime_source = "market"\ncadence_ms = 100\n'
        '[http]\nport = 0\ntoken = { env = "VIXMON_PAGE_TOKEN" }\nprotect = "api"\n'
        "[logging]\njson = true\n"
        f'[rules.calendar]\npath = "{ROOT / "config" / "events.toml"}"\n'
        f'[[feeds]]\nkind = "replay"\nname = "replay"\npath = "{SAMPLE}"\nspeed = 0\n'
        "restamp = false\n"  # recorded times: the demo book is live on them whatever the date
        '[[sinks]]\nkind = "log"\nname = "log"\n'
    )
    return cfg


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    # module scope: while Playwright's sync API runs, its event loop is the main thread's
    # running loop, and pytest-asyncio cannot start one for the async tests that follow
    sync_playwright = _playwright()
    executable = _chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page_daemon(tmp_path_factory: pytest.TempPathFactory, chromium: Any) -> Iterator[Daemon]:
    """The demo replayed to its end behind a token; its page's address in ``.url``."""
    directory = tmp_path_factory.mktemp("page-daemon")
    env = {**os.environ, "VIXMON_PAGE_TOKEN": TOKEN}
    daemon = Daemon(_config(directory), env)
    try:
        line = daemon.wait_log(lambda x: x.get("event") == "risk_page", 240)
        daemon.url = str(line["url"]).rstrip("/")  # type: ignore[attr-defined]
        daemon.wait_log(lambda x: x.get("event") == "replay_finished", 120)
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
