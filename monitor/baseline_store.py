"""Vega baselines persisted in Redis (a hash per deployment, one field per book) so a restart
keeps the trader's target (``monitor.plan.baseline``)."""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis

from monitor import keys
from monitor.plan.baseline import DECODER, ENCODER, VegaBaseline


class BaselineStore:
    def __init__(self, redis: aioredis.Redis, *, prefix: str) -> None:
        self._redis = redis
        self._key = keys.baseline_vega(prefix)

    async def load(self) -> dict[str, VegaBaseline]:
        raw = await self._redis.hgetall(self._key)
        return {_text(k): DECODER.decode(cast(bytes, v)) for k, v in raw.items()}

    async def save(self, changed: dict[str, VegaBaseline]) -> None:
        if changed:
            mapping: dict[Any, bytes] = {b: ENCODER.encode(v) for b, v in changed.items()}
            await self._redis.hset(self._key, mapping=mapping)


def _text(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key
