"""The recorder's loop: read the quote stream through a consumer group of its own, write the
entries to session files, acknowledge them.

Its group (``recorder`` by default) is independent of the engine's: recording never takes an
entry away from the engine, and a recorder stopped and restarted continues where it acked
(pending entries are read again first). Quotes are decoded and validated exactly as the engine
does (``monitor.bus``): a malformed quote is skipped and counted (``skipped``), never written;
the engine, reading the same entry, is the one that dead-letters it.
"""

from __future__ import annotations

import asyncio
import os
import socket

import redis.asyncio as aioredis
import structlog

from monitor.bus import QuoteConsumer
from monitor.recording.files import SessionFiles

log = structlog.get_logger(__name__)


async def record(
    redis: aioredis.Redis,
    files: SessionFiles,
    stop: asyncio.Event,
    *,
    prefix: str = "vixmon",
    group: str = "recorder",
    block_ms: int = 500,
    count: int = 500,
) -> int:
    """Record until ``stop`` is set and the stream is drained; return the quotes written."""
    consumer = QuoteConsumer(
        redis, prefix=prefix, group=group, consumer=f"{socket.gethostname()}-{os.getpid()}",
        block_ms=block_ms, count=count, claim_idle_ms=60_000, dead_maxlen=10_000,
    )  # fmt: skip
    await consumer.ensure_group()
    try:
        while True:
            batch = await consumer.read(block_ms=0 if stop.is_set() else block_ms)
            if not batch.ids:
                if stop.is_set():
                    break
                continue
            for _entry, _feed, quotes in batch.entries():
                if quotes:
                    files.write(quotes)
            files.skipped += len(batch.rejects)
            batch.rejects.clear()  # the engine's group dead-letters them: no second copy
            await consumer.ack(batch)
            log.debug("recorded", entries=len(batch.ids), path=str(files.path))
    finally:
        files.close()
    log.info("recording_stopped", quotes=files.quotes, lines=files.lines, skipped=files.skipped)
    return files.quotes
