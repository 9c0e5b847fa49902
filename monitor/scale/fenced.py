"""Alert writes fenced by the partition leases: events and states of a partition are written
only while this replica still holds the partition's lease, atomically with the check.

One script per cycle (all its keys share the ``{P:alerts}`` slot, ``monitor.keys``): check every
involved partition's lease holds our token, then XADD the events to the outbox and HSET the
states to each partition's state hash. A stalled replica whose lease another took over gets
``lost`` back and writes nothing: the new owner re-derives those alerts from the same Redis
state, so an alert is neither lost nor sent twice under two ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis.asyncio as aioredis

from monitor import keys
from monitor.alerts import STATE_DECODER, STATE_ENCODER, KeyState
from monitor.model import AlertEvent
from monitor.scale.partitions import key_book, partition_of
from monitor.sinks.outbox import DEFAULT_MAXLEN, FIELD_EVENT, encode_event

# KEYS: outbox, k lease keys, k state keys.
# ARGV: token, maxlen, k, n events, the events, then per partition: m, m field/value pairs.
_WRITE = """
local token, maxlen, k = ARGV[1], ARGV[2], tonumber(ARGV[3])
for j = 1, k do
  if redis.call('GET', KEYS[1 + j]) ~= token then return {'lost', j} end
end
local n = tonumber(ARGV[4])
local out = {'ok'}
for i = 1, n do
  out[i + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', ARGV[5], ARGV[5 + i])
end
local a = 6 + n
for j = 1, k do
  local m = tonumber(ARGV[a])
  a = a + 1
  local i = 0
  while i < m do
    local chunk = math.min(m - i, 200)
    local args = {}
    for c = 1, 2 * chunk do args[c] = ARGV[a + c - 1] end
    redis.call('HSET', KEYS[1 + k + j], unpack(args))
    a = a + 2 * chunk
    i = i + chunk
  end
end
return out
"""


class LeaseLostError(Exception):
    def __init__(self, partition: int) -> None:
        super().__init__(f"partition {partition}: lease lost")
        self.partition = partition


class FencedAlerts:
    """Write one cycle's alert events and states for the partitions this replica holds."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        partitions: int,
        token: str,
        maxlen: int = DEFAULT_MAXLEN,
    ) -> None:
        self._redis = redis
        self.prefix = prefix
        self.partitions = partitions
        self.token = token
        self.maxlen = maxlen

    def partition(self, alert_key: str) -> int:
        return partition_of(key_book(alert_key), self.partitions)

    async def write(
        self, events: Sequence[AlertEvent], changed: Mapping[str, KeyState]
    ) -> list[str]:
        """Write ``events`` and ``changed`` states in one fenced script; return the outbox ids.

        Raises ``LeaseLostError`` (writing nothing) when a partition's lease is not ours.
        """
        involved = sorted({self.partition(e.key) for e in events}
                          | {self.partition(k) for k in changed})
        if not involved:
            return []
        by_part: dict[int, list[tuple[str, bytes]]] = {p: [] for p in involved}
        for key, st in changed.items():
            by_part[self.partition(key)].append((key, STATE_ENCODER.encode(st)))
        script_keys = [keys.outbox(self.prefix)]
        script_keys += [keys.lease(self.prefix, p) for p in involved]
        script_keys += [keys.alert_states(self.prefix, p) for p in involved]
        args: list[Any] = [self.token, self.maxlen, len(involved), len(events), FIELD_EVENT]
        args += [encode_event(e) for e in events]
        for p in involved:
            args.append(len(by_part[p]))
            for field, value in by_part[p]:
                args += [field, value]
        reply = await cast(Any, self._redis.eval(_WRITE, len(script_keys), *script_keys, *args))
        if _text(reply[0]) == "lost":
            raise LeaseLostError(involved[int(reply[1]) - 1])
        return [_text(i) for i in reply[1:]]

    async def load(self, owned: Sequence[int]) -> dict[str, KeyState]:
        """Return the alert states of the ``owned`` partitions."""
        out: dict[str, KeyState] = {}
        for p in owned:
            raw = await self._redis.hgetall(keys.alert_states(self.prefix, p))
            out.update({_text(k): STATE_DECODER.decode(cast(bytes, v)) for k, v in raw.items()})
        return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
