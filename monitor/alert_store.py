"""Alert state persisted in Redis (a hash per deployment) so restarts neither re-fire nor forget."""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from monitor import keys
from monitor.alerts import STATE_DECODER, STATE_ENCODER, KeyState


class AlertStore:
    def __init__(self, redis: aioredis.Redis, *, prefix: str) -> None:
        self._redis = redis
        self._key = keys.alert_states(prefix)

    async def load(self) -> dict[str, KeyState]:
        raw = await self._redis.hgetall(self._key)
        return {_text(k): STATE_DECODER.decode(cast(bytes, v)) for k, v in raw.items()}

    async def save(self, changed: dict[str, KeyState]) -> None:
        if changed:
            await self._redis.hset(self._key, mapping=_encoded(changed))

    def save_in(self, pipe: Pipeline, changed: dict[str, KeyState]) -> None:
        """Queue the save into ``pipe`` (the outbox append's transaction)."""
        if changed:
            pipe.hset(self._key, mapping=_encoded(changed))


def _encoded(changed: dict[str, KeyState]) -> dict[Any, bytes]:  # redis-py: any key type
    return {k: STATE_ENCODER.encode(v) for k, v in changed.items()}


def _text(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key
