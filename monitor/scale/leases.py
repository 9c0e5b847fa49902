"""Partition leases and the replica registry in Redis: who evaluates which books now.

Every ``renew_every_s`` a replica (``Leases.step``):

1. heartbeats: ``ZADD P:engines <Redis time + ttl> <replica>``; the live replicas are those
   whose entry has not expired (Redis's clock, so hosts need no synchronized clocks);
2. renews the leases it holds (``PEXPIRE`` if the lease still holds its token): one it lost
   (it stalled past the TTL and another took over) is dropped at once;
3. releases the partitions another live replica is the desired owner of (a replica joined);
4. acquires the free partitions it is the desired owner of (``partitions.desired``). Every
   replica derives the same owners from the same live set; a dead replica's partitions are
   taken once its heartbeat and leases have expired (one TTL, plus at most one round).

A lease is ``SET {P:alerts}:lease:pN <token> PX ttl``; the token is ``<replica>:<incarnation>``.
A restarted replica with the same name takes its partitions back at once (on its first step)
instead of waiting for the TTL. Every alert write checks the token in the same script
(``monitor.scale.fenced``), so a replica that lost a lease can never write for that partition.
A replica silent for ``forget_after_s`` is removed from the registry, and ``on_forget`` runs
(the app drops its quote consumer group).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
import structlog

from monitor import keys
from monitor.scale import partitions as parts

log = structlog.get_logger(__name__)

# KEYS: lease keys; ARGV: token, ttl_ms, own name prefix ("" after the first step).
_ACQUIRE = """
local out = {}
for i, key in ipairs(KEYS) do
  local cur = redis.call('GET', key)
  local mine = ARGV[3] ~= '' and cur and string.sub(cur, 1, string.len(ARGV[3])) == ARGV[3]
  if cur == false or cur == ARGV[1] or mine then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""
_RENEW = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""
_RELEASE = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then n = n + redis.call('DEL', key) end
end
return n
"""
_HOLDERS = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('GET', key) or '' end
return out
"""


class Leases:
    """This replica's view of the partitions: held leases, renewed and rebalanced by ``step``."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        replica: str,
        partitions: int,
        ttl_s: float,
        forget_after_s: float,
        on_forget: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        if ":" in replica:
            raise ValueError(f"replica name must not contain ':': {replica!r}")
        self._redis = redis
        self.prefix = prefix
        self.replica = replica
        self.partitions = partitions
        self.token = f"{replica}:{uuid.uuid4().hex[:12]}"
        self.ttl_ms = round(ttl_s * 1000)
        self.forget_after_ms = round(forget_after_s * 1000)
        self.on_forget = on_forget
        self.owned: frozenset[int] = frozenset()
        self.live: tuple[str, ...] = ()
        self.delivering = False
        """This replica holds the delivery lease: it runs the sinks (one process delivers)."""
        self.delivery_lost = False
        """It held the delivery lease and lost it (it stalled past the TTL): it must stop."""
        self._first = True

    def lease_key(self, partition: int) -> str:
        return keys.lease(self.prefix, partition)

    async def _now_ms(self) -> int:
        sec, usec = cast(Any, await self._redis.time())
        return int(sec) * 1000 + int(usec) // 1000

    async def _script(self, script: str, lease_keys: Sequence[str], *args: str | int) -> Any:
        if not lease_keys:
            return []
        return await cast(Any, self._redis.eval(script, len(lease_keys), *lease_keys, *args))

    async def heartbeat(self) -> tuple[str, ...]:
        """Announce this replica; return the live replicas (sorted, this one included)."""
        now_ms = await self._now_ms()
        reg = keys.replicas(self.prefix)
        await self._redis.zadd(reg, {self.replica: now_ms + self.ttl_ms})
        live: list[bytes] = cast(Any, await self._redis.zrangebyscore(reg, now_ms, "+inf"))
        gone: list[bytes] = cast(
            Any, await self._redis.zrangebyscore(reg, "-inf", now_ms - self.forget_after_ms)
        )
        for raw in gone:
            name = _text(raw)
            if await self._redis.zrem(reg, name) and self.on_forget is not None:
                log.info("replica_forgotten", replica=name)
                await self.on_forget(name)
        self.live = tuple(sorted(_text(r) for r in live))
        return self.live

    async def step(self) -> frozenset[int]:
        """Run one round (see the module docstring); return the partitions held after it."""
        live = await self.heartbeat()
        held = sorted(self.owned)
        renewed = await self._script(_RENEW, [self.lease_key(p) for p in held], self.token,
                                     self.ttl_ms)
        owned = {p for p, ok in zip(held, renewed, strict=True) if ok}
        if lost := set(held) - owned:
            log.warning("partitions_lost", replica=self.replica, partitions=sorted(lost))
        want = parts.desired(self.replica, live, self.partitions)
        if surplus := sorted(owned - want):
            await self._script(_RELEASE, [self.lease_key(p) for p in surplus], self.token)
            owned -= set(surplus)
        owned |= await self._acquire(sorted(want - owned))
        await self._delivery_step()
        self._first = False
        if owned != self.owned:
            log.info("partitions_owned", replica=self.replica, partitions=sorted(owned),
                     live=list(live))
        self.owned = frozenset(owned)
        return self.owned

    async def _acquire(self, wanted: Sequence[int]) -> set[int]:
        own_prefix = f"{self.replica}:" if self._first else ""
        got = await self._script(_ACQUIRE, [self.lease_key(p) for p in wanted], self.token,
                                 self.ttl_ms, own_prefix)
        return {p for p, ok in zip(wanted, got, strict=True) if ok}

    async def _delivery_step(self) -> None:
        """Hold the delivery lease, sticky: it moves only when its holder stops or dies."""
        key = keys.delivery_lease(self.prefix)
        if self.delivering:
            (ok,) = await self._script(_RENEW, [key], self.token, self.ttl_ms)
            if not ok:
                log.error("delivery_lease_lost", replica=self.replica)
                self.delivering, self.delivery_lost = False, True
            return
        if self.delivery_lost:
            return
        own_prefix = f"{self.replica}:" if self._first else ""
        (ok,) = await self._script(_ACQUIRE, [key], self.token, self.ttl_ms, own_prefix)
        if ok:
            log.info("delivery_lease_acquired", replica=self.replica)
            self.delivering = True

    async def release_all(self) -> None:
        """Give every lease back and leave the registry (a graceful stop hands over at once)."""
        held = sorted(self.owned)
        if self.delivering:
            await self._script(_RELEASE, [keys.delivery_lease(self.prefix)], self.token)
            self.delivering = False
        await self._script(_RELEASE, [self.lease_key(p) for p in held], self.token)
        await self._redis.zrem(keys.replicas(self.prefix), self.replica)
        self.owned = frozenset()

    def drop(self, partition: int) -> None:
        """Forget a partition whose lease a write found taken (the fence refused it)."""
        self.owned = self.owned - {partition}

    async def holders(self) -> dict[int, str]:
        """Return partition -> holding replica name ("" when free), for status and tests."""
        every = list(range(self.partitions))
        raw = await self._script(_HOLDERS, [self.lease_key(p) for p in every])
        return {p: _text(h).partition(":")[0] for p, h in zip(every, raw, strict=True)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
