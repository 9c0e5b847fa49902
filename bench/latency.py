"""Benchmark: alert latency end to end under load. Target p99 <= 25 ms.

Measured: from the XADD of the quote that pushes a hedge layer over its threshold to the webhook
receiver's arrival of the ``firing`` event, over ``--trials`` trials, while a background load of
``--load`` quotes/s goes into the same stream.

Setup, all on this machine: an embedded Redis; ``vixmon run --role engine`` as a subprocess
(engine + alert state machine + outbox + delivery, the production code paths) with one webhook
sink; a load generator process XADDing a fixed market snapshot from the sample session
(restamped to now, the trial layer's leg left out) in batches of ``--batch``; and this process,
which runs the webhook receiver (aiohttp) and the trials.

A trial XADDs a quote of VIX261216C00020000 (layer L1-DEC: 4 calls bought at 0.90) at 2.45/2.55
(gain 1.78 >= 1.5) and waits for the ``firing`` event of ``L1-DEC@1.5``; then it XADDs
0.95/1.05 (gain 0.11, below 1.5 - hysteresis) and waits for ``resolved`` (reported too). The
event's own ``ts_ns`` (the evaluation instant, taken at the start of the engine cycle) splits
each latency into quote -> alert created (consume, then waiting for the next evaluation tick)
and alert created -> received (the rest of that cycle: pricing, rules, state save; then the
outbox XADD and the delivery). Last, with the daemon stopped and the load still running, the
same number of trials times the delivery alone: outbox XADD -> received, through a
DeliveryService in this process.

    .venv/bin/python bench/latency.py [--trials 1000] [--load 100000] [--cadence-ms 250] [--moving]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from collections import deque
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

import aiohttp
import msgspec
import numpy as np
import redis
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.replay.feed import read_groups  # noqa: E402
from monitor import bus  # noqa: E402
from monitor.clock import LiveClock  # noqa: E402
from monitor.model import AlertEvent, Quote  # noqa: E402
from monitor.quotes import FIELD_BINARY, FIELD_FEED, encode_batch  # noqa: E402
from monitor.redis_server import EmbeddedRedis  # noqa: E402
from monitor.secrets import SecretRef  # noqa: E402
from monitor.sinks.config import WebhookSinkConfig  # noqa: E402
from monitor.sinks.delivery import DeliveryService  # noqa: E402

SESSION = ROOT / "config" / "sample-session.jsonl.gz"
TRIAL_SYMBOL = "VIX261216C00020000"
SUBJECT = "L1-DEC@1.5"
FIRE = (2.45, 2.55)
CLEAR = (0.95, 1.05)
SECRET = "whsec_" + base64.b64encode(b"latency-bench-signing-key!").decode()
NS = 1_000_000_000
MS = 1_000_000


def market_snapshot(groups: int = 200) -> list[Quote]:
    """Return the latest quote per symbol over the session's calm start, without the trial leg."""
    latest: dict[str, Quote] = {}
    for _ts, group, _bad in read_groups(SESSION):
        for q in group:
            latest[q.sym] = q
        groups -= 1
        if groups == 0:
            break
    latest.pop(TRIAL_SYMBOL, None)
    return list(latest.values())


def moved(q: Quote, factor: float, ts: int) -> Quote:
    """Return ``q`` restamped with its prices scaled by ``factor``."""
    bid = None if q.bid is None else round(q.bid * factor, 2)
    ask = None if q.ask is None else round(q.ask * factor, 2)
    last = None if q.last is None else round(q.last * factor, 2)
    return msgspec.structs.replace(q, ts=ts, bid=bid, ask=ask, last=last)


