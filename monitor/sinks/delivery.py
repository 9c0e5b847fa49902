"""The delivery service: one worker per sink over the outbox, plus their shared lifecycle.

Secrets are read when the service is built (a missing one fails startup, not the first alert).
``run`` creates the consumer groups that are missing, then runs every worker and the pending
gauge refresher in one TaskGroup until ``drain`` (or cancellation). Workers block inside Redis
(``XREADGROUP BLOCK``), so an XADD from any process wakes them at once.

A consumer group that vanishes while running (``NOGROUP``: Redis restarted without its data)
is recreated, and a critical ``data_loss`` alert event is appended so that every sink says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping, Sequence

import aiohttp
import msgspec
import redis.asyncio as aioredis
import structlog
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from monitor.clock import Clock
from monitor.logging import redact_text
from monitor.sinks.config import (
    LogSinkConfig,
    RetryConfig,
    SinkConfig,
    SlackSinkConfig,
    WebhookSinkConfig,
)
from monitor.sinks.factory import SinkPlan, build_sink, resolve, sink_kind
from monitor.sinks.metrics import DeliveryMetrics
from monitor.sinks.outbox import (
    DEFAULT_MAXLEN,
    GroupLostError,
    Outbox,
    OutboxGroup,
    create_group,
    data_loss_event,
    first_entry_id,
    group_names,
    recreated_start_id,
)
from monitor.sinks.ratelimit import TokenBucket
from monitor.sinks.worker import SinkWorker, Sleep, WorkerSettings

log = structlog.get_logger(__name__)

_PENDING_REFRESH_S = 5.0
_PENDING_MIN_INTERVAL_S = 0.2
_CANCEL_TRIES = 10
_CANCEL_WAIT_S = 0.5


class SinkStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One sink as ``/api/v1/status`` shows it (never a URL or a secret)."""

    name: str
    kind: str
    enabled: bool
    pending: int | None
    delivered: int
    dead: int
    last_error: str | None
    last_delivered_ns: int | None


