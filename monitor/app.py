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
import datetime as dt
import gc
import logging
import os
import signal
import socket
import time
import urllib.parse
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis
import structlog
from prometheus_client import CollectorRegistry, Gauge
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters.accounts import AccountBooks
from adapters.base import FeedAdapter, FeedStats
from adapters.registry import FeedContext, build_feed
from adapters.simulator.config import SimulatorFeedConfig
from monitor import book_sums, bus, key_migration, lifecycle, reloading, settings, snapshot, symbols
from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine
from monitor.baseline_store import BaselineStore
from monitor.clock import Clock, LiveClock
from monitor.engine import Engine, rate_curve
from monitor.history.store import HistoryKeeper, MemoryStore
from monitor.http import HttpPolicy, HttpServer, make_app, session_cookie
from monitor.logging import context_with, redact_text, register_secret
from monitor.metrics import VERSION, PipelineMetrics, StateCollector
from monitor.model import Portfolio
from monitor.pipeline import EngineLoop
from monitor.plan import api as plan_api
from monitor.positions.accounts import status as account_status
from monitor.positions.ledger import Realization
from monitor.positions.metrics import AccountCollector
from monitor.positions.store import LedgerStore
from monitor.pricing import black
from monitor.redis_server import EmbeddedRedis, RedisHealth
from monitor.rules_metrics import RulesCollector
from monitor.scale.partitions import books_of
from monitor.scale.replica import (
    Replica,
    catch_up_id,
    deliver_when_elected,
    quote_group,
    start_replica,
)
from monitor.sdnotify import Notifier, ProgressWatchdog
from monitor.secrets import read_secret
from monitor.sinks.delivery import DeliveryService
from monitor.sinks.outbox import Outbox, redis_restarted_event
from monitor.subscriptions import (
    ListedStrikes,
    MarketView,
    Subscriptions,
    ny_date,
    required_symbols,
)
from monitor.web import api as web_api
from monitor.web import routes as web_routes
from monitor.web.hub import Hub

log = structlog.get_logger(__name__)

Role = Literal["all", "ingest", "engine"]
EXIT_OK, EXIT_FAILED = 0, 1
DELIVERY_HEAD_START_S = 0.05
"""How long the engine waits after appending alerts for the sinks to try them (a hung sink
costs each alerting cycle at most this)."""