def load_main(
    url: str, rate: float, batch: int, moving: bool, flags: Flags, sent: Synchronized[int]
) -> None:
    """The background load: ``rate`` quotes/s of the snapshot, restamped, on the quote stream.

    ``moving``: every pass over the snapshot scales its prices by a factor that alternates
    between 0.999 and 1.001, so every batch changes the quotes of portfolio legs and the engine
    evaluates after every read (the worst case: a market where the legs tick constantly)."""
    client = redis.Redis.from_url(url)
    quotes = market_snapshot()
    ring = (quotes * (batch // len(quotes) + 2))[: batch + len(quotes)]
    flags.go.wait()
    if rate <= 0:  # no background load: the latency floor
        flags.warm.set()
        flags.stop.wait()
        return
    interval_s, next_at, offset = batch / rate, time.perf_counter(), 0
    warm_at = time.perf_counter() + 1.0
    while not flags.stop.is_set():
        if time.perf_counter() >= warm_at:
            flags.warm.set()
        now = time.time_ns()
        window = ring[offset : offset + batch]
        if moving:
            factor = 1.0 + (0.001 if (now // 10_000_000) % 2 else -0.001)
            chunk = [moved(q, factor, now) for q in window]
        else:
            chunk = [msgspec.structs.replace(q, ts=now) for q in window]
        offset = (offset + batch) % len(quotes)
        client.xadd(
            "{vixmon:quotes}",
            {FIELD_BINARY: encode_batch(chunk), FIELD_FEED: b"load"},
            maxlen=1_000_000,
            approximate=True,
        )
        with sent.get_lock():
            sent.value += len(chunk)
        next_at += interval_s
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)  # pacing a producer, not synchronization
        else:
            next_at = time.perf_counter()  # behind: run flat out


@dataclass(frozen=True)
class Flags:
    """Cross-process signals to the load generator."""

    go: MpEvent
    warm: MpEvent
    stop: MpEvent


class Receiver:
    """The webhook receiver: resolves the trial waiting for a status of ``SUBJECT``."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[tuple[int, int]]] = {}
        """Trials by status of ``SUBJECT``; delivery-alone trials by event id."""
        self.messages = 0

    async def handle(self, req: web.Request) -> web.Response:
        arrived_ns = time.time_ns()
        body = msgspec.json.decode(await req.read())
        self.messages += 1
        for event in body["events"]:
            key = event["id"]
            if event["rule"] == "layer_gain" and event["subject"] == SUBJECT:
                key = event["status"]
            fut = self.waiting.pop(key, None)
            if fut is not None and not fut.done():
                fut.set_result((arrived_ns, int(event["ts_ns"])))
        return web.Response(text="ok")

    async def start(self) -> tuple[web.AppRunner, str]:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


def daemon_config(tmp: Path, redis_url: str, cadence_ms: int) -> Path:
    path = tmp / "vixmon.toml"
    path.write_text(
        f"""
portfolio = "{ROOT / "config" / "portfolio.toml"}"
[redis]
url = "{redis_url}"
[engine]
cadence_ms = {cadence_ms}
time_source = "wall"
[http]
port = 0
[logging]
json = true
[rules.layer_gain]
thresholds = [1.5]
severities = ["warning"]
[alerts]
cooldown_s = 0
repeat_interval_s = 0
[[sinks]]
kind = "webhook"
name = "bench"
url = {{ env = "BENCH_WEBHOOK_URL" }}
signing_secrets = [{{ env = "BENCH_WEBHOOK_SECRET" }}]
"""
    )
    return path


class Daemon:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.tail: deque[str] = deque(maxlen=40)
        self.started = asyncio.Event()
        self.http_port = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.tail.append(line)
            if '"event": "http_listening"' in line:
                self.http_port = int(msgspec.json.decode(line)["port"])
            if '"event": "started"' in line:
                self.started.set()

    async def metrics(self) -> tuple[dict[str, float], dict[str, float]]:
        """Return, from ``/metrics``, the mean of each histogram (ms) and the alert events
        per rule."""
        url = f"http://127.0.0.1:{self.http_port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            text = await resp.text()
        means: dict[str, float] = {}
        events: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            samples = {s.name: s.value for s in family.samples if s.name[-4:] in ("_sum", "ount")}
            count = samples.get(f"{family.name}_count", 0.0)
            if family.type == "histogram" and count:
                means[family.name] = samples[f"{family.name}_sum"] / count * 1e3
            if family.name == "vixmon_alert_events":
                for sample in family.samples:
                    rule = sample.labels.get("rule", "")
                    if sample.name.endswith("_total"):
                        events[rule] = events.get(rule, 0.0) + sample.value
        return means, events

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 30)
        await self.reader


async def trial(
    writer: bus.QuoteWriter, receiver: Receiver, status: str, bid: float, ask: float
) -> tuple[int, int] | None:
    """XADD one trial quote; return (XADD -> received, XADD -> alert created) in ns."""
    fut: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
    receiver.waiting[status] = fut
    t0 = time.time_ns()
    await writer.publish("trial", [Quote(sym=TRIAL_SYMBOL, ts=t0, bid=bid, ask=ask)])
    try:
        arrived_ns, created_ns = await asyncio.wait_for(fut, 10)
    except TimeoutError:
        receiver.waiting.pop(status, None)
        return None
    return arrived_ns - t0, created_ns - t0


async def delivery_alone(
    redis_url: str, receiver: Receiver, env: dict[str, str], trials: int
) -> list[int]:
    """Time outbox XADD -> received with a DeliveryService in this process (no engine)."""
    client = bus.connect(redis_url, socket_timeout_s=10)
    sink = WebhookSinkConfig(
        name="alone",
        url=SecretRef(env="BENCH_WEBHOOK_URL"),
        signing_secrets=[SecretRef(env="BENCH_WEBHOOK_SECRET")],
    )
    service = DeliveryService(
        client, [sink], prefix="alone", clock=LiveClock(), registry=CollectorRegistry(),
        consumer="bench", environ=env,
    )  # fmt: skip
    task = asyncio.create_task(service.run())
    await service.prepare()
    out = []
    for i in range(trials + 20):
        t0 = time.time_ns()
        event = AlertEvent(
            id=f"evt_{uuid.uuid4().hex}", key="bench|alone|x", rule="bench", book="alone",
            subject="x", status="firing", severity="info", summary="latency probe", ts_ns=t0,
        )  # fmt: skip
        fut: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        receiver.waiting[event.id] = fut
        await service.outbox.append([event])
        arrived_ns, _ = await asyncio.wait_for(fut, 10)
        if i >= 20:
            out.append(arrived_ns - t0)
    await service.drain(5)
    await task
    await client.aclose()
    return out


def row(name: str, xs_ns: list[int]) -> str:
    ms = np.asarray(xs_ns, np.float64) / MS
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"{name:44s} p50 {p50:6.2f}   p90 {p90:6.2f}   p99 {p99:6.2f}   max {ms.max():7.2f} ms"


async def run(
    args: argparse.Namespace, redis_url: str, flags: Flags, sent: Synchronized[int]
) -> int:
    receiver = Receiver()
    runner, url = await receiver.start()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = daemon_config(Path(tmp), redis_url, args.cadence_ms)
        env = {**os.environ, "BENCH_WEBHOOK_URL": url, "BENCH_WEBHOOK_SECRET": SECRET}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli", "run", "--config", str(cfg), "--role", "engine",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
        daemon = Daemon(proc)
        try:
            await asyncio.wait_for(daemon.started.wait(), 180)
        except TimeoutError:
            print("\n".join(daemon.tail), file=sys.stderr)
            raise SystemExit("vixmon run did not start") from None
        client = bus.connect(redis_url, socket_timeout_s=10)
        writer = bus.QuoteWriter(client, prefix="vixmon", maxlen=1_000_000)
        flags.go.set()
        await asyncio.to_thread(flags.warm.wait, 30)  # one second of load before the first trial
        fire, fire_engine, resolve, failed = [], [], [], 0
        sent_at_start, started = sent.value, time.perf_counter()
        for i in range(args.warmup + args.trials):
            fired = await trial(writer, receiver, "firing", *FIRE)
            resolved = await trial(writer, receiver, "resolved", *CLEAR)
            if i < args.warmup:
                continue
            if fired is None or resolved is None:
                failed += 1
                continue
            fire.append(fired[0])
            fire_engine.append(fired[1])
            resolve.append(resolved[0])
        elapsed = time.perf_counter() - started
        achieved = (sent.value - sent_at_start) / elapsed
        means, events = await daemon.metrics()
        await daemon.stop()
        await client.aclose()
        alone = await delivery_alone(redis_url, receiver, env, args.trials)
    await runner.cleanup()
    if not fire:
        print("no trial completed", file=sys.stderr)
        print("\n".join(daemon.tail), file=sys.stderr)
        return 1
    delivery = [f - e for f, e in zip(fire, fire_engine, strict=True)]
    print(
        f"background: {args.load:,.0f} quotes/s asked, {achieved:,.0f} achieved during the "
        f"trials (batches of {args.batch}{', prices moving' if args.moving else ''}); "
        f"engine cadence {args.cadence_ms} ms"
    )
    print(f"trials: {len(fire)} firing + {len(resolve)} resolved; {failed} timed out (10 s)")
    print(row("quote XADD -> webhook received (firing)", fire))
    print(row("  quote XADD -> alert created (engine)", fire_engine))
    print(row("  alert created -> received (delivery)", delivery))
    print(row("quote XADD -> webhook received (resolved)", resolve))
    print(row("outbox XADD -> received (delivery alone)", alone))
    print("daemon alert events by rule: " + ", ".join(f"{r} {n:.0f}" for r, n in events.items()))
    for name, mean_ms in sorted(means.items()):
        print(f"daemon {name}: mean {mean_ms:.2f} ms")
    p99 = float(np.percentile(np.asarray(fire, np.float64) / MS, 99))
    print(f"target: p99 <= 25 ms -> {'OK' if p99 <= 25 else 'OVER BUDGET'} ({p99:.2f} ms)")
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--load", type=float, default=100_000.0, help="background quotes/s")
    p.add_argument("--batch", type=int, default=1000, help="quotes per background XADD")
    p.add_argument("--cadence-ms", type=int, default=250, help="engine evaluation cadence")
    p.add_argument(
        "--moving", action="store_true", help="background prices move: every batch moves legs"
    )
    args = p.parse_args()

    ctx = mp.get_context("spawn")
    flags = Flags(go=ctx.Event(), warm=ctx.Event(), stop=ctx.Event())
    sent = ctx.Value("q", 0)
    with tempfile.TemporaryDirectory() as state:
        server = EmbeddedRedis(Path(state) / "redis")
        server.start_blocking()
        loader = ctx.Process(
            target=load_main,
            args=(server.url, args.load, args.batch, args.moving, flags, sent),
            daemon=True,
        )
        loader.start()
        try:
            code = asyncio.run(run(args, server.url, flags, sent))
        finally:
            flags.stop.set()
            flags.go.set()
            loader.join(10)
            server.stop_blocking()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
