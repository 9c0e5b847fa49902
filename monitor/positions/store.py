"""The realized P&L ledger in Redis (one JSON document per deployment), so restarts keep it."""

from __future__ import annotations

import redis.asyncio as aioredis

from monitor import keys
from monitor.positions.ledger import DECODER, ENCODER, Ledger


class LedgerStore:
    def __init__(self, redis: aioredis.Redis, *, prefix: str) -> None:
        self._redis = redis
        self.key = keys.ledger(prefix)

    async def load(self) -> Ledger:
        """Return the stored ledger, or an empty (unseeded) one."""
        raw = await self._redis.get(self.key)
        return Ledger() if raw is None else DECODER.decode(raw)

    async def save(self, ledger: Ledger) -> None:
        await self._redis.set(self.key, ENCODER.encode(ledger))
