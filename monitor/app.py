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
import contextvars
import gc
import logging
import os
import signal
import socket
import time
import urllib.parse
from collections.abc import Coroutine
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from adapters.base import FeedAdapter, FeedStats
from adapters.registry import FeedContext, build_feed
from adapters.simulator.config import SimulatorFeedConfig
from monitor import bus, lifecycle, reloading, settings, snapshot, symbols
from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine
from monitor.clock import Clock, LiveClock
from monitor.engine import Engine, rate_curve
from monitor.http import make_app
from monitor.logging import context_with, redact_text, register_secret
from monitor.metrics import VERSION, PipelineMetrics, StateCollector
from monitor.pipeline import EngineLoop
from monitor.pricing import black
from monitor.redis_server import EmbeddedRedis
from monitor.rules_metrics import RulesCollector
from monitor.sdnotify import Notifier, ProgressWatchdog
from monitor.sinks.delivery import DeliveryService
from monitor.sinks.outbox import Outbox
from monitor.subscriptions import MarketView, Subscriptions, required_symbols

log = structlog.get_logger(__name__)

Role = Literal["all", "ingest", "engine"]
EXIT_OK, EXIT_FAILED = 0, 1
DELIVERY_HEAD_START_S = 0.05
"""How long the engine waits after appending alerts for the sinks to try them (a hung sink
costs each alerting cycle at most this)."""


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
        self._reload_ok = Gauge(
            "vixmon_config_last_reload_successful",
            "1 if the last config reload succeeded",
            registry=self.registry,
        )
        self._reload_ts = Gauge(
            "vixmon_config_last_reload_success_timestamp_seconds",
            "Time of the last successful config reload",
            registry=self.registry,
        )
        self._reload_ok.set(1)
        self._reload_ts.set(time.time())
        self.started_mono = time.monotonic()
        self.stop_requested = asyncio.Event()
        self.started = asyncio.Event()
        """Set once every component is up (the HTTP port is known)."""
        self._forced = asyncio.Event()
        self.exit_code = EXIT_OK
        self.redis_url = ""
        self.embedded: EmbeddedRedis | None = None
        self.redis: aioredis.Redis | None = None
        self.feeds: dict[str, FeedAdapter] = {}
        self.subscriptions = Subscriptions(
            required_symbols(loaded.portfolio, MarketView(), self.clock.now_ns())
        )
        self.engine: Engine | None = None
        self.loop: EngineLoop | None = None
        self.delivery: DeliveryService | None = None
        self._feed_tasks: set[asyncio.Task[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.http_port: int | None = None
        self.registry.register(StateCollector(self._state, self._feed_stats))
        self.registry.register(RulesCollector(lambda: getattr(self.engine, "last_cycle", None)))

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
            "redis": {"url": redact_text(self.redis_url), "embedded": self.embedded is not None},
            "feeds": [
                {
                    "name": n,
                    "connected": s.connected,
                    "delayed": s.delayed,
                    "quotes": s.quotes,
                    "last_quote_ts_ns": s.last_quote_ts_ns,
                }
                for n, s in self._feed_stats().items()
            ],
            "sinks": self._sink_status(),
            "config": str(self.loaded.config_path),
            "portfolio": str(self.loaded.portfolio_path),
            # what the running config monitors: a reload shows here at once
            "books": {
                b.name: [c.name for c in b.condors] + [y.name for y in b.layers]
                for b in self.loaded.portfolio.books
            },
        }

    def _sink_status(self) -> list[dict[str, Any]]:
        """Per sink: kind, enabled, pending, delivered, dead, last (redacted) error — no URLs."""
        if self.delivery is None:
            return []
        return [msgspec.structs.asdict(s) for s in self.delivery.status()]

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

    def _own(
        self,
        coro: Coroutine[Any, Any, None],
        name: str,
        group: set[asyncio.Task[None]],
        context: contextvars.Context | None = None,
    ) -> None:
        task = asyncio.create_task(coro, name=name, context=context)
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
            register_secret(urllib.parse.urlsplit(rc.url).password)  # never log the password
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
            # every log line of the feed's task, its stdlib libraries' included, names the feed
            self._own(
                feed.run(writer, self.subscriptions),
                f"feed:{feed.name}",
                self._feed_tasks,
                context=context_with(feed=feed.name),
            )

    async def _start_engine(self) -> None:
        assert self.redis is not None
        rc, cfg = self.cfg.redis, self.cfg
        self.engine = Engine(cfg, self.loaded.portfolio, events=self.loaded.events)
        consumer = bus.QuoteConsumer(
            self.redis,
            prefix=rc.key_prefix,
            group="engine",
            consumer=cfg.engine.consumer or f"{socket.gethostname()}-{os.getpid()}",
            block_ms=rc.block_ms,
            count=rc.read_count,
            claim_idle_ms=rc.claim_idle_ms,
            dead_maxlen=rc.dead_maxlen,
        )
        store = AlertStore(self.redis, prefix=rc.key_prefix)
        machine = AlertMachine(
            cooldown_s=cfg.alerts.cooldown_s,
            repeat_interval_s=cfg.alerts.repeat_interval_s,
            states=await store.load(),
        )
        self.delivery = DeliveryService(
            self.redis,
            cfg.sinks,
            prefix=rc.key_prefix,
            clock=self.clock,
            registry=self.registry,
            consumer=consumer.consumer,
        )
        outbox = Outbox(self.redis, prefix=rc.key_prefix)
        self.loop = EngineLoop(
            engine=self.engine,
            consumer=consumer,
            machine=machine,
            store=store,
            outbox=outbox,
            metrics=self.metrics,
            clock=self.clock,
            on_appended=self._deliver_first,
        )
        self._own(self.delivery.run(), "delivery", self._tasks)
        self._own(self.loop.run_forever(cfg.engine.cadence_ms / 1000), "engine", self._tasks)

    def _market_view(self) -> MarketView:
        """What the engine knows of the market, for choosing ATM strikes and roll candidates."""
        if self.engine is None:
            return MarketView()
        m = self.engine.market
        spx_row = m.index.get("SPX")
        spot = float(m.last[spx_row]) if spx_row is not None else float("nan")
        futures = {}
        for inst in m.instruments:
            if inst.kind is symbols.Kind.FUTURE and inst.expiry is not None:
                row = m.index[inst.symbol]
                mid = (m.bid[row] + m.ask[row]) / 2
                if mid != mid:  # no two-sided quote (Cboe's futures file has only last)
                    mid = m.last[row]
                if mid == mid:  # not NaN
                    futures[inst.expiry] = float(mid)
        return MarketView(spx_spot=spot if spot == spot else None, vx_futures=futures)

    def _wanted(self) -> frozenset[str]:
        now_ns = self.clock.now_ns()
        if self.engine is not None:
            now_ns = self.engine.now_ns(now_ns)
        return required_symbols(self.loaded.portfolio, self._market_view(), now_ns)

    async def _follow_market(self, every_s: float = 30.0) -> None:
        """Re-derive the subscription set as the market moves (ATM region, roll candidates)."""
        while True:
            await asyncio.sleep(every_s)  # periodic re-derivation, not synchronization
            self.subscriptions.replace(self._wanted())

    async def _deliver_first(self, outbox_ids: list[str]) -> None:
        """New alerts are in the outbox: let delivery send them before more quotes are read."""
        if self.delivery is not None:
            self.delivery.wake()
            await self.delivery.head_start(outbox_ids[-1], DELIVERY_HEAD_START_S)

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
        # the engine prices, and so does the simulator feed (it quotes options at model prices)
        if self.role != "ingest" or any(isinstance(f, SimulatorFeedConfig) for f in self.cfg.feeds):
            # Loading the pricing kernels takes ~15 s when numba's cache is cold (a fresh install,
            # a container's tmpfs). Inside the first cycle it would block the loop long enough
            # for every Redis call in flight to time out, so it happens before any I/O starts.
            started = time.monotonic()
            await asyncio.to_thread(black.warm_up)
            log.info("pricing_kernels_loaded", seconds=round(time.monotonic() - started, 3))
        await self._start_redis()
        if self.role in ("all", "ingest"):
            self._start_feeds()
        if self.role in ("all", "engine"):
            await self._start_engine()
        if self.role == "all":
            self._own(self._follow_market(), "subscriptions", self._tasks)
        await self._start_http()
        self._own(self._announce_ready(), "sd-ready", self._tasks)
        # Everything loaded so far (numba, numpy, the kernels: ~200k objects) lives as long as
        # the process. Frozen, the collector stops rescanning it: a full collection drops from
        # ~50-120 ms, a pause every alert would wait out, to the objects made since.
        gc.collect()
        gc.freeze()
        self.started.set()
        log.info("started", role=self.role, redis=self.redis_url, feeds=list(self.feeds))

    async def _announce_ready(self) -> None:
        """READY=1 once the first snapshot exists; then feed the watchdog while cycles complete."""
        loop = self.loop
        if loop is not None:
            await loop.first_cycle.wait()
        self.notifier.ready(self._status_line())
        interval = self.notifier.watchdog_interval_s
        if interval is None:
            return
        # ingest has no engine cycles: a live event loop is its proof of life
        progress = (lambda: loop.progress) if loop is not None else time.monotonic_ns
        await ProgressWatchdog(self.notifier, progress).run(interval)

    def _status_line(self) -> str:
        books = len(self.loaded.portfolio.books)
        return f"running: role {self.role}, {books} book(s), {len(self.feeds)} feed(s)"

    async def reload(self) -> tuple[bool, str]:
        """Re-read config and portfolio; validate everything first, then swap in one step.

        Nothing awaits between validation and swap, so no cycle or request sees half a reload.
        A bad file keeps the running config and sets vixmon_config_last_reload_successful 0.
        """
        self.notifier.reloading(time.monotonic_ns() // 1000)
        try:
            loaded = settings.load(self.loaded.config_path)
            rates = rate_curve(loaded.settings)
            level = reloading.log_level(loaded.settings.logging.level)
        except (settings.ConfigError, ValueError) as exc:
            errors = exc.errors if isinstance(exc, settings.ConfigError) else [str(exc)]
            self._reload_ok.set(0)
            self.notifier.ready("running on the previous config: reload failed")
            log.error("config_reload_failed", errors=errors)
            return False, "\n".join(errors)
        restart = reloading.restart_required(self.cfg, loaded.settings)
        self.loaded, self.cfg = loaded, loaded.settings
        if self.engine is not None:
            self.engine.settings, self.engine.rates = loaded.settings, rates
            self.engine.set_portfolio(loaded.portfolio)
            self.engine.events = loaded.events
        before = self.subscriptions.current()
        self.subscriptions.replace(self._wanted())
        logging.getLogger().setLevel(level)  # structlog's stdlib loggers follow the root
        self._reload_ok.set(1)
        self._reload_ts.set(time.time())
        self.notifier.ready(self._status_line())
        log.info(
            "config_reloaded",
            config=str(loaded.config_path),
            restart_required=restart,
            **reloading.subscription_diff(before, self.subscriptions.current()),
        )
        return True, "reloaded" + (f"; restart to apply {', '.join(restart)}" if restart else "")

    @property
    def force(self) -> bool:
        return self._forced.is_set()

    def request_stop(self, *, force: bool = False) -> None:
        """Begin shutdown: drain within ``shutdown.drain_timeout_s``; ``force`` skips the drain."""
        if force:
            self._forced.set()
        self.stop_requested.set()

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("signal_received", signal=sig.name)
        match sig:
            case signal.SIGHUP:
                self._own(self._reload_task(), "reload", self._tasks)
            case signal.SIGINT:  # like uvicorn: a second Ctrl-C during the drain forces the exit
                self.request_stop(force=self.stop_requested.is_set())
            case _:
                self.request_stop()

    def _install_signals(self) -> list[signal.Signals]:
        if not self.handle_signals:
            return []
        loop = asyncio.get_running_loop()
        signals = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        return signals

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
        await lifecycle.cancel_all(self._feed_tasks)
        if not self.force:
            await self._drain_within(self.cfg.shutdown.drain_timeout_s)
        await lifecycle.cancel_all(self._tasks)
        if self._runner is not None:
            await self._runner.cleanup()
        if self.redis is not None:
            await self.redis.aclose()
        if self.embedded is not None:
            await self.embedded.stop()
        log.info("stopped", exit_code=self.exit_code)

    async def _drain_within(self, limit_s: float) -> None:
        """Drain within ``limit_s`` unless a forced stop comes first; log how it ended."""
        log.info("draining", limit_s=limit_s)
        try:
            ending = await lifecycle.within(self._drain(), limit_s, self._forced)
        except Exception as exc:
            log.error("drain_failed", error=repr(exc))
            return
        if ending == "done":
            log.info("drained")
        else:
            log.warning("drain_cut_short", reason=ending, limit_s=limit_s)

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
