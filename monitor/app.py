"""The composition root: wires feeds, bus, engine, alerts, delivery and HTTP; owns the lifecycle.

startup -> main loop -> shutdown, like uvicorn's Server:
- startup: Redis (embedded or URL), feeds (role ingest/all), engine loops and delivery
  (role engine/all), HTTP; READY=1 to systemd after Redis answers and the first snapshot exists.
- main loop: wait for a stop request; every background task is owned, and one that fails stops
  the daemon with exit code 1 instead of dying silently. SIGHUP reloads.
- shutdown (SIGTERM/SIGINT): stop feeds, drain and ack what is in the stream, evaluate once more,
  flush the sinks, all within ``shutdown.drain_timeout_s``; then cancel the rest and stop the
  embedded Redis. A second SIGINT skips the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Literal

import redis.asyncio as aioredis
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from adapters.base import FeedAdapter, FeedStats
from adapters.registry import FeedContext, build_feed
from monitor import bus, settings, snapshot
from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine
from monitor.clock import Clock, LiveClock
from monitor.engine import Engine
from monitor.http import make_app
from monitor.metrics import VERSION, PipelineMetrics, StateCollector
from monitor.pipeline import EngineLoop
from monitor.redis_server import EmbeddedRedis
from monitor.sdnotify import Notifier
from monitor.sinks.delivery import DeliveryService
from monitor.sinks.outbox import Outbox
from monitor.subscriptions import Subscriptions, portfolio_symbols

log = structlog.get_logger(__name__)

Role = Literal["all", "ingest", "engine"]
EXIT_OK, EXIT_FAILED = 0, 1


class App:
    def __init__(
        self,
        loaded: settings.Loaded,
        *,
        role: Role = "all",
        clock: Clock | None = None,
        handle_signals: bool = True,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.loaded = loaded
        self.cfg = loaded.settings
        self.role = role
        self.clock = clock or LiveClock()
        self.handle_signals = handle_signals
        self.notifier = Notifier(environ)
        self.registry = CollectorRegistry()
        self.metrics = PipelineMetrics(self.registry)
        self._reload_ok = Gauge("vixmon_config_last_reload_successful",
                                "1 if the last config reload succeeded", registry=self.registry)
        self._reload_ts = Gauge("vixmon_config_last_reload_success_timestamp_seconds",
                                "Time of the last successful config reload", registry=self.registry)
        self._reload_ok.set(1)
        self._reload_ts.set(time.time())
        self.started_mono = time.monotonic()
        self.stop_requested = asyncio.Event()
        self.force = False
        self.exit_code = EXIT_OK
        self.redis_url = ""
        self.embedded: EmbeddedRedis | None = None
        self.redis: aioredis.Redis | None = None
        self.feeds: dict[str, FeedAdapter] = {}
        self.subscriptions = Subscriptions(portfolio_symbols(loaded.portfolio))
        self.engine: Engine | None = None
        self.loop: EngineLoop | None = None
        self.delivery: DeliveryService | None = None
        self._feed_tasks: set[asyncio.Task[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.http_port: int | None = None
        self.registry.register(StateCollector(self._state, self._feed_stats))

    # ---- views used by HTTP and metrics -------------------------------------------------------

    def _state(self) -> Any:
        cycle = None if self.engine is None else self.engine.last_cycle
        return None if cycle is None else cycle.state

    def _feed_stats(self) -> dict[str, FeedStats]:
        return {name: feed.stats for name, feed in self.feeds.items()}

    def status(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "role": self.role,
            "uptime_s": round(time.monotonic() - self.started_mono, 3),
            "redis": {"url": self.redis_url, "embedded": self.embedded is not None},
            "feeds": [
                {"name": n, "connected": s.connected, "delayed": s.delayed, "quotes": s.quotes,
                 "last_quote_ts_ns": s.last_quote_ts_ns}
                for n, s in self._feed_stats().items()
            ],
            "sinks": [s.name for s in self.cfg.sinks] if self.role != "ingest" else [],
            "config": str(self.loaded.config_path),
            "portfolio": str(self.loaded.portfolio_path),
        }

    def snapshot(self) -> dict[str, Any] | None:
        cycle = None if self.engine is None else self.engine.last_cycle
        return None if cycle is None else snapshot.build(cycle)

    def ready(self) -> tuple[bool, str]:
        if self.redis is None:
            return False, "redis not connected"
        if self.role != "ingest" and (self.loop is None or not self.loop.first_cycle.is_set()):
            return False, "no snapshot yet"
        return True, "ok"

    # ---- lifecycle -----------------------------------------------------------------------------

    def _own(self, coro: Coroutine[Any, Any, None], name: str, group: set[asyncio.Task[None]]) -> None:
        task = asyncio.create_task(coro, name=name)
        group.add(task)
        task.add_done_callback(lambda t: self._task_done(t, group))

    def _task_done(self, task: asyncio.Task[None], group: set[asyncio.Task[None]]) -> None:
        group.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task_failed", task=task.get_name(), error=repr(exc), exc_info=exc)
            self.exit_code = EXIT_FAILED
            self.stop_requested.set()

    async def _start_redis(self) -> None:
        rc = self.cfg.redis
        if rc.url:
            self.redis_url = rc.url
        else:
            self.embedded = EmbeddedRedis(self.loaded.base_dir / rc.state_dir)
            await self.embedded.start()
            self.redis_url = self.embedded.url
        self.redis = bus.connect(self.redis_url, socket_timeout_s=rc.socket_timeout_s)
        await self.redis.ping()

    def _start_feeds(self) -> None:
        assert self.redis is not None
        rc = self.cfg.redis
        writer = bus.QuoteWriter(self.redis, prefix=rc.key_prefix, maxlen=rc.quotes_maxlen)
        ctx = FeedContext(clock=self.clock, base_dir=self.loaded.base_dir)
        for fc in self.cfg.feeds:
            feed = build_feed(fc, ctx)
            self.feeds[feed.name] = feed
            self._own(feed.run(writer, self.subscriptions), f"feed:{feed.name}", self._feed_tasks)

    async def _start_engine(self) -> None:
        assert self.redis is not None
        rc, cfg = self.cfg.redis, self.cfg
        self.engine = Engine(cfg, self.loaded.portfolio)
        consumer = bus.QuoteConsumer(
            self.redis, prefix=rc.key_prefix, group="engine",
            consumer=cfg.engine.consumer or f"{socket.gethostname()}-{os.getpid()}",
            block_ms=rc.block_ms, count=rc.read_count, claim_idle_ms=rc.claim_idle_ms,
            dead_maxlen=rc.dead_maxlen,
        )
        store = AlertStore(self.redis, prefix=rc.key_prefix)
        machine = AlertMachine(cooldown_s=cfg.alerts.cooldown_s,
                               repeat_interval_s=cfg.alerts.repeat_interval_s,
                               states=await store.load())
        self.delivery = DeliveryService(
            self.redis, cfg.sinks, prefix=rc.key_prefix, clock=self.clock,
            registry=self.registry, consumer=consumer.consumer,
        )
        outbox = Outbox(self.redis, prefix=rc.key_prefix)
        self.loop = EngineLoop(
            engine=self.engine, consumer=consumer, machine=machine, store=store, outbox=outbox,
            metrics=self.metrics, clock=self.clock,
            on_events=lambda _events: self._wake_delivery(),
        )
        self._own(self.delivery.run(), "delivery", self._tasks)
        self._own(self.loop.consume_forever(), "consume", self._tasks)
        self._own(self.loop.evaluate_forever(cfg.engine.cadence_ms / 1000), "evaluate", self._tasks)

    def _wake_delivery(self) -> None:
        if self.delivery is not None:
            self.delivery.wake()

    async def _start_http(self) -> None:
        runner = web.AppRunner(make_app(self, self.registry), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.cfg.http.host, self.cfg.http.port)
        await site.start()
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.http_port = sockets[0].getsockname()[1] if sockets else self.cfg.http.port
        log.info("http_listening", host=self.cfg.http.host, port=self.http_port)

    async def startup(self) -> None:
        await self._start_redis()
        if self.role in ("all", "ingest"):
            self._start_feeds()
        if self.role in ("all", "engine"):
            await self._start_engine()
        await self._start_http()
        self._own(self._announce_ready(), "sd-ready", self._tasks)
        log.info("started", role=self.role, redis=self.redis_url, feeds=list(self.feeds))

    async def _announce_ready(self) -> None:
        if self.loop is not None:
            await self.loop.first_cycle.wait()
        self.notifier.ready()
        interval = self.notifier.watchdog_interval_s
        if interval is None:
            return
        last_progress = -1
        while True:  # ping only while the engine makes progress: a stall gets us restarted
            progress = self.loop.progress if self.loop is not None else last_progress + 1
            if progress != last_progress:
                self.notifier.watchdog()
                last_progress = progress
            await asyncio.sleep(interval)

    async def reload(self) -> tuple[bool, str]:
        """Re-read config and portfolio; validate first, swap atomically, or keep the old one."""
        try:
            loaded = settings.load(self.loaded.config_path)
        except settings.ConfigError as exc:
            self._reload_ok.set(0)
            log.error("config_reload_failed", errors=exc.errors)
            return False, str(exc)
        self.loaded = loaded
        self.cfg = loaded.settings
        if self.engine is not None:
            self.engine.settings = loaded.settings
            self.engine.set_portfolio(loaded.portfolio)
        self.subscriptions.replace(portfolio_symbols(loaded.portfolio))
        self._reload_ok.set(1)
        self._reload_ts.set(time.time())
        log.info("config_reloaded", config=str(loaded.config_path))
        return True, "reloaded"

    def request_stop(self, *, force: bool = False) -> None:
        if self.stop_requested.is_set() and not force:
            force = True  # a second signal: skip the drain
        self.force = self.force or force
        self.stop_requested.set()

    def _install_signals(self) -> list[signal.Signals]:
        if not self.handle_signals:
            return []
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._own(self._reload_task(), "reload",
                                                                   self._tasks))
        return [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]

    async def _reload_task(self) -> None:
        await self.reload()

    async def run(self) -> int:
        """Run until stopped; return the process exit code."""
        installed = self._install_signals()
        try:
            await self.startup()
            await self.stop_requested.wait()
        except Exception as exc:
            log.error("startup_failed", error=repr(exc), exc_info=exc)
            self.exit_code = EXIT_FAILED
        finally:
            await self.shutdown()
            loop = asyncio.get_running_loop()
            for sig in installed:
                loop.remove_signal_handler(sig)
        return self.exit_code

    async def shutdown(self) -> None:
        self.notifier.stopping()
        log.info("stopping", force=self.force)
        await _cancel(self._feed_tasks)
        if not self.force:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), self.cfg.shutdown.drain_timeout_s)
        await _cancel(self._tasks)
        if self._runner is not None:
            await self._runner.cleanup()
        if self.redis is not None:
            await self.redis.aclose()
        if self.embedded is not None:
            await self.embedded.stop()
        log.info("stopped", exit_code=self.exit_code)

    async def _drain(self) -> None:
        loop, delivery = self.loop, self.delivery
        if loop is not None and self.redis is not None:
            try:
                await loop.drain()
                await loop.evaluate_once()
            except Exception as exc:  # keep shutting down; the entries stay pending in Redis
                log.error("drain_failed", error=repr(exc))
        if delivery is not None:
            await delivery.drain(self.cfg.shutdown.drain_timeout_s)


async def _cancel(tasks: set[asyncio.Task[None]]) -> None:
    pending = list(tasks)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def state_dir_of(loaded: settings.Loaded) -> Path:
    return loaded.base_dir / loaded.settings.redis.state_dir
