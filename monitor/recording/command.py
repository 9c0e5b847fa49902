"""``vixmon record``: connect to the daemon's Redis and record until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import structlog

from monitor import bus
from monitor.recording.files import Limits, SessionFiles
from monitor.recording.recorder import record
from monitor.settings import Loaded

log = structlog.get_logger(__name__)
MB = 1024 * 1024


def redis_url(loaded: Loaded, given: str | None) -> str:
    """Return the Redis to record from: given, configured, or the embedded one's socket.

    With ``redis.sentinels`` the configured URL only carries credentials (or is empty).
    """
    if given:
        return given
    if loaded.settings.redis.url or loaded.settings.redis.sentinels:
        return loaded.settings.redis.url
    return f"unix://{loaded.state_dir / 'redis.sock'}"


async def _main(
    loaded: Loaded, url: str, files: SessionFiles, group: str, *, configured: bool
) -> int:
    """Record from ``url``; ``configured``: it is the config's Redis (Sentinels included)."""
    rc = loaded.settings.redis
    sentinels = rc.sentinel_addresses() if configured else []
    client = bus.connect(url, socket_timeout_s=rc.socket_timeout_s, cluster=rc.cluster,
                         sentinels=sentinels, sentinel_master=rc.sentinel_master)  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await client.ping()
        log.info("recording", redis=url.split("@")[-1], folder=str(files.folder), group=group)
        await record(client, files, stop, prefix=rc.key_prefix, group=group,
                     block_ms=min(rc.block_ms, 1000))  # fmt: skip
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await client.aclose()
    return 0


def main(
    loaded: Loaded,
    *,
    out: Path | None,
    redis: str | None,
    max_file_mb: float,
    max_total_mb: float,
    group: str = "recorder",
) -> int:
    folder = out or loaded.state_dir / "sessions"
    limits = Limits(
        max_file_bytes=round(max_file_mb * MB), max_total_bytes=round(max_total_mb * MB)
    )
    files = SessionFiles(folder, limits=limits)
    try:
        url = redis_url(loaded, redis)
        return asyncio.run(_main(loaded, url, files, group, configured=not redis))
    except OSError as exc:
        log.error("recording_failed", error=str(exc))
        return 1
