"""Rename the keys of an older vixmon to their hash-tagged names (``monitor.keys``) on start.

A key is renamed only if the new name does not exist yet, so running this twice, or on a fresh
Redis, does nothing. Consumer groups and pending entries move with a renamed stream. A Cluster
deployment never had the old names (their transactions crossed slots), so it is skipped there.
"""

from __future__ import annotations

import redis.asyncio as aioredis
import structlog

from monitor import keys

log = structlog.get_logger(__name__)

_RENAME = """
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  return 1
end
return 0
"""


async def migrate(redis: aioredis.Redis, prefix: str) -> list[str]:
    """Rename every legacy key still present; return the old names renamed."""
    renamed = []
    for old, new in keys.legacy_renames(prefix):
        if await redis.eval(_RENAME, 2, old, new):
            log.info("redis_key_renamed", old=old, new=new)
            renamed.append(old)
    return renamed
