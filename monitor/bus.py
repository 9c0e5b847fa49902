"""Redis Streams transport for quotes: batched XADD in, consumer-group reads out.

Reading follows the at-least-once pattern: a consumer first re-reads its own pending entries
(``XREADGROUP ... 0``), then new ones (``>``); entries are XACKed only after the caller has applied
them; entries a dead consumer left pending longer than ``claim_idle_ms`` are taken over with
XAUTOCLAIM. Blocking reads stay shorter than the socket timeout (redis-py raises otherwise).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
import structlog
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ResponseError

from monitor import keys
from monitor.model import Quote, QuoteLike
from monitor.quotes import (
    FIELD_BINARY,
    FIELD_FEED,
    TS_MAX_NS,
    Reject,
    decode_entry,
    encode_batch,
)

log = structlog.get_logger(__name__)

Fields = dict[bytes, bytes]
Entry = tuple[bytes, Fields]


def quotes_key(prefix: str) -> str:
    return keys.quotes(prefix)


def dead_quotes_key(prefix: str) -> str:
    return keys.quotes_dead(prefix)


def connect(
    url: str,
    *,
    socket_timeout_s: float,
    cluster: bool = False,
    sentinels: Sequence[tuple[str, int]] = (),
    sentinel_master: str = "",
) -> aioredis.Redis:
    """Create a client; ``unix://`` and ``redis://`` URLs both work.

    ``cluster``: ``url`` is one node of a Redis Cluster. The cluster client speaks the same
    commands (every multi-key command vixmon sends stays within one hash slot, ``monitor.keys``),
    so it is handed out under the standalone client's type.

    ``sentinels``: (host, port) of each Sentinel watching ``sentinel_master``; the client asks
    them for the master's address and asks again after a connection error (a failover). ``url``
    may be empty; if given, only its user, password and database are used.
    """
    timeouts: dict[str, Any] = {
        "socket_timeout": socket_timeout_s,
        "socket_connect_timeout": socket_timeout_s,
        "health_check_interval": 30,
    }
    if sentinels:
        return _sentinel_master(url, sentinels, sentinel_master, timeouts)
    if cluster:
        return cast(aioredis.Redis, RedisCluster.from_url(url, **timeouts))
    return aioredis.Redis.from_url(url, **timeouts)


class _SentinelMaster(aioredis.Redis):
    """A client of the master Sentinel names; closing it closes the Sentinel clients too."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        await cast(SentinelConnectionPool, self.connection_pool).sentinel_manager.aclose()


class _MasterConnection(SentinelManagedConnection):
    """Asks the Sentinels for the master on every (re)connect, retries included.

    redis-py asks only in ``connect()``; a command's retry reconnects through ``_connect()`` to
    the address it had, the dead master's (redis-py issue 3874), until its retries run out.
    """

    async def _connect(self) -> None:
        self.host, self.port = await self.connection_pool.get_master_address()
        await super()._connect()  # type: ignore[no-untyped-call]


def _sentinel_master(
    url: str, sentinels: Sequence[tuple[str, int]], master: str, timeouts: dict[str, Any]
) -> aioredis.Redis:
    given = parse_url(url) if url else {}
    auth: dict[str, Any] = {k: given[k] for k in ("username", "password", "db") if k in given}
    # the Sentinels get the timeouts only: their own password (if any) is not the master's
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py: unannotated
        list(sentinels), sentinel_kwargs=dict(timeouts), **timeouts
    )
    client = sentinel.master_for(
        master, redis_class=_SentinelMaster, connection_class=_MasterConnection, retry=_retry(),
        **auth,
    )  # fmt: skip
    return cast(aioredis.Redis, client)


def _retry() -> Retry:
    """Return redis-py's default retry of a URL client, which ``master_for``'s connections lack.

    It is what carries a command over a failover: each retry reconnects, asking the Sentinels
    for the master again.
    """
    return Retry(ExponentialWithJitterBackoff(base=0.01, cap=1.0), retries=10)


