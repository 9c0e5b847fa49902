"""Real things to deliver to: a scriptable in-process HTTP receiver, events, a running service."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor.clock import FakeClock
from monitor.model import AlertEvent, AlertStatus, Severity
from monitor.secrets import SecretRef
from monitor.sinks.config import RetryConfig, WebhookSinkConfig
from monitor.sinks.delivery import DeliveryService
from tests.support.clocked import DEMO_SIMULATOR
from tests.support.daemon import ROOT

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
FAST_RETRY = RetryConfig(initial_delay_s=0.01, max_delay_s=0.05, jitter=0.0, max_age_s=3600)
"""Tiny real waits, for tests that run on real time."""

ServiceFactory = Callable[..., DeliveryService]


def webhook_daemon_config(tmp_path: Path, prefix: str, redis: str) -> Path:
    """Write a ``vixmon run`` config: the demo book on the demo's day (simulator), JSON logs, a
    signed webhook sink whose URL and secret come from ``{PREFIX}_WEBHOOK_URL`` / ``_SECRET``;
    ``redis`` is the ``[redis]`` line choosing the server (a ``url`` or an embedded state dir)."""
    env = prefix.upper()
    path = tmp_path / "vixmon.toml"
    path.write_text(
        f"""
portfolio = "{ROOT / "config" / "portfolio.toml"}"
[redis]
{redis}
key_prefix = "{prefix}"
[http]
port = 0
[logging]
json = true
{DEMO_SIMULATOR}
[[sinks]]
kind = "webhook"
name = "hook"
url = {{ env = "{env}_WEBHOOK_URL" }}
signing_secrets = [{{ env = "{env}_WEBHOOK_SECRET" }}]
retry = {{ initial_delay_s = 0.01, max_delay_s = 0.05 }}
"""
    )
    return path


def is_event(name: str) -> Callable[[dict[str, Any]], bool]:
    """Match a daemon's JSON log line by its event name."""
    return lambda line: line.get("event") == name

HANG = "hang"
"""A scripted answer: never respond (the client's timeout must fire)."""
ECHO = "echo"
"""A scripted answer: 500 with the request's path and query in the body (like many error pages)."""
GATED = "gated"
"""A scripted answer: 200, once the test sets ``receiver.gate``."""

Answer = int | tuple[int, dict[str, str], str] | str


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes
    status: int
    """What the receiver answered (0: it hung)."""
    arrived_ns: int = field(default_factory=time.time_ns)

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event_ids(self) -> list[str]:
        return [e["id"] for e in self.json()["events"]]


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that answers from a script, then with ``default``."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: list[Answer] = []
        self.default: Answer = 200
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        self._release = asyncio.Event()
        self.gate = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def accepted(self) -> list[Request]:
        return [r for r in self.requests if 200 <= r.status < 300]

    def accepted_event_ids(self) -> list[str]:
        return [i for r in self.accepted for i in r.event_ids]

    async def start(self) -> None:
        """Listen (again on the same port after a ``stop``)."""
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        app.router.add_post("/hook/{rest:.*}", self._handle)  # URLs with a token in the path
        self._release = asyncio.Event()
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening: connections are refused until ``start``."""
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_until(self, pred: Callable[[Receiver], bool], timeout_s: float = 10.0) -> None:
        """Wait until ``pred(self)`` holds; it is re-checked after every request."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: pred(self)), timeout_s)

    async def wait_accepted(self, n_events: int, timeout_s: float = 10.0) -> None:
        await self.wait_until(lambda r: len(r.accepted_event_ids()) >= n_events, timeout_s)

    async def wait_messages(self, n: int, timeout_s: float = 10.0) -> None:
        """Wait until ``n`` requests were accepted (any body shape, e.g. Slack's)."""
        await self.wait_until(lambda r: len(r.accepted) >= n, timeout_s)

    async def _handle(self, req: web.Request) -> web.StreamResponse:
        body = await req.read()
        answer = self.script.pop(0) if self.script else self.default
        status, headers, text = _answer(answer)
        if answer == ECHO:
            text = f"no route for {req.path_qs}"
        self.requests.append(Request(dict(req.headers), body, status))
        async with self._changed:
            self._changed.notify_all()
        if answer == HANG:
            await self._release.wait()
        elif answer == GATED:
            await self.gate.wait()
        return web.Response(status=status or 200, headers=headers, text=text)


