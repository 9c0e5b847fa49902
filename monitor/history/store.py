"""The I/O around the rules' history: the state in Redis, the VIX history CSV over HTTP.

``MemoryStore`` keeps one document (``monitor.history.state``) under ``<prefix>:rules:memory``;
``fetch_vix_history`` GETs the CSV from a configurable URL, writes it to a cache file on
success, and otherwise (no URL, network refused, a bad body) reads the last cached copy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import msgspec
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from monitor import keys
from monitor.history import state as hs
from monitor.history import vix_csv
from monitor.rules.memory import RuleMemory

log = structlog.get_logger(__name__)


class MemoryStore:
    def __init__(self, redis: aioredis.Redis, *, prefix: str, replica: str | None = None) -> None:
        self.redis = redis
        self.key = keys.rules_memory(prefix, replica)

    async def load(self) -> hs.RulesState | None:
        """Return the stored document, None when there is none or it does not decode."""
        raw = await self.redis.get(self.key)
        if raw is None:
            return None
        try:
            return hs.decode(raw if isinstance(raw, bytes) else raw.encode())
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("rules_memory_unreadable", key=self.key, error=str(exc)[:200])
            return None

    async def save(self, mem: RuleMemory, now_ns: int) -> None:
        await self.redis.set(self.key, hs.encode(hs.capture(mem, now_ns)))


@dataclass(frozen=True, slots=True)
class Fetched:
    text: str | None
    source: str
    """``network``, ``cache`` or ``none``."""


async def fetch_vix_history(url: str, cache: Path, *, timeout_s: float) -> Fetched:
    """Return the CSV from ``url`` (cached on success), else the cached copy, else nothing."""
    if url:
        try:
            text = await _get(url, timeout_s)
            vix_csv.parse(text)  # never cache a body that is not the file
        except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError, ValueError) as exc:
            log.warning("vix_history_fetch_failed", url=url, error=str(exc)[:200])
        else:
            await asyncio.to_thread(_write_atomically, cache, text)
            return Fetched(text, "network")
    return await asyncio.to_thread(read_cache, cache)


def read_cache(cache: Path) -> Fetched:
    """Return the cached copy of the CSV, or nothing."""
    try:
        return Fetched(cache.read_text(), "cache")
    except OSError:
        return Fetched(None, "none")


async def _get(url: str, timeout_s: float) -> str:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as resp:
        resp.raise_for_status()
        return await resp.text()


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def backfill_daily(mem: RuleMemory, fetched: Fetched, today: dt.date) -> int:
    """Merge the fetched history under the daily bars; return how many bars it added."""
    if fetched.text is None or "1d" not in mem.bars:
        return 0
    try:
        rows, bad = vix_csv.parse(fetched.text)
    except vix_csv.HistoryFormatError as exc:
        log.warning("vix_history_unusable", source=fetched.source, error=str(exc))
        return 0
    added = vix_csv.backfill(mem.bars["1d"], rows, today)
    mem.backfilled["1d"] = (mem.backfilled.get("1d", set()) | added) & set(mem.bars["1d"].bucket)
    log.info("vix_history_backfilled", source=fetched.source, rows=len(rows), bad_rows=bad,
             bars=len(added))
    return len(added)


class HistoryKeeper:
    """The app's one handle on history: restore on start, save every interval and at the end.

    ``start`` restores the stored memory (if any, and recent enough) and backfills the daily
    VIX bars from the cached CSV at once; ``run`` fetches the CSV in the background when a URL
    is configured (a slow or blocked network never delays the start), then saves the memory
    every ``save_interval_s``; ``save`` is the final write at shutdown.
    """

    def __init__(
        self, mem: RuleMemory, store: MemoryStore | None, *, url: str, cache: Path,
        fetch_timeout_s: float, save_interval_s: float, max_age_ns: int,
    ) -> None:
        self.mem = mem
        self.store = store
        self.url = url
        self.cache = cache
        self.fetch_timeout_s = fetch_timeout_s
        self.save_interval_s = save_interval_s
        self.max_age_ns = max_age_ns
        self.restored = False

    async def start(self, now_ns: int, today: dt.date) -> None:
        if self.store is not None:
            state = await self.store.load()
            if state is not None:
                self.restored = hs.restore(self.mem, state, now_ns, self.max_age_ns)
                log.info("rules_memory_restored" if self.restored else "rules_memory_too_old",
                         saved_ns=state.saved_ns, bars={k: len(v.bucket)
                                                        for k, v in state.bars.items()})
        backfill_daily(self.mem, await asyncio.to_thread(read_cache, self.cache), today)

    async def run(self, clock_now_ns: Callable[[], int], today: Callable[[], dt.date]) -> None:
        if self.url:
            fetched = await fetch_vix_history(self.url, self.cache, timeout_s=self.fetch_timeout_s)
            if fetched.source == "network":
                backfill_daily(self.mem, fetched, today())
        if self.store is None:
            return
        while True:
            await asyncio.sleep(self.save_interval_s)  # a save interval, not synchronization
            await self.save(clock_now_ns())

    async def save(self, now_ns: int) -> None:
        if self.store is None:
            return
        try:
            await self.store.save(self.mem, now_ns)
        except (RedisError, OSError) as exc:  # kept in memory; the next save retries
            log.warning("rules_memory_save_failed", error=repr(exc))