class QuoteWriter:
    """The production QuoteSink: one XADD (binary field) per published batch."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str, maxlen: int) -> None:
        self._redis = redis
        self._key = quotes_key(prefix)
        self._maxlen = maxlen

    async def publish(self, feed: str, quotes: Sequence[Quote]) -> None:
        if not quotes:
            return
        await self._redis.xadd(
            self._key,
            {FIELD_BINARY: encode_batch(quotes), FIELD_FEED: feed.encode()},
            maxlen=self._maxlen,
            approximate=True,
        )


def entry_copy(fields: Fields) -> bytes:
    """The raw payload of an entry, for a dead letter about the entry as a whole."""
    return fields.get(FIELD_BINARY) or fields.get(b"q") or b""


@dataclass(slots=True)
class Batch:
    """What one read produced: decoded quotes, rejects per feed, and the ids to ack.

    ``spans`` tells which quotes came from which entry (id, feed, end index in ``quotes``), so
    an entry whose quotes cannot be applied is dead-lettered alone. ``max_ts_ns``: the latest
    acceptable quote time, fixed when the read was made (see ``decode_entry``).
    """

    ids: list[bytes] = field(default_factory=list)
    quotes: list[QuoteLike] = field(default_factory=list)
    accepted: dict[str, int] = field(default_factory=dict)
    rejects: list[tuple[str, bytes, Reject]] = field(default_factory=list)
    spans: list[tuple[bytes, str, int]] = field(default_factory=list)
    max_ts_ns: int = TS_MAX_NS
    max_entry_bytes: int | None = None
    raw: dict[bytes, bytes] = field(default_factory=dict)
    """Each entry's payload, kept for an ``internal_error`` dead letter."""

    def add(self, entry_id: bytes, fields: Fields) -> None:
        self.ids.append(entry_id)
        try:
            feed, quotes, rejects = decode_entry(
                fields, max_ts_ns=self.max_ts_ns, max_bytes=self.max_entry_bytes
            )
        except Exception as exc:  # a decoder bug must cost this entry, never the engine
            self.fail(entry_id, "", entry_copy(fields), exc)
            return
        self.quotes.extend(quotes)
        self.spans.append((entry_id, feed, len(self.quotes)))
        self.raw[entry_id] = entry_copy(fields)
        if quotes:
            self.accepted[feed] = self.accepted.get(feed, 0) + len(quotes)
        self.rejects.extend((feed, entry_id, r) for r in rejects)

    def fail(self, entry_id: bytes, feed: str, raw: bytes, exc: BaseException) -> None:
        """Dead-letter a whole entry as ``internal_error`` (its traceback goes to the log)."""
        log.error("quote_entry_internal_error", entry=entry_id.decode(errors="replace"),
                  feed=feed, error=repr(exc), exc_info=exc)
        detail = "".join(traceback.format_exception_only(exc)).strip()
        self.rejects.append((feed, entry_id, Reject("internal_error", detail, raw)))

    def entries(self) -> list[tuple[bytes, str, list[QuoteLike]]]:
        """Return (id, feed, quotes) per decoded entry, in stream order."""
        out: list[tuple[bytes, str, list[QuoteLike]]] = []
        start = 0
        for entry_id, feed, end in self.spans:
            out.append((entry_id, feed, self.quotes[start:end]))
            start = end
        return out


