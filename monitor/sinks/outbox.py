"""The durable outbox: every alert event is XADDed to ``{P:alerts}`` before any delivery.

Each sink reads the stream through its own consumer group (named after the sink), so one slow
or broken sink never holds up another, and acknowledges an entry only once the sink accepted it
(or it was dead-lettered to ``{P:alerts}:dead``). Unacknowledged entries stay in the
group's pending list and are delivered again after a crash: at least once, never lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from monitor import keys
from monitor.model import AlertEvent

FIELD_EVENT = b"event"
DEFAULT_MAXLEN = 100_000
_CLAIM_COUNT = 100
_LAG_COUNT_MAX = 10_000

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(AlertEvent)

WRITE_PIECE_EVENTS = 500
"""Events per outbox write: a start's first cycle at 1,000 books makes ~6,000 (~24 MB encoded),
and each write holds its events encoded twice (the arguments and the packed command)."""

S = TypeVar("S")


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


E = TypeVar("E", bound=_Keyed)

RawEntry = tuple[str, bytes | None]
"""An entry id and its encoded event (None: trimmed away while still pending)."""


def alerts_key(prefix: str) -> str:
    return keys.outbox(prefix)


def dead_key(prefix: str) -> str:
    return keys.outbox_dead(prefix)


def encode_event(event: AlertEvent) -> bytes:
    return _ENCODER.encode(event)


def decode_event(raw: bytes) -> AlertEvent:
    """Decode an outbox entry; raises ``msgspec.DecodeError`` / ``ValidationError``."""
    return _DECODER.decode(raw)


class GroupLostError(RuntimeError):
    """The consumer group (or the whole stream) is gone: Redis lost data."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _is_nogroup(exc: ResponseError) -> bool:
    return str(exc).startswith("NOGROUP")


def data_loss_event(stream: str, groups: Sequence[str], now_ns: int) -> AlertEvent:
    """Return the critical event announcing that the outbox lost data."""
    return AlertEvent(
        id=f"evt_{uuid.uuid4().hex}",
        key=f"data_loss|all|{stream}",
        rule="data_loss",
        book="all",
        subject=stream,
        status="firing",
        severity="critical",
        summary="Redis lost the alert outbox: consumer groups "
        f"{', '.join(groups)} were gone and have been recreated. Alerts that were not yet "
        "delivered may be lost.",
        ts_ns=now_ns,
        values={"groups_recreated": len(groups)},
        action="Check Redis persistence (appendonly yes) and review firing alerts by hand.",
    )


def redis_restarted_event(returncode: int | None, down_s: float, now_ns: int) -> AlertEvent:
    """Return the event announcing that the embedded Redis died and was started again."""
    how = f"exit code {returncode}"
    if returncode is not None and returncode < 0:
        how = f"killed by signal {-returncode}"
    return AlertEvent(
        id=f"evt_{uuid.uuid4().hex}",
        key="redis_restarted|all|embedded",
        rule="redis_restarted",
        book="all",
        subject="embedded redis",
        status="firing",
        severity="warning",
        summary=f"The embedded Redis exited ({how}) and was restarted after {down_s:.1f} s on "
        "the same data. Its last second of writes may be lost (appendfsync everysec).",
        ts_ns=now_ns,
        values={"down_s": round(down_s, 3), "returncode": returncode},
        action="Check redis.log in the state directory and the host's memory (OOM killer).",
    )


def pieces(
    events: Sequence[E], changed: Mapping[str, S], size: int = WRITE_PIECE_EVENTS
) -> list[tuple[list[E], dict[str, S]]]:
    """Split one evaluation's write into pieces of about ``size`` events.

    A key's events and its state go in one piece (the piece of its first event), and the
    states no event was made for go with the last piece: each piece, written all or nothing,
    writes an event together with the state that produced it. A crash between pieces loses no
    event and doubles none: the keys not yet written were never sent, and fire after the
    restart. Otherwise the events keep their order. No more than ``size`` events: one piece,
    as they came."""
    if len(events) <= size:
        return [(list(events), dict(changed))]
    out: list[tuple[list[E], dict[str, S]]] = []
    piece_of: dict[str, int] = {}
    for ev in events:
        n = piece_of.get(ev.key)
        if n is None:
            if not out or len(out[-1][0]) >= size:
                out.append(([], {}))
            n = piece_of[ev.key] = len(out) - 1
        out[n][0].append(ev)
    for key, state in changed.items():
        out[piece_of.get(key, len(out) - 1)][1][key] = state
    return out


class Outbox:
    """Append alert events to the outbox stream."""

    def __init__(
        self, redis: aioredis.Redis, *, prefix: str = "vixmon", maxlen: int | None = DEFAULT_MAXLEN
    ) -> None:
        self._redis = redis
        self.key = alerts_key(prefix)
        self._maxlen = maxlen

    async def append(
        self, events: Sequence[AlertEvent], *, then: Callable[[Pipeline], object] | None = None
    ) -> list[str]:
        """XADD every event; return the entry ids, in order.

        One MULTI/EXEC round trip: ``then`` queues more commands into the same transaction (the
        engine saves the alert states that produced the events), so Redis applies all or none.
        """
        if not events:
            return []
        async with self._redis.pipeline(transaction=True) as pipe:
            for event in events:
                pipe.xadd(
                    self.key,
                    {FIELD_EVENT: encode_event(event)},
                    maxlen=self._maxlen,
                    approximate=True,
                )
            if then is not None:
                then(pipe)
            replies = await pipe.execute()
        return [_text(i) for i in replies[: len(events)]]