def _answer(answer: Answer) -> tuple[int, dict[str, str], str]:
    if answer == HANG:
        return 0, {}, ""
    if answer == GATED:
        return 200, {}, "ok"
    if answer == ECHO:
        return 500, {}, ""
    if isinstance(answer, int):
        return answer, {}, "ok" if answer < 300 else f"error {answer}"
    assert isinstance(answer, tuple)
    return answer


class FakeSleep:
    """An injected sleep: records each wait and moves the fake clock instead of waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


_ids = itertools.count(1)


def event(
    *,
    clock: FakeClock | None = None,
    ts_ns: int | None = None,
    book: str = "main",
    rule: str = "layer_gain",
    subject: str = "layer-1",
    status: AlertStatus = "firing",
    severity: Severity = "warning",
    **extra: Any,
) -> AlertEvent:
    """Return an alert event with a fresh id, created now on ``clock`` (or at ``ts_ns``)."""
    n = next(_ids)
    created = ts_ns if ts_ns is not None else (clock.now_ns() if clock else time.time_ns())
    return AlertEvent(
        id=f"evt_test_{n:06d}_{time.monotonic_ns()}",
        key=f"{rule}|{book}|{subject}",
        rule=rule,
        book=book,
        subject=subject,
        status=status,
        severity=severity,
        summary=f"{subject} gain 2.1x entry cost (threshold 2.0x) #{n}",
        ts_ns=created,
        values={"gain_ratio": 2.1, "threshold": 2.0, "value_usd": 12_600.0},
        action="Consider rolling layer-1 up and out",
        context={"next_macro_event": "FOMC 2026-12-16 19:00Z"},
        **extra,
    )


def events(n: int, **kw: Any) -> list[AlertEvent]:
    return [event(**kw) for _ in range(n)]


def live_clock_fake() -> FakeClock:
    """A fake clock that starts at the real time (receivers check signature timestamps)."""
    return FakeClock(start_ns=time.time_ns())


@contextlib.asynccontextmanager
async def running(service: DeliveryService, drain_s: float = 2.0) -> AsyncIterator[DeliveryService]:
    """Run ``service`` for the block; drain it after, and make sure ``run`` returned."""
    task = asyncio.create_task(service.run())
    try:
        await service.prepare()
        yield service
    finally:
        await service.drain(drain_s)
        await asyncio.wait_for(task, 5.0)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def wait_blocked_reader(redis: aioredis.Redis, timeout_s: float = 10.0) -> None:
    """Wait until a client is blocked in Redis (a worker idle in XREADGROUP BLOCK)."""
    deadline = time.monotonic() + timeout_s
    while (await redis.info("clients"))["blocked_clients"] < 1:
        if time.monotonic() > deadline:
            raise AssertionError("no client blocked in Redis")
        await asyncio.sleep(0.005)


async def wait_for(pred: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll a condition the code under test reaches without telling anyone (metrics, Redis)."""
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def ids_of(items: Sequence[AlertEvent]) -> list[str]:
    return [e.id for e in items]


def webhook_config(name: str = "hook", **kw: Any) -> WebhookSinkConfig:
    """A webhook sink on the test receiver (env TEST_WEBHOOK_URL / TEST_WEBHOOK_SECRET)."""
    kw.setdefault("retry", FAST_RETRY)
    kw.setdefault("signing_secrets", [SecretRef(env="TEST_WEBHOOK_SECRET")])
    return WebhookSinkConfig(name=name, url=SecretRef(env="TEST_WEBHOOK_URL"), **kw)