class QuoteConsumer:
    """Consume the quote stream through a consumer group."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        group: str,
        consumer: str,
        block_ms: int,
        count: int,
        claim_idle_ms: int,
        dead_maxlen: int,
        dead_raw_max_bytes: int = 65_536,
        max_entry_bytes: int | None = None,
        ts_ceiling: Callable[[], int] | None = None,
        start_id: str = "0",
    ) -> None:
        self._redis = redis
        self._start_id = start_id
        self._key = quotes_key(prefix)
        self._dead_key = dead_quotes_key(prefix)
        self._group = group
        self.consumer = consumer
        self._block_ms = block_ms
        self._count = count
        self._claim_idle_ms = claim_idle_ms
        self._dead_maxlen = dead_maxlen
        self._dead_raw_max_bytes = dead_raw_max_bytes
        self._max_entry_bytes = max_entry_bytes
        self.ts_ceiling = ts_ceiling or (lambda: TS_MAX_NS)
        """The latest acceptable quote time, asked once per read (the engine's clock + skew)."""
        self._own_pending_done = False

    @property
    def block_ms(self) -> int:
        """The longest a read waits for new entries."""
        return self._block_ms

    async def ensure_group(self) -> None:
        """Create the group (at ``start_id``: the stream's start by default) unless it exists."""
        try:
            await self._redis.xgroup_create(
                self._key, self._group, id=self._start_id, mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _batch(self) -> Batch:
        return Batch(max_ts_ns=self.ts_ceiling(), max_entry_bytes=self._max_entry_bytes)

    async def read(self, block_ms: int | None = None, *, ack: Batch | None = None) -> Batch:
        """Return the next batch: own pending entries first, then new ones.

        Waits up to ``block_ms`` (default: the configured block) for new entries; 0 does not
        wait at all (unlike Redis's BLOCK 0, which waits forever). ``ack``: a batch already
        applied, acknowledged (and its rejects dead-lettered) in the same round trip.
        """
        batch = self._batch()
        if not self._own_pending_done:
            if ack is not None:
                await self.ack(ack)
                ack = None
            entries = await self._xreadgroup("0", block_ms=None)
            if not entries:
                self._own_pending_done = True
            for entry_id, fields in entries:
                batch.add(entry_id, fields)
            if entries:
                return batch
        wait_ms = self._block_ms if block_ms is None else block_ms
        entries = await self._xreadgroup(">", block_ms=wait_ms if wait_ms > 0 else None, ack=ack)
        for entry_id, fields in entries:
            batch.add(entry_id, fields)
        return batch

    async def read_nowait(self) -> Batch:
        """Return new entries already in the stream, without blocking (used when draining)."""
        batch = self._batch()
        for entry_id, fields in await self._xreadgroup(">", block_ms=None):
            batch.add(entry_id, fields)
        return batch

    async def _xreadgroup(
        self, start: str, *, block_ms: int | None, ack: Batch | None = None
    ) -> list[Entry]:
        try:
            if ack is not None and ack.ids:
                async with self._redis.pipeline(transaction=False) as pipe:
                    self._queue_ack(pipe, ack)
                    pipe.xreadgroup(
                        self._group, self.consumer, {self._key: start}, count=self._count,
                        block=block_ms,
                    )  # fmt: skip
                    resp = (await pipe.execute())[-1]
            else:
                resp = await self._redis.xreadgroup(
                    self._group,
                    self.consumer,
                    {self._key: start},
                    count=self._count,
                    block=block_ms,
                )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.critical("quotes_group_missing_recreating", stream=self._key, group=self._group)
            await self.ensure_group()
            return []
        if not resp:
            return []
        entries = cast(list[Entry], cast(Any, resp)[0][1])  # RESP2: [[stream, entries]]
        # entries deleted by MAXLEN trimming while pending come back with empty fields
        return [(i, f) for i, f in entries if f is not None]

    async def claim_abandoned(self) -> Batch:
        """XAUTOCLAIM entries another (dead) consumer left pending too long."""
        batch = self._batch()
        start = "0-0"
        while True:
            resp = await self._redis.xautoclaim(
                self._key,
                self._group,
                self.consumer,
                min_idle_time=self._claim_idle_ms,
                start_id=start,
                count=self._count,
            )
            start_raw, entries = resp[0], resp[1]
            for entry_id, fields in entries:
                if fields is not None:
                    batch.add(entry_id, fields)
            start = start_raw.decode() if isinstance(start_raw, bytes) else str(start_raw)
            if start == "0-0" or len(batch.ids) >= self._count:
                return batch

    async def ack(self, batch: Batch) -> None:
        """Dead-letter the rejects, then acknowledge every entry of the batch, in one round trip."""
        if not batch.ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            self._queue_ack(pipe, batch)
            await pipe.execute()

    async def dead_letter(self, rejects: Sequence[tuple[str, bytes, Reject]]) -> None:
        """Copy rejects of entries already acknowledged to the dead-letter stream."""
        if not rejects:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            self._queue_dead(pipe, rejects)
            await pipe.execute()

    def _queue_ack(self, pipe: Pipeline, batch: Batch) -> None:
        """Queue the batch's dead letters and its XACK into ``pipe``."""
        self._queue_dead(pipe, batch.rejects)
        pipe.xack(self._key, self._group, *batch.ids)

    def _queue_dead(self, pipe: Pipeline, rejects: Sequence[tuple[str, bytes, Reject]]) -> None:
        for feed, entry_id, reject in rejects:
            pipe.xadd(
                self._dead_key,
                {
                    b"reason": reject.reason.encode(),
                    b"detail": reject.detail.encode(errors="replace")[:1024],
                    b"feed": feed.encode(errors="replace")[:256],
                    b"entry": entry_id,
                    b"raw": reject.raw[: self._dead_raw_max_bytes],
                    b"raw_bytes": str(len(reject.raw)).encode(),
                },
                maxlen=self._dead_maxlen,
                approximate=True,
            )

    async def pending_count(self) -> int:
        info = await self._redis.xpending(self._key, self._group)
        return int(info["pending"])

    async def lag(self) -> int | None:
        """Entries not yet delivered to the group (Redis 7 reports it; None when unknown)."""
        for group in await self._redis.xinfo_groups(self._key):
            if group["name"] in (self._group, self._group.encode()):
                lag = group.get("lag")
                return None if lag is None else int(lag)
        return None