async def group_names(redis: aioredis.Redis, key: str) -> set[str]:
    """Return the consumer groups of stream ``key`` (empty when the stream does not exist)."""
    try:
        groups = await redis.xinfo_groups(key)
    except ResponseError as exc:
        if "no such key" in str(exc).lower():
            return set()
        raise
    return {_text(g["name"]) for g in groups}


async def create_group(redis: aioredis.Redis, key: str, group: str, *, start_id: str) -> bool:
    """Create ``group`` at ``start_id`` (and the stream); return False if it already existed."""
    try:
        await redis.xgroup_create(key, group, id=start_id, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise
    return True


def parse_id(entry_id: str) -> tuple[int, int]:
    """Return a stream id (``ms-seq``) as a tuple that orders like the stream does."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def queued_at_ns(entry_id: str) -> int:
    """Return when an entry was queued: Redis stamps stream ids with its wall clock (ms)."""
    return parse_id(entry_id)[0] * 1_000_000


async def first_entry_id(redis: aioredis.Redis, key: str) -> str | None:
    """Return the id of the stream's oldest entry (None when empty or missing)."""
    first: Any = await redis.xrange(key, count=1)
    return _text(first[0][0]) if first else None


def recreated_start_id(*, first_id: str | None, last_seen: str) -> str:
    """Return where a lost group resumes: after what its sink already read, if that is still
    in the stream (the group alone was lost), else from the start (the stream is new)."""
    if last_seen != "0" and first_id is not None and parse_id(first_id) <= parse_id(last_seen):
        return last_seen
    return "0"


class OutboxGroup:
    """One sink's view of the outbox: its consumer group, reads, acks and dead letters."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        group: str,
        consumer: str,
        dead_maxlen: int | None = DEFAULT_MAXLEN,
    ) -> None:
        self._redis = redis
        self.key = alerts_key(prefix)
        self.dead_key = dead_key(prefix)
        self.group = group
        self.consumer = consumer
        self._dead_maxlen = dead_maxlen

    async def read(self, start: str, *, count: int, block_ms: int | None) -> list[RawEntry]:
        """XREADGROUP from ``start`` (``>`` new entries, an id: own pending entries after it)."""
        try:
            resp: Any = await self._redis.xreadgroup(
                self.group, self.consumer, {self.key: start}, count=count, block=block_ms
            )
        except ResponseError as exc:
            if _is_nogroup(exc):
                raise GroupLostError(str(exc)) from exc
            raise
        if not resp:
            return []
        entries: list[tuple[Any, Any]] = resp[self.key] if isinstance(resp, dict) else resp[0][1]
        return [(_text(i), fields.get(FIELD_EVENT) if fields else None) for i, fields in entries]

    async def claim_all(self) -> int:
        """Take over every entry pending in the group, whichever consumer held it.

        One process delivers for a sink; entries another consumer name left pending (a previous
        run under another host or pid) are ours to finish. Returns how many were claimed.
        """
        cursor, claimed = "0-0", 0
        while True:
            try:
                resp: Any = await self._redis.xautoclaim(
                    self.key, self.group, self.consumer, 0, start_id=cursor, count=_CLAIM_COUNT
                )
            except ResponseError as exc:
                if _is_nogroup(exc):
                    raise GroupLostError(str(exc)) from exc
                raise
            cursor, claimed = _text(resp[0]), claimed + len(resp[1])
            if cursor == "0-0":
                return claimed

    async def ack(self, ids: Sequence[str]) -> None:
        await self._redis.xack(self.key, self.group, *ids)

    async def dead_letter(
        self,
        entries: Sequence[RawEntry],
        *,
        sink: str,
        reason: str,
        error: str,
        attempts: int,
        now_ns: int,
    ) -> None:
        """Copy ``entries`` to the dead-letter stream with the last error, and ack them: atomic."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for entry_id, raw in entries:
                pipe.xadd(
                    self.dead_key,
                    {
                        FIELD_EVENT: raw or b"",
                        b"sink": sink.encode(),
                        b"outbox_id": entry_id.encode(),
                        b"reason": reason.encode(),
                        b"error": error.encode(errors="replace")[:2048],
                        b"attempts": str(attempts).encode(),
                        b"dead_ts_ns": str(now_ns).encode(),
                    },
                    maxlen=self._dead_maxlen,
                    approximate=True,
                )
            pipe.xack(self.key, self.group, *[entry_id for entry_id, _ in entries])
            await pipe.execute()

    async def pending(self) -> int:
        """Return how many entries this group has yet to finish: pending plus not yet read."""
        try:
            groups = await self._redis.xinfo_groups(self.key)
        except ResponseError as exc:
            raise GroupLostError(str(exc)) from exc
        for info in groups:
            if _text(info["name"]) == self.group:
                return int(info["pending"]) + await self._lag(info)
        raise GroupLostError(f"no consumer group {self.group!r} on {self.key}")

    async def _lag(self, info: dict[str, Any]) -> int:
        lag = info.get("lag")
        if isinstance(lag, int):  # Redis >= 7 counts it for us
            return lag
        last = _text(info["last-delivered-id"])
        unread: Any = await self._redis.xrange(self.key, min=f"({last}", count=_LAG_COUNT_MAX)
        return len(unread)