class DeliveryService:
    def __init__(
        self,
        redis: aioredis.Redis,
        sinks: Sequence[SinkConfig],
        *,
        prefix: str = "vixmon",
        clock: Clock,
        registry: CollectorRegistry,
        consumer: str,
        maxlen: int | None = DEFAULT_MAXLEN,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        read_block_s: float = 1.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique: {names}")
        self._redis = redis
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._read_block_ms = max(round(read_block_s * 1000), 1)
        self.outbox = Outbox(redis, prefix=prefix, maxlen=maxlen)
        env = None if environ is None else dict(environ)
        self._plans = [resolve(s, env) for s in sinks]
        self._groups = {
            n: OutboxGroup(redis, prefix=prefix, group=n, consumer=consumer, dead_maxlen=maxlen)
            for n in names
        }
        self._metrics = DeliveryMetrics(registry, names)
        for name in names:
            self._metrics.sink(name).enabled.set(1)
        self._pending: dict[str, int] = {}
        self._workers: list[SinkWorker] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._groups_lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._attempts = asyncio.Event()
        self._stopping = False

    async def prepare(self) -> None:
        """Create the consumer groups that are missing (``run`` does it too; idempotent).

        A brand-new outbox (no groups at all) is read from its start, so events appended before
        the first run are delivered; a sink added later starts with the events after it.
        """
        await self._ensure_groups(recovering=False)

    async def run(self) -> None:
        """Run one worker per sink until ``drain`` or cancellation; failures propagate."""
        await self.prepare()
        if self._stopping:
            return
        async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as tg:
            self._workers = [self._worker(plan, session) for plan in self._plans]
            self._tasks = [
                tg.create_task(w.run(), name=f"alert-sink-{w.name}") for w in self._workers
            ]
            refresher = tg.create_task(self._refresh_loop(), name="alert-outbox-pending")
            try:
                await self._stopped.wait()
            except asyncio.CancelledError:
                # on 3.11 redis-py's wait_for can swallow a child's cancellation: the stop
                # flags end every loop anyway
                self._stop_all()
                raise
            refresher.cancel()

    async def drain(self, timeout_s: float) -> None:
        """Finish in-flight deliveries (up to ``timeout_s``), then stop every worker.

        Idle or backing-off workers stop at once; what is not delivered stays in the outbox
        and goes out after the next start. ``run`` returns once this has.
        """
        self._stop_all()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=timeout_s)
            if late:
                log.warning("alert_drain_timeout", timeout_s=timeout_s, sinks=len(late))
                await _cancel(late)
        self._stopped.set()

    def _stop_all(self) -> None:
        self._stopping = True
        self._dirty.set()
        for worker in self._workers:
            worker.stop()

    def wake(self) -> None:
        """Tell workers Redis is reachable (an append just succeeded): stop waiting for it.

        New entries need no wake-up: workers block on the stream inside Redis.
        """
        for worker in self._workers:
            worker.wake()

    async def head_start(self, outbox_id: str, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until every sink has tried the outbox entries up to
        ``outbox_id``; return whether they all had.

        The engine calls this after appending alerts, so a fresh alert goes out before the
        event loop turns back to quotes: a delivery needs several loop turns (read, send,
        response), and each would otherwise queue behind a batch or an evaluation. A sink that
        is backing off, rate limited, grouping or disabled counts as having tried.
        """
        if not self._workers:
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not all(w.attempted(outbox_id) for w in self._workers):
                    self._attempts.clear()
                    await self._attempts.wait()
                return True
        return False

    def status(self) -> list[SinkStatus]:
        """Return each sink's state for the status API."""
        workers = {w.name: w for w in self._workers}
        out = []
        for plan in self._plans:
            name = plan.config.name
            w = workers.get(name)
            out.append(
                SinkStatus(
                    name=name,
                    kind=sink_kind(plan.config),
                    enabled=w.enabled if w else True,
                    pending=self._pending.get(name),
                    delivered=w.delivered if w else 0,
                    dead=w.dead if w else 0,
                    last_error=redact_text(w.last_error) if w and w.last_error else None,
                    last_delivered_ns=w.last_delivered_ns if w else None,
                )
            )
        return out

    async def refresh_pending(self) -> None:
        """Update ``vixmon_alert_outbox_pending`` for every sink from Redis."""
        for name, group in self._groups.items():
            try:
                pending = await group.pending()
            except GroupLostError:
                continue  # the worker notices and recreates it
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.debug("alert_pending_refresh_failed", error=str(exc))
                return
            self._pending[name] = pending
            self._metrics.sink(name).pending.set(pending)

    async def _refresh_loop(self) -> None:
        while not self._stopping:
            await self.refresh_pending()
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_PENDING_REFRESH_S):
                    await self._dirty.wait()
            self._dirty.clear()
            if not self._stopping:
                await asyncio.sleep(_PENDING_MIN_INTERVAL_S)  # coalesce a burst of changes

    async def _recover(self) -> None:
        await self._ensure_groups(recovering=True)

    async def _ensure_groups(self, *, recovering: bool) -> None:
        async with self._groups_lock:
            key = self.outbox.key
            existing = await group_names(self._redis, key)
            missing = [name for name in self._groups if name not in existing]
            if not missing:
                return
            if recovering:
                first_id = await first_entry_id(self._redis, key)
                seen = {w.name: w.last_seen_id for w in self._workers}
                starts = {
                    n: recreated_start_id(first_id=first_id, last_seen=seen.get(n, "0"))
                    for n in missing
                }
            else:
                starts = dict.fromkeys(missing, "$" if existing else "0")
            created = {
                name: start
                for name, start in starts.items()
                if await create_group(self._redis, key, name, start_id=start)
            }
            if not created:
                return
            if not recovering:
                log.info("alert_outbox_groups_created", groups=created)
                return
            await self.outbox.append([data_loss_event(key, list(created), self._clock.now_ns())])
            self._metrics.data_loss.inc()
            log.critical(
                "alert_outbox_data_loss",
                stream=key,
                recreated_groups=created,
                hint="Redis lost the outbox (restart without AOF?); undelivered alerts may be "
                "gone. Review firing alerts by hand.",
            )

    def _worker(self, plan: SinkPlan, session: aiohttp.ClientSession) -> SinkWorker:
        cfg = plan.config
        name = cfg.name
        match cfg:
            case LogSinkConfig():
                settings = WorkerSettings(retry=RetryConfig(), read_block_ms=self._read_block_ms)
                limiter = None
            case WebhookSinkConfig() | SlackSinkConfig():
                settings = WorkerSettings(
                    retry=cfg.retry,
                    group_wait_s=cfg.group_wait_s,
                    max_group_size=cfg.max_group_size,
                    catch_up_group_size=cfg.catch_up_group_size,
                    read_block_ms=self._read_block_ms,
                )
                rl = cfg.rate_limit
                now_ns = self._clock.monotonic_ns()
                limiter = TokenBucket(per_s=rl.per_s, burst=rl.burst, now_ns=now_ns) if rl else None
        return SinkWorker(
            build_sink(plan, session),
            self._groups[name],
            settings=settings,
            limiter=limiter,
            metrics=self._metrics.sink(name),
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
            recover=self._recover,
            on_progress=self._dirty.set,
            on_attempt=self._attempts.set,
        )


async def _cancel(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them, repeating a cancellation a library swallowed."""
    for _ in range(_CANCEL_TRIES):
        for task in tasks:
            task.cancel()
        _, tasks = await asyncio.wait(tasks, timeout=_CANCEL_WAIT_S)
        if not tasks:
            return
    log.error("alert_sink_tasks_not_cancelled", tasks=[t.get_name() for t in tasks])
