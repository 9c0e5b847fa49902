"""Benchmark: delivery catching up after a receiver outage.

Targets: the first delivery within 10 s of the receiver healing, and 1,000 alerts queued during
the outage all delivered within 60 s of it (Slack within its 1 msg/s).

Setup, all on this machine and in real time (nothing simulated): an embedded Redis; one
``DeliveryService`` (the production worker, backoff, rate limiter and Slack renderer) with two
sinks at their default settings: a webhook sink (no rate limit, default retry) and a Slack sink
(1 msg/s, burst 3), each pointing at its own real aiohttp receiver on 127.0.0.1. Both receivers
fail for ``--outage-s`` seconds (``--mode 503``: answer 503; ``refuse``: stop listening, so
connections are refused), while ``--alerts`` alert events are appended to the outbox evenly over
the outage; then they heal. Measured per sink: heal -> first accepted request; heal -> every
alert accepted; each alert's lag (accepted - queued); and whether the alerts arrived in order
(webhook: also each under its own ``webhook-id``, and the retried one under its first id).

    .venv/bin/python bench/outage.py [--outage-s 10] [--alerts 1000] [--mode 503|refuse]
    .venv/bin/python bench/outage.py --outage-s 600     # the 10-minute case (takes ~11 min)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.clock import LiveClock  # noqa: E402
from monitor.logging import configure_logging  # noqa: E402
from monitor.model import AlertEvent  # noqa: E402
from monitor.redis_server import EmbeddedRedis  # noqa: E402
from monitor.secrets import SecretRef  # noqa: E402
from monitor.sinks.config import SlackSinkConfig, WebhookSinkConfig  # noqa: E402
from monitor.sinks.delivery import DeliveryService  # noqa: E402

SECRET = "whsec_" + base64.b64encode(b"b" * 24).decode()
FIRST_TARGET_S, ALL_TARGET_S = 10.0, 60.0
_MARK = re.compile(r"alert #(\d+) ")


@dataclass
class Receiver:
    """Fails while ``failing``; records when each alert number arrived, and the webhook ids."""

    mode: str
    expected: int
    failing: bool = True
    port: int = 0
    arrived: dict[int, float] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    webhook_ids: list[tuple[str, list[int]]] = field(default_factory=list)
    failed_ids: list[str] = field(default_factory=list)
    first_ok_s: float | None = None
    messages: int = 0
    runner: web.AppRunner | None = None
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, req: web.Request) -> web.Response:
        body = await req.read()
        if self.failing:
            self.failed_ids.append(req.headers.get("webhook-id", ""))
            return web.Response(status=503, text="down for maintenance")
        now = time.monotonic()
        if self.first_ok_s is None:
            self.first_ok_s = now
        self.messages += 1
        numbers = [int(n) for n in _MARK.findall(body.decode())]
        for n in numbers:
            if n not in self.arrived:
                self.arrived[n] = now
                self.order.append(n)
        if len(self.arrived) >= self.expected:
            self.complete.set()
        if "webhook-id" in req.headers:
            self.webhook_ids.append((req.headers["webhook-id"], numbers))
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def fail(self) -> None:
        self.failing = True
        if self.mode == "refuse":
            await self.stop()

    async def heal(self) -> None:
        self.failing = False
        if self.mode == "refuse":
            await self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def alert(n: int) -> AlertEvent:
    return AlertEvent(
        id=f"evt_{uuid.uuid4().hex}",
        key=f"layer_gain|main|L{n}",
        rule="layer_gain",
        book="main",
        subject=f"L{n}",
        status="firing",
        severity="warning",
        summary=f"alert #{n} layer worth 2.1x its entry cost",
        ts_ns=time.time_ns(),
        values={"gain_ratio": 2.1},
    )


async def produce(service: DeliveryService, n: int, over_s: float) -> tuple[list[str], float]:
    """Append ``n`` alerts evenly over ``over_s``; return their ids and when the first went in."""
    ids: list[str] = []
    started = time.monotonic()
    for i in range(n):
        due = started + over_s * i / n
        await asyncio.sleep(max(due - time.monotonic(), 0))  # pacing the producer, by design
        event = alert(i)
        await service.outbox.append([event])
        ids.append(event.id)
    return ids, started


def report(name: str, r: Receiver, n: int, heal_s: float, queued_s: list[float]) -> bool:
    done = len(r.arrived) == n
    first = None if r.first_ok_s is None else r.first_ok_s - heal_s
    last = max(r.arrived.values()) - heal_s if done else None
    lags = sorted(r.arrived[i] - queued_s[i] for i in r.arrived)
    in_order = r.order == sorted(r.order)
    ok = done and first is not None and first <= FIRST_TARGET_S
    ok = ok and last is not None and last <= ALL_TARGET_S and in_order
    print(
        f"{name:8} first delivery {_s(first)} after heal (target <= {FIRST_TARGET_S:g} s), "
        f"all {len(r.arrived)}/{n} {_s(last)} after heal (target <= {ALL_TARGET_S:g} s), "
        f"{r.messages} messages, in order: {in_order}"
    )
    if lags:
        print(
            f"{'':8} lag queued -> delivered: median {statistics.median(lags):.1f} s, "
            f"max {lags[-1]:.1f} s"
        )
    return ok


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def check_webhook_ids(r: Receiver, ids: list[str]) -> bool:
    """Each alert went out under its own id, the one that was retried under its first."""
    own = all(len(nums) == 1 and ids[nums[0]] == wid for wid, nums in r.webhook_ids)
    retried = set(r.failed_ids) <= set(ids)
    print(f"{'':8} webhook ids: each alert under its own id: {own}; retries reused ids: {retried}")
    return own and retried


async def main(args: argparse.Namespace) -> int:
    state = Path(tempfile.mkdtemp(prefix="vixmon-outage-"))
    server = EmbeddedRedis(state / "redis")
    await server.start()
    hook, desk = Receiver(args.mode, args.alerts), Receiver(args.mode, args.alerts)
    await hook.start()
    await desk.start()
    await hook.fail()
    await desk.fail()
    client = aioredis.Redis.from_url(server.url)
    sinks = [
        WebhookSinkConfig(
            name="hook", url=SecretRef(env="BENCH_HOOK_URL"), signing_secrets=[SecretRef(env="S")]
        ),
        SlackSinkConfig(name="desk", webhook_url=SecretRef(env="BENCH_SLACK_URL")),
    ]
    environ = {**os.environ, "BENCH_HOOK_URL": hook.url, "BENCH_SLACK_URL": desk.url, "S": SECRET}
    service = DeliveryService(
        client,
        sinks,
        clock=LiveClock(),
        registry=CollectorRegistry(),
        consumer="bench",
        environ=environ,
    )
    runner = asyncio.create_task(service.run())
    print(
        f"outage {args.outage_s:g} s ({args.mode}), {args.alerts} alerts queued during it; "
        "sinks at default settings"
    )
    try:
        await service.prepare()
        ids, started = await produce(service, args.alerts, args.outage_s * 0.95)
        queued_s = [started + args.outage_s * 0.95 * i / args.alerts for i in range(args.alerts)]
        await asyncio.sleep(max(started + args.outage_s - time.monotonic(), 0))
        heal_s = time.monotonic()
        await hook.heal()
        await desk.heal()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ALL_TARGET_S + 30):
                await asyncio.gather(hook.complete.wait(), desk.complete.wait())
        ok = report("webhook", hook, args.alerts, heal_s, queued_s)
        ok = check_webhook_ids(hook, ids) and ok
        ok = report("slack", desk, args.alerts, heal_s, queued_s) and ok
    finally:
        await service.drain(2.0)
        await runner
        await client.aclose()
        await hook.stop()
        await desk.stop()
        await server.stop()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage-s", type=float, default=10.0)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--mode", choices=["503", "refuse"], default="503")
    return parser.parse_args(argv)


if __name__ == "__main__":
    configure_logging(level="error")  # a failed attempt per backoff step is expected here
    raise SystemExit(asyncio.run(main(parse_args())))
