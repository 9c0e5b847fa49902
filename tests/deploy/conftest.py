"""Fixtures for the deployment tests: the external checkers and one live demo run per session.

The live demo is ``vixmon run`` on the shipped sample session (the README's demo, sped up), with a
log sink and a signed webhook sink delivering to an in-process receiver. It runs in a thread with
its own event loop, so that every module can scrape it; the first scrape is taken once a
layer-gain alert has been delivered, when every family the demo can produce has samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.exposition import Exposition
from tests.deploy.installed import Installed, installed_wheel
from tests.deploy.tools import ensure_tool
from tests.support.clocked import DEMO_START
from tests.support.daemon import ROOT, Daemon, Receiver, get_text, run_daemon

DEPLOY = ROOT / "deploy"
SAMPLE = ROOT / "config" / "sample-session.jsonl.gz"
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtZGVwbG95LXRlc3Rz"
DEMO_TIMEOUT_S = 90


@pytest.fixture(scope="session")
def promtool() -> Path:
    return ensure_tool("promtool", "prometheus")


@pytest.fixture(scope="session")
def amtool() -> Path:
    return ensure_tool("amtool", "prometheus-alertmanager")


@pytest.fixture(scope="session")
def systemd_analyze() -> Path:
    return ensure_tool("systemd-analyze", "systemd")


@pytest.fixture(scope="session")
def docker_compose() -> Path:
    return ensure_tool("docker-compose", "docker-compose")


@pytest.fixture(scope="session")
def installed() -> Installed:
    """vixmon's wheel installed non-editable in a fresh venv (see tests/deploy/installed.py)."""
    return installed_wheel()


@contextlib.asynccontextmanager
async def vixmon_daemon(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Daemon]:
    """``run_daemon``, plus: a daemon killed by a failing test leaves no embedded Redis behind."""
    async with run_daemon(config, *args, env=env) as running:
        try:
            yield running
        finally:
            await running.kill()
            for line in running.lines:
                if line.get("event") == "embedded_redis_started":
                    end_redis(int(line["pid"]))


def end_redis(pid: int) -> None:
    """Stop a redis-server whose daemon did not (SIGKILL: its data directory may be gone)."""
    with contextlib.suppress(ProcessLookupError, FileNotFoundError):
        if b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)


def write_config(
    directory: Path,
    *,
    feeds: str,
    sinks: str = '[[sinks]]\nkind = "log"\nname = "log"\n',
    redis_url: str = "",
    portfolio: Path = ROOT / "config" / "portfolio.toml",
    port: int = 0,
    tables: str = "",
) -> Path:
    """Write a test config (Redis state in ``directory``, port 0: any free one); return its path.

    ``tables`` are extra TOML tables (``[shutdown]\n...``), appended as they are.
    """
    directory.mkdir(parents=True, exist_ok=True)
    cfg = directory / "vixmon.toml"
    cfg.write_text(
        f'portfolio = "{portfolio}"\n'
        f'[redis]\nurl = "{redis_url}"\nstate_dir = "{directory / "state"}"\n'
        '[engine]\ntime_source = "market"\ncadence_ms = 100\n'
        f"[http]\nport = {port}\n[logging]\njson = true\n"
        f'[rules.calendar]\npath = "{ROOT / "config" / "events.toml"}"\n'
        f"{tables}\n{feeds}\n{sinks}"
    )
    return cfg


def replay_feed(speed: float = 120.0, name: str = "replay") -> str:
    if not SAMPLE.is_file():
        pytest.fail(f"the demo session {SAMPLE} is missing (make sample)", pytrace=False)
    # the recording's own times (market time): the demo book is live on them whatever the date
    return (f'[[feeds]]\nkind = "replay"\nname = "{name}"\npath = "{SAMPLE}"\nspeed = {speed}\n'
            "restamp = false\n")


def simulator_feed(name: str = "sim") -> str:
    """A simulator on the demo book's day (market time): the book is live whatever the date."""
    return (f'[[feeds]]\nkind = "simulator"\nname = "{name}"\ntick_interval_ms = 100\n'
            f"start = {DEMO_START}\n")


def is_layer_gain_firing(line: dict[str, Any]) -> bool:
    """The demo's headline: a hedge layer crossed its harvest threshold (needs quotes to flow)."""
    key = str(line.get("key", ""))
    return (
        line.get("event") == "alert"
        and key.startswith("layer_gain|")
        and line.get("status") == "firing"
    )


@dataclass
class LiveDemo:
    """A running demo daemon: its port and the scrape taken once an alert was delivered."""

    config: Path
    port: int = 0
    scrape: Exposition = field(default_factory=lambda: Exposition(""))
    lines: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None
    error: BaseException | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _main(self) -> None:
        receiver = Receiver()
        await receiver.start()
        env = {"DEPLOY_WEBHOOK_URL": receiver.url, "DEPLOY_WEBHOOK_SECRET": WEBHOOK_SECRET}
        try:
            async with vixmon_daemon(self.config, env=env) as running:
                self.lines = running.lines
                self.port = await running.http_port()
                await receiver.wait_for(lambda body: bool(body.get("events")), DEMO_TIMEOUT_S)
                await running.wait_log(is_layer_gain_firing, DEMO_TIMEOUT_S)
                self.scrape = Exposition(await get_text(f"{self.url}/metrics"))
                self._ready.set()
                await asyncio.to_thread(self._stop.wait)
                try:
                    self.exit_code = await running.stop()
                except TimeoutError:
                    tail = "\n".join(running.raw[-20:])
                    raise AssertionError(f"the demo did not stop on SIGTERM:\n{tail}") from None
        finally:
            await receiver.stop()

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            errors = [line for line in self.lines if line.get("level") in ("error", "critical")]
            self.error = AssertionError(f"the demo run failed: {exc!r}; its errors: {errors}")
        finally:
            self._ready.set()


@pytest.fixture(scope="session")
def live_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    """Yield the shared demo run; stop it (SIGTERM, expecting exit 0) at the end of the session."""
    sinks = (
        '[[sinks]]\nkind = "log"\nname = "log"\n'
        '[[sinks]]\nkind = "webhook"\nname = "hook"\nurl = { env = "DEPLOY_WEBHOOK_URL" }\n'
        'signing_secrets = [{ env = "DEPLOY_WEBHOOK_SECRET" }]\n'
    )
    cfg = write_config(tmp_path_factory.mktemp("demo"), feeds=replay_feed(), sinks=sinks)
    demo = LiveDemo(cfg)
    thread = threading.Thread(target=demo.run, name="live-demo", daemon=True)
    thread.start()
    demo._ready.wait(timeout=3 * DEMO_TIMEOUT_S)
    if demo.error is not None:
        raise demo.error
    assert demo.port, "the demo daemon did not come up"
    yield demo
    demo._stop.set()
    thread.join(timeout=60)
    assert demo.error is None, demo.error
    assert demo.exit_code == 0