def page_url(host: str, port: int) -> str:
    """Return the address to open the risk page at (a wildcard bind: via loopback)."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/"

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
        self.redis_health = RedisHealth(self.registry)
        self._redis_exit: int | None = None
        self.redis: aioredis.Redis | None = None
        self.feeds: dict[str, FeedAdapter] = {}
        self.subscriptions = Subscriptions(
            required_symbols(loaded.portfolio, MarketView(), self.clock.now_ns())
        )
        self.listed = ListedStrikes()
        """Listed strikes the Cboe and Tradier feeds report, for the subscription window."""
        self.engine: Engine | None = None
        self._aside: ThreadPoolExecutor | None = None
        self.baseline_store: BaselineStore | None = None
        self.history: HistoryKeeper | None = None
        self.loop: EngineLoop | None = None
        self.ledger_store: LedgerStore | None = None
        self.delivery: DeliveryService | None = None
        self.replica: Replica | None = None
        """This engine's share of partitioned books (``[scale] partitions``), else None."""
        self._feed_tasks: set[asyncio.Task[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: HttpServer | None = None
        self.http_port: int | None = None
        self.hub = Hub()
        """The risk page's event stream: published after every evaluation."""
        self.registry.register(StateCollector(self._state, self._feed_stats))
        self.registry.register(RulesCollector(lambda: getattr(self.engine, "last_cycle", None)))
        self._typed_portfolio = loaded.portfolio
        """The portfolio TOML's books; account books replace those of their name."""
        self.accounts = (AccountBooks(self.cfg.accounts, self.clock, loaded.base_dir)
                         if self.cfg.accounts else None)
        if self.accounts is not None:
            accts = self.accounts
            self.registry.register(AccountCollector(
                lambda: [s.state for s in accts.sources], self.clock.now_ns,
                lambda source: len(accts.unplaced_by_source.get(source, []))))

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
            "scale": None if self.replica is None else {
                "replica": self.replica.leases.replica,
                "partitions": self.cfg.scale.partitions,
                "owned": sorted(self.replica.scope.applied),
                "live": list(self.replica.leases.live),
                "delivering": self.replica.leases.delivering,
            },
            "config": str(self.loaded.config_path),
            "portfolio": None if self.loaded.portfolio_path is None else str(
                self.loaded.portfolio_path),
            # what the running config monitors: a reload shows here at once
            "books": {
                b.name: [c.name for c in b.condors] + [y.name for y in b.layers]
                + [o.name for o in b.others]
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
        if cycle is None:
            return None
        doc = snapshot.build(cycle)
        if self.accounts is not None:  # what the brokers hold that no structure could take
            mapped = {s.state.book for s in self.accounts.sources}
            for book in doc["books"]:
                if book["name"] in mapped:
                    book["unplaced_positions"] = [
                        msgspec.structs.asdict(u) for u in self.accounts.unplaced_in(book["name"])]
        return doc

    def plan(self, book: str | None) -> tuple[int, dict[str, Any]]:
        if self.engine is None:
            return 503, {"error": "this process runs no engine (role ingest)"}
        return plan_api.plan(self.engine, book)

    def risk_profile(self, book: str | None, structure: str | None) -> tuple[int, Any]:
        if self.engine is None:
            return 503, {"error": "this process runs no engine (role ingest)"}
        return web_api.risk_profile(self.engine.last_cycle, book, structure)

    def alerts(self) -> dict[str, Any]:
        states = {} if self.loop is None else self.loop.machine.states
        return self.hub.alerts_doc({k: st for k, st in states.items() if st.firing})

    def live(self) -> dict[str, Any] | None:
        """The risk page's document: what its event stream sends after each evaluation."""
        return web_api.live_doc(
            cycle=None if self.engine is None else self.engine.last_cycle,
            snapshot=self.snapshot(),
            status=self.status(),
            profile_of=self.risk_profile,
            plan_of=self.plan,
            alerts=self.alerts(),
            layer_gain_thresholds=list(self.cfg.rules.layer_gain.thresholds),
        )

    async def set_baseline(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Set a book's vega baseline (an explicit command) and store it at once."""
        if self.engine is None:
            return 503, {"error": "this process runs no engine (role ingest)"}
        code, doc = plan_api.set_baseline(self.engine, body, self.clock.now_ns())
        await self._save_baselines()
        if code == 200:
            log.info("vega_baseline_set", **doc)
        return code, doc

    async def _save_baselines(self) -> None:
        if self.engine is not None and self.baseline_store is not None:
            await self.baseline_store.save(self.engine.memory.vega.drain())

    async def _persist_baselines(self, every_s: float = 1.0) -> None:
        """Store the baselines the engine set (first valid cycle, an executed plan)."""
        while True:
            await asyncio.sleep(every_s)  # periodic flush, not synchronization
            await self._save_baselines()

    def ready(self) -> tuple[bool, str]:
        if self.redis is None:
            return False, "redis not connected"
        if (down := self.redis_health.down_reason) is not None:
            return False, down
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
        if rc.url or rc.sentinels:  # with Sentinels, url only carries credentials (or is empty)
            self.redis_url = rc.url
            register_secret(urllib.parse.urlsplit(rc.url).password)  # never log the password
        else:
            self.embedded = EmbeddedRedis(self.loaded.state_dir)
            await self.embedded.start()
            self.redis_url = self.embedded.url
        self.redis = bus.connect(
            self.redis_url, socket_timeout_s=rc.socket_timeout_s, cluster=rc.cluster,
            sentinels=rc.sentinel_addresses(), sentinel_master=rc.sentinel_master,
        )  # fmt: skip
        await self.redis.ping()
        if not rc.cluster:
            await key_migration.migrate(self.redis, rc.key_prefix)
        if self.embedded is not None:
            supervise = self.embedded.supervise(on_down=self._redis_down, on_up=self._redis_up)
            self._own(supervise, "redis-supervisor", self._tasks)

    def _redis_down(self, returncode: int | None) -> None:
        self._redis_exit = returncode
        self.redis_health.mark_down("embedded", f"embedded redis exited ({returncode}); restarting")

    async def _redis_up(self, down_s: float) -> None:
        """The embedded Redis is back: say so through every sink, and stop waiting for it."""
        self.redis_health.mark_up("embedded")
        self.redis_health.restarts.inc()
        if self.delivery is not None:
            self.delivery.wake()
        assert self.redis is not None
        event = redis_restarted_event(self._redis_exit, down_s, self.clock.now_ns())
        try:
            await Outbox(self.redis, prefix=self.cfg.redis.key_prefix).append([event])
        except (RedisConnectionError, RedisTimeoutError) as exc:  # it died again: logged there
            log.error("redis_restart_alert_not_queued", error=str(exc))

    def _start_feeds(self) -> None:
        assert self.redis is not None
        rc = self.cfg.redis
        writer = bus.QuoteWriter(self.redis, prefix=rc.key_prefix, maxlen=rc.quotes_maxlen)
        ctx = FeedContext(clock=self.clock, base_dir=self.loaded.base_dir, listed=self.listed)
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
        self.replica = None
        if cfg.scale.partitions:  # join the engines sharing the books
            self.replica = await start_replica(self.redis, cfg, self._replica_name(),
                                               self.registry)
        first_books = self.loaded.portfolio if self.replica is None else Portfolio(books=[])
        # the engine's second thread: half of a large cycle's analysis runs on it
        self._aside = ThreadPoolExecutor(1, thread_name_prefix="vixmon-aside")
        self.engine = Engine(cfg, first_books, events=self.loaded.events, aside=self._aside)
        # the trader's vega targets survive restarts: stored ones win over a fresh first cycle
        self.baseline_store = BaselineStore(self.redis, prefix=rc.key_prefix)
        self.engine.memory.vega.load(await self.baseline_store.load())
        self.history = self._history_keeper(self.engine)
        await self.history.start(self.engine.now_ns(self.clock.now_ns()), self._today())
        # the realized P&L ledger: what a portfolio change made while stopped closed is realized
        # now (unpriced unless the portfolio gives the exit price: no marks exist yet)
        self.ledger_store = LedgerStore(self.redis, prefix=rc.key_prefix)
        self.engine.ledger = await self.ledger_store.load()
        now_ns = self.engine.now_ns(self.clock.now_ns())
        await self._save_ledger(self.engine.reconcile_ledger(now_ns))
        consumer = bus.QuoteConsumer(
            self.redis,
            prefix=rc.key_prefix,
            group="engine" if self.replica is None else quote_group(self.replica.leases.replica),
            start_id="0" if self.replica is None else await catch_up_id(
                self.redis, cfg.engine.mark_max_age_s),
            consumer=cfg.engine.consumer or self._replica_name(),
            block_ms=rc.block_ms,
            count=rc.read_count,
            claim_idle_ms=rc.claim_idle_ms,
            dead_maxlen=rc.dead_maxlen,
            dead_raw_max_bytes=rc.dead_raw_max_bytes,
            max_entry_bytes=rc.max_entry_bytes,
        )
        store = AlertStore(self.redis, prefix=rc.key_prefix)
        machine = AlertMachine(
            cooldown_s=cfg.alerts.cooldown_s,
            repeat_interval_s=cfg.alerts.repeat_interval_s,
            states=await store.load() if self.replica is None else {},
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
            known_feeds=frozenset(f.name for f in cfg.feeds),
        )
        self.loop.on_cycle = lambda _cycle, events: self.hub.publish(events)
        if self.replica is None:
            self._own(self.delivery.run(), "delivery", self._tasks)
        else:
            self.loop.scope = self.replica.scope
            self.loop.before_turn = self._apply_partitions
            await self._apply_partitions()
            self._own(self.replica.run(), "leases", self._tasks)
            self._own(self._deliver_when_elected(), "delivery", self._tasks)
        self._own(self._persist_baselines(), "baselines", self._tasks)
        loop, cadence_s = self.loop, cfg.engine.cadence_ms / 1000

        async def reload_alert_states() -> None:
            loop.machine = AlertMachine(
                cooldown_s=self.cfg.alerts.cooldown_s,
                repeat_interval_s=self.cfg.alerts.repeat_interval_s,
                states=await store.load() if self.replica is None else {},
            )
            if self.replica is not None:  # Redis came back: reload every held partition
                self.replica.scope.applied = frozenset()

        engine = self.redis_health.keep_running(
            "engine", lambda: loop.run_forever(cadence_s), self.redis, resume=reload_alert_states
        )
        self._own(engine, "engine", self._tasks)
        self._own(self.history.run(self.clock.now_ns, self._today), "history", self._tasks)

    def _replica_name(self) -> str:
        return self.cfg.scale.replica or f"{socket.gethostname()}-{os.getpid()}"

    def _engine_books(self, portfolio: Portfolio) -> Portfolio:
        """Return what this engine evaluates of ``portfolio``: all of it, or its partitions'."""
        if self.replica is None:
            return portfolio
        return books_of(portfolio, self.replica.scope.applied, self.cfg.scale.partitions)

    async def _apply_partitions(self) -> None:
        """Between two cycles: evaluate the partitions the leases now hold."""
        replica, engine, loop = self.replica, self.engine, self.loop
        if replica is None or engine is None or loop is None or self.baseline_store is None:
            return
        await replica.apply(engine, loop.machine, self.loaded.portfolio, self.baseline_store.load)

    async def _deliver_when_elected(self) -> None:
        assert self.replica is not None and self.delivery is not None
        await deliver_when_elected(self.replica, self.delivery)

    def _history_keeper(self, engine: Engine) -> HistoryKeeper:
        """Rule memory kept in Redis and the daily VIX bars' backfill (``monitor.history``)."""
        assert self.redis is not None
        hc = self.cfg.history
        replica = None if self.replica is None else self.replica.leases.replica
        store = MemoryStore(self.redis, prefix=self.cfg.redis.key_prefix,
                            replica=replica) if hc.persist else None
        return HistoryKeeper(
            engine.memory, store, url=hc.vix_csv_url,
            cache=self.loaded.state_dir / hc.vix_csv_cache, fetch_timeout_s=hc.fetch_timeout_s,
            save_interval_s=hc.save_interval_s, max_age_ns=round(hc.max_age_s * 1e9),
        )

    def _today(self) -> dt.date:
        return ny_date(self.clock.now_ns())

    def _market_view(self) -> MarketView:
        """What the engine knows of the market, for choosing ATM strikes and roll candidates."""
        if self.engine is None:
            return MarketView(chain_strikes=self.listed.current())
        m = self.engine.market
        now_ns = self.engine.now_ns(self.clock.now_ns())
        marks = m.marks(now_ns, round(self.cfg.engine.last_trade_max_age_s * 1e9))
        spx_row = m.index.get("SPX")
        spot = float(m.last[spx_row]) if spx_row is not None else float("nan")
        futures = {}
        for inst in m.instruments:
            if inst.kind is symbols.Kind.FUTURE and inst.expiry is not None:
                mark = float(marks.price[m.index[inst.symbol]])  # mid, last or settlement
                if mark == mark:  # not NaN
                    futures[inst.expiry] = mark
        return MarketView(
            spx_spot=spot if spot == spot else None,
            vx_futures=futures,
            chain_strikes=self.listed.current(),
        )

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
        if not outbox_ids or (self.replica is not None and not self.replica.leases.delivering):
            return
        if self.delivery is not None:
            self.delivery.wake()
            await self.delivery.head_start(outbox_ids[-1], DELIVERY_HEAD_START_S)

    async def _start_http(self) -> None:
        hc = self.cfg.http
        policy = HttpPolicy(
            token=read_secret(hc.token),
            protect=hc.protect,
            loopback=settings.is_loopback_host(hc.host),
            allowed_hosts=frozenset(h.lower() for h in hc.allowed_hosts),
            max_body_bytes=hc.max_body_bytes,
            body_timeout_s=hc.body_timeout_s,
        )
        token = policy.token
        page = web_routes.routes(
            self, session_cookie=lambda: None if token is None else session_cookie(token)
        )
        http_app = make_app(self, self.registry, policy, extra_routes=page)
        http_app.on_shutdown.append(self.hub.close)  # open event streams end, then the server
        server = HttpServer(
            http_app,
            header_timeout_s=hc.header_timeout_s,
            max_connections=hc.max_connections,
        )
        await server.start(hc.host, hc.port)
        self._http = server
        self.http_port = server.port
        log.info("http_listening", host=hc.host, port=self.http_port, token=bool(policy.token))
        log.info("risk_page", url=page_url(hc.host, self.http_port),
                 login=None if token is None else "open /login and enter http.token")  # fmt: skip

    async def startup(self) -> None:
        # the engine prices, and so does the simulator feed (it quotes options at model prices)
        if self.role != "ingest" or any(isinstance(f, SimulatorFeedConfig) for f in self.cfg.feeds):
            # Loading the pricing kernels takes ~15 s when numba's cache is cold (a fresh install,
            # a container's tmpfs). Inside the first cycle it would block the loop long enough
            # for every Redis call in flight to time out, so it happens before any I/O starts.
            started = time.monotonic()
            await asyncio.to_thread(black.warm_up)
            await asyncio.to_thread(book_sums.warm_up)
            log.info("pricing_kernels_loaded", seconds=round(time.monotonic() - started, 3),
                     backend=black.backend())
        await self._start_redis()
        if self.role in ("all", "ingest"):
            self._start_feeds()
        if self.role in ("all", "engine"):
            await self._start_engine()
            if self.accounts is not None:
                self._own(self.accounts.run(self._apply_positions), "accounts", self._tasks)
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
            typed = loaded.portfolio
            if self.accounts is not None:  # the accounts' books stay what the brokers say
                loaded = msgspec.structs.replace(
                    loaded, portfolio=self.accounts.portfolio(loaded.portfolio))
            rates = rate_curve(loaded.settings)
            level = reloading.log_level(loaded.settings.logging.level)
        except (settings.ConfigError, ValueError) as exc:
            errors = exc.errors if isinstance(exc, settings.ConfigError) else [str(exc)]
            self._reload_ok.set(0)
            self.notifier.ready("running on the previous config: reload failed")
            log.error("config_reload_failed", errors=errors)
            return False, "\n".join(errors)
        restart = reloading.restart_required(self.cfg, loaded.settings)
        self.loaded, self.cfg, self._typed_portfolio = loaded, loaded.settings, typed
        realized: list[Realization] = []
        if self.engine is not None:
            self.engine.settings, self.engine.rates = loaded.settings, rates
            self.engine.set_portfolio(self._engine_books(loaded.portfolio))
            realized = self.engine.reconcile_ledger(
                self.engine.now_ns(self.clock.now_ns()), loaded.portfolio)
            self.engine.events = loaded.events
        before = self.subscriptions.current()
        self.subscriptions.replace(self._wanted())
        logging.getLogger().setLevel(level)  # structlog's stdlib loggers follow the root
        self._reload_ok.set(1)
        self._reload_ts.set(time.time())
        self.notifier.ready(self._status_line())
        await self._save_ledger(realized)
        log.info(
            "config_reloaded",
            config=str(loaded.config_path),
            restart_required=restart,
            **reloading.subscription_diff(before, self.subscriptions.current()),
        )
        return True, "reloaded" + (f"; restart to apply {', '.join(restart)}" if restart else "")

    async def _apply_positions(self) -> None:
        """A broker's positions or balances changed: swap the book in as a reload does (the
        ledger realizes what was reduced or removed, the feeds subscribe to new legs)."""
        assert self.accounts is not None
        portfolio = self.accounts.portfolio(self._typed_portfolio)
        self.loaded = msgspec.structs.replace(self.loaded, portfolio=portfolio)
        realized: list[Realization] = []
        if self.engine is not None:
            self.engine.accounts = self.accounts.broker_accounts()
            now_ns = self.clock.now_ns()
            self.engine.account_status = tuple(
                account_status(s.state, now_ns) for s in self.accounts.sources)
            books = self._engine_books(portfolio)
            if books == self.engine.portfolio:
                return
            self.engine.set_portfolio(books)
            realized = self.engine.reconcile_ledger(
                self.engine.now_ns(self.clock.now_ns()), portfolio)
        before = self.subscriptions.current()
        self.subscriptions.replace(self._wanted())
        await self._save_ledger(realized)
        log.info("positions_changed", books=[b.name for b in portfolio.books],
                 unplaced=[f"{u.symbol} {u.quantity:+d}: {u.reason}"
                           for u in self.accounts.unplaced][:50],
                 **reloading.subscription_diff(before, self.subscriptions.current()))

    async def _save_ledger(self, realized: list[Realization]) -> None:
        """Log what a portfolio change realized and persist the ledger (kept in memory if not)."""
        if self.engine is None or self.ledger_store is None:
            return
        for e in realized:
            log.info(
                "position_realized",
                book=e.book,
                structure=e.structure,
                symbol=e.symbol,
                quantity=e.quantity,
                entry_price=e.entry_price,
                exit_price=e.exit_price,
                source=e.source,
                realized_usd=round(e.realized_usd, 2),
            )
            if e.source == "unpriced":
                log.warning("exit_price_missing", book=e.book, structure=e.structure,
                            symbol=e.symbol, hint="add it under [[books.exits]] and reload")
        try:
            await self.ledger_store.save(self.engine.ledger)
        except Exception as exc:  # the ledger stays in memory; the next save writes it all
            log.error("ledger_save_failed", error=repr(exc))

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
        if self.replica is not None and self.redis is not None:
            try:  # hand the partitions over now rather than after the TTL
                await self.replica.leases.release_all()
            except Exception as exc:
                log.warning("lease_release_failed", error=repr(exc))
        if self.history is not None and self.redis is not None:
            await self.history.save(self.clock.now_ns())
        if self._http is not None:
            await self._http.close()
        if self._aside is not None:
            self._aside.shutdown(wait=True)  # the tasks are gone: at most one analysis finishes
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
                await loop.evaluate_guarded()
            except Exception as exc:  # keep shutting down; the entries stay pending in Redis
                log.error("drain_failed", error=repr(exc))
        if delivery is not None:
            await delivery.drain(self.cfg.shutdown.drain_timeout_s)
