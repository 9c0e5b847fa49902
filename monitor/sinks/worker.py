"""One sink's delivery loop over its consumer group.

    reading --entries--> grouping --batch--> sending --2xx--> acking --------------> reading
                      (group_wait_s)           |  ^
                            transient failure  |  |  backoff, Retry-After, rate limit
                                               v  |
                                             waiting --older than max_age_s--> dead-lettering
    sending --rejected (e.g. 400)--> dead-lettering --> reading
    sending --destination gone (e.g. 410)--> disabled: parked until shutdown, entries stay pending

One worker sends one message at a time, so a sink receives events in stream order (with
grouping: a book's events stay in order, and a group goes out when its first event's window
closes). Backoff is capped at a few seconds, so a healed receiver is tried again soon; the
backlog then goes out as fast as the sink's rate limit allows, and when sending it one event
per message would keep events waiting more than ``CATCH_UP_AFTER_S`` at that rate, a book's
queued events go together (up to ``catch_up_group_size``).

An event's age (for ``max_age_s``) counts from its outbox id, which Redis stamps with the wall
clock when the event is queued: not from the event's own time, which is the market's time in a
replay. An entry is acknowledged only after the sink accepted it or it was dead-lettered, so a
crash anywhere means a redelivery under the same webhook-id, never a loss.

Reading and waiting are cancel-safe (nothing is half-done there): ``stop()`` cancels a worker
in those states at once, and lets a worker that is sending finish the attempt and whatever it
has already read, without waiting again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from monitor.clock import Clock
from monitor.logging import redact_text
from monitor.model import AlertEvent
from monitor.sinks.backoff import next_delay_s
from monitor.sinks.base import Delivered, Disable, Reject, Retry, Sink, message_for
from monitor.sinks.batching import Entry, make_entry, take_book
from monitor.sinks.config import RetryConfig
from monitor.sinks.metrics import SinkMetrics
from monitor.sinks.outbox import GroupLostError, OutboxGroup, RawEntry, parse_id, queued_at_ns
from monitor.sinks.ratelimit import TokenBucket

log = structlog.get_logger(__name__)

NS = 1_000_000_000
_BUFFER_MAX = 1_000
_REDIS_RETRY_MIN_S = 0.05
_REDIS_RETRY_MAX_S = 2.0
CATCH_UP_AFTER_S = 10.0
"""Group a backlog once sending it one event per message would take longer than this."""

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")
_NONE: list[RawEntry] = []  # a read's result once a lost group was recreated (never mutated)


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    retry: RetryConfig
    group_wait_s: float = 0.0
    max_group_size: int = 1
    catch_up_group_size: int = 1
    read_block_ms: int = 1_000
    read_count: int = 100


class _Stopped(Exception):
    """Raised where a stopping worker would otherwise wait."""


class SinkWorker:
    def __init__(
        self,
        sink: Sink,
        group: OutboxGroup,
        *,
        settings: WorkerSettings,
        limiter: TokenBucket | None,
        metrics: SinkMetrics,
        clock: Clock,
        sleep: Sleep,
        rng: random.Random,
        recover: Callable[[], Awaitable[None]],
        on_progress: Callable[[], None],
        on_attempt: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = sink.name
        self.kind = sink.kind
        self._sink = sink
        self._group = group
        self._settings = settings
        self._limiter = limiter
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._recover = recover
        self._on_progress = on_progress
        self._on_attempt = on_attempt
        self.enabled = True
        self.delivered = 0
        self.dead = 0
        self.last_error: str | None = None
        self.last_delivered_ns: int | None = None
        self._buffer: deque[Entry] = deque()
        self._pel_cursor: str | None = "0"
        """Where to resume reading our own pending entries; None: read new ones (``>``)."""
        self._last_id = "0"
        self._attempted_id = (0, 0)
        """The newest outbox id this worker has tried to send at least once."""
        self._pausing = False
        self._stopping = False
        self._cancel_safe = False
        self._task: asyncio.Task[None] | None = None
        self._stop_event = asyncio.Event()
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Deliver until stopped (or, once disabled, park until stopped)."""
        self._task = asyncio.current_task()
        try:
            if self._stopping:
                return
            claimed = await self._redis(self._group.claim_all, default=0)
            if claimed:
                log.info("alert_outbox_resuming", sink=self.name, pending=claimed)
            while self.enabled:
                if self._buffer:
                    await self._deliver(await self._take_batch())
                elif self._stopping:
                    return
                else:
                    await self._fill(block=True)
            with self._safe():
                await self._stop_event.wait()
        except _Stopped:
            return

    def stop(self) -> None:
        """Stop taking new work; a worker with nothing half-done is cancelled right away."""
        self._stopping = True
        self._stop_event.set()
        task = self._task
        if self._cancel_safe and task is not None and task is not asyncio.current_task():
            task.cancel()

    @property
    def last_seen_id(self) -> str:
        """The newest outbox id this worker has read ("0": none yet)."""
        return self._last_id

    def wake(self) -> None:
        """Cut short a wait for Redis to come back (something just reached it)."""
        self._wake.set()

    def attempted(self, outbox_id: str) -> bool:
        """True once this worker has tried ``outbox_id`` (or is waiting, disabled or stopping):
        nothing the caller could do would get it out sooner."""
        if not self.enabled or self._stopping or self._pausing:
            return True
        return self._attempted_id >= parse_id(outbox_id)

    # reading

    async def _fill(self, *, block: bool) -> None:
        room = _BUFFER_MAX - len(self._buffer)
        if room <= 0:
            return
        count = min(self._settings.read_count, room)
        cursor = self._pel_cursor
        entries: list[RawEntry]
        if cursor is not None:
            entries = await self._redis(
                lambda: self._group.read(cursor, count=count, block_ms=None), default=_NONE
            )
            if not entries and self._pel_cursor == cursor:
                self._pel_cursor = None
            elif entries:
                self._pel_cursor = entries[-1][0]
        else:
            block_ms = self._settings.read_block_ms if block else None
            entries = await self._redis(
                lambda: self._group.read(">", count=count, block_ms=block_ms),
                default=_NONE,
                cancel_safe=block,
            )
        self._take_in(entries)

    def _take_in(self, entries: list[RawEntry]) -> None:
        now_ns = self._clock.monotonic_ns()
        for entry_id, raw in entries:
            self._buffer.append(make_entry(entry_id, raw, now_ns))
            self._last_id = entry_id
        if entries:
            self._on_progress()

    async def _take_batch(self) -> list[Entry]:
        head = self._buffer[0]
        if head.event is None:
            return [self._buffer.popleft()]
        if self._settings.catch_up_group_size > 1 and self._behind():
            await self._fill(block=False)
            return self._pop_book(head.event.book, self._settings.catch_up_group_size)
        if self._settings.group_wait_s <= 0:
            return [self._buffer.popleft()]
        if not self._stopping:
            wait_ns = head.read_ns + round(self._settings.group_wait_s * NS)
            wait_ns -= self._clock.monotonic_ns()
            if wait_ns > 0:
                await self._pause(wait_ns / NS)
            await self._fill(block=False)
        return self._pop_book(head.event.book, self._settings.max_group_size)

    def _behind(self) -> bool:
        """True when the buffered events, one per message, outlast ``CATCH_UP_AFTER_S``."""
        if self._limiter is None:
            return False
        return len(self._buffer) > max(self._limiter.per_s * CATCH_UP_AFTER_S, 1.0)

    def _pop_book(self, book: str, max_size: int) -> list[Entry]:
        batch, self._buffer = take_book(self._buffer, book, max_size)
        return batch

    # sending

    async def _deliver(self, batch: list[Entry]) -> None:
        events = [e.event for e in batch if e.event is not None]
        if not events:
            await self._dead_letter(batch, reason="undeliverable", error=batch[0].problem)
            return
        message = message_for(events)
        queued_ns = min(queued_at_ns(e.outbox_id) for e in batch)
        attempt = 0
        while True:
            await self._rate_limit()
            attempt += 1
            outcome = await self._sink.send(message, self._clock.now_ns())
            if attempt == 1:
                newest = max(parse_id(e.outbox_id) for e in batch)
                self._attempted_id = max(self._attempted_id, newest)
                self._on_attempt()
            match outcome:
                case Delivered():
                    await self._delivered(batch, events)
                    return
                case Reject(error=error):
                    await self._dead_letter(batch, reason="rejected", error=error, attempts=attempt)
                    return
                case Disable(error=error):
                    self._disable(batch, error)
                    return
                case Retry(error=error, retry_after_s=retry_after_s):
                    age_s = max(self._clock.now_ns() - queued_ns, 0) / NS
                    delay_s = next_delay_s(
                        self._settings.retry,
                        attempt=attempt,
                        rand=self._rng.random(),
                        retry_after_s=retry_after_s,
                        age_s=age_s,
                    )
                    if delay_s is None:
                        await self._dead_letter(
                            batch, reason="max_age", error=error, attempts=attempt
                        )
                        return
                    self._failed(batch, message.id, attempt, error, delay_s, age_s)
                    await self._pause(delay_s)

    async def _rate_limit(self) -> None:
        if self._limiter is not None:
            wait_s = self._limiter.reserve(self._clock.monotonic_ns())
            if wait_s > 0:
                await self._pause(wait_s)

    async def _delivered(self, batch: list[Entry], events: list[AlertEvent]) -> None:
        now_ns = self._clock.now_ns()
        for event in events:
            self._metrics.latency_s.observe(max(now_ns - event.ts_ns, 0) / NS)
        self._metrics.delivered.inc(len(events))
        self.delivered += len(events)
        self.last_delivered_ns = now_ns
        self.last_error = None
        ids = [e.outbox_id for e in batch]
        await self._redis(lambda: self._group.ack(ids), default=None)
        self._on_progress()

    def _failed(
        self,
        batch: list[Entry],
        msg_id: str,
        attempt: int,
        error: str,
        delay_s: float,
        age_s: float,
    ) -> None:
        self._metrics.retried.inc(len(batch))
        self.last_error = error
        log.warning(
            "alert_delivery_failed",
            sink=self.name,
            webhook_id=msg_id,
            attempt=attempt,
            error=error,
            retry_in_s=round(delay_s, 3),
            gives_up_in_s=round(max(self._settings.retry.max_age_s - age_s, 0.0), 1),
        )

    async def _dead_letter(
        self, batch: list[Entry], *, reason: str, error: str, attempts: int = 0
    ) -> None:
        error = redact_text(error)
        entries = [(e.outbox_id, e.raw) for e in batch]
        now_ns = self._clock.now_ns()
        await self._redis(
            lambda: self._group.dead_letter(
                entries,
                sink=self.name,
                reason=reason,
                error=error,
                attempts=attempts,
                now_ns=now_ns,
            ),
            default=None,
        )
        self._metrics.dead.inc(len(batch))
        self.dead += len(batch)
        self.last_error = error
        log.error(
            "alert_dead_lettered",
            sink=self.name,
            reason=reason,
            error=error,
            attempts=attempts,
            alert_ids=[e.event.id for e in batch if e.event is not None],
            outbox_ids=[e.outbox_id for e in batch],
            stream=self._group.dead_key,
        )
        self._on_progress()

    def _disable(self, batch: list[Entry], error: str) -> None:
        self.enabled = False
        self.last_error = error
        self._metrics.enabled.set(0)
        self._metrics.disabled.inc(len(batch))
        self._buffer.clear()  # still pending in Redis: delivered after the sink is fixed
        log.critical(
            "alert_sink_disabled",
            sink=self.name,
            kind=self.kind,
            error=error,
            hint="the destination is gone; fix the sink's config and restart. "
            "Its events stay in the outbox until then.",
        )

    # waiting

    async def _pause(self, seconds: float) -> None:
        if self._stopping:
            raise _Stopped
        self._pausing = True
        self._on_attempt()
        try:
            with self._safe():
                await self._sleep(seconds)
        finally:
            self._pausing = False

    async def _redis(
        self, op: Callable[[], Awaitable[T]], *, default: T, cancel_safe: bool = False
    ) -> T:
        """Run ``op`` until Redis answers; after recreating a lost group, return ``default``."""
        delay_s = _REDIS_RETRY_MIN_S
        group_lost = False
        while True:
            try:
                if group_lost:
                    await self._recover()
                    self._pel_cursor, self._last_id = "0", "0"
                    return default
                if not cancel_safe:
                    return await op()
                with self._safe():
                    return await op()
            except GroupLostError:
                group_lost = True
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.warning(
                    "alert_outbox_unavailable", sink=self.name, error=str(exc), retry_in_s=delay_s
                )
                if self._pel_cursor is None:
                    # a read cut short may have moved entries into our pending list unseen
                    self._pel_cursor = self._last_id
                await self._wait_for_redis(delay_s)
                delay_s = min(delay_s * 2, _REDIS_RETRY_MAX_S)

    async def _wait_for_redis(self, delay_s: float) -> None:
        if self._stopping:
            raise _Stopped
        self._wake.clear()
        with self._safe(), contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay_s):
                await self._wake.wait()

    @contextlib.contextmanager
    def _safe(self) -> Iterator[None]:
        self._cancel_safe = True
        try:
            yield
        finally:
            self._cancel_safe = False
