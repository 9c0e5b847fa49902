"""Replay a recorded session: JSON lines (gzip allowed), one quote object or array per line.

Lines are grouped by event time: quotes sharing one ``ts`` are published as one batch, and the
pause before each group is (ts - previous ts) / speed of wall time (0: no pauses). With
``restamp`` every timestamp is shifted so the session starts at the clock's now, and capped at
the clock's now when published (a faster-than-real-time replay never stamps ahead of the clock).
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

import msgspec
import structlog

from adapters.base import FeedStats, QuoteSink, SubscriptionSource
from adapters.replay.config import ReplayFeedConfig
from monitor.clock import Clock
from monitor.model import Quote
from monitor.quotes import encodable

log = structlog.get_logger(__name__)

_LINE = msgspec.json.Decoder(Quote | list[Quote])
_MAX_BATCH = 5_000
_PASS_GAP_NS = 1_000_000
"""A looping replay starts each pass at least this long after the previous pass's last quote."""


def open_session(path: Path) -> IO[bytes]:
    """Open a recorded session file, transparently gunzipping ``.gz``."""
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def read_groups(path: Path) -> Iterator[tuple[int, list[Quote], int]]:
    """Yield (ts_ns, quotes, bad_lines) per run of lines with the same event time."""
    group: list[Quote] = []
    group_ts = 0
    bad = 0
    with open_session(path) as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                item = _LINE.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError):
                bad += 1
                continue
            quotes = item if isinstance(item, list) else [item]
            for q in quotes:
                if not encodable(q):  # a time beyond int64, a size msgpack cannot hold
                    bad += 1
                    continue
                if group and (q.ts != group_ts or len(group) >= _MAX_BATCH):
                    yield group_ts, group, bad
                    group, bad = [], 0
                group_ts = q.ts
                group.append(q)
    if group or bad:
        yield group_ts, group, bad


class ReplayFeed:
    def __init__(self, cfg: ReplayFeedConfig, clock: Clock, base_dir: Path) -> None:
        self._cfg = cfg
        self._clock = clock
        self.path = (base_dir / cfg.path).resolve()
        self._stats = FeedStats()
        self.finished = asyncio.Event()

    @property
    def name(self) -> str:
        return self._cfg.name

    @property
    def stats(self) -> FeedStats:
        return self._stats

    async def run(self, sink: QuoteSink, subscriptions: SubscriptionSource) -> None:
        del subscriptions  # a recording carries what it carries
        self._stats.connected = True
        last_ts: int | None = None
        try:
            while True:
                last_ts = await self._play_once(sink, after_ns=last_ts)
                if not self._cfg.loop:
                    break
        finally:
            self._stats.connected = False
            self.finished.set()
        log.info("replay_finished", feed=self.name, quotes=self._stats.quotes)

    async def _play_once(self, sink: QuoteSink, after_ns: int | None) -> int | None:
        """Play the file once; return the newest ``ts`` published (None: nothing was).

        ``after_ns``: the newest ``ts`` of the previous pass. A looping replay shifts each pass
        to start after it, else a pass played faster than real time (or with recorded times)
        would carry times older than the quotes already held, and the engine would ignore it.
        """
        offset_ns: int | None = None
        prev_ts: int | None = None
        newest: int | None = None
        for ts, quotes, bad in read_groups(self.path):
            self._stats.parse_errors += bad
            if not quotes:
                continue
            if offset_ns is None:
                offset_ns = self._clock.now_ns() - ts if self._cfg.restamp else 0
                if after_ns is not None:
                    offset_ns = max(offset_ns, after_ns + _PASS_GAP_NS - ts)
            if prev_ts is not None and self._cfg.speed > 0 and ts > prev_ts:
                await asyncio.sleep((ts - prev_ts) / 1e9 / self._cfg.speed)
            prev_ts = ts
            if offset_ns and self._cfg.restamp:
                quotes = self._restamped(quotes, offset_ns, after_ns)
            elif offset_ns:
                quotes = [msgspec.structs.replace(q, ts=q.ts + offset_ns) for q in quotes]
            await sink.publish(self.name, quotes)
            self._stats.messages += 1
            self._stats.quotes += len(quotes)
            self._stats.last_quote_ts_ns = quotes[-1].ts
            newest = max(quotes[-1].ts, newest or quotes[-1].ts)
        return newest

    def _restamped(self, quotes: list[Quote], offset_ns: int, after_ns: int | None) -> list[Quote]:
        """Shift recorded times by ``offset_ns``, but never past the clock: played faster than
        real time, a shifted session would run ahead of it (``future_ts`` at the engine), so
        such quotes carry the time they are published at instead. Only a looping pass's first
        quotes may sit ``_PASS_GAP_NS`` after the previous pass, to stay newer than it."""
        ceiling = self._clock.now_ns()
        if after_ns is not None:
            ceiling = max(ceiling, after_ns + _PASS_GAP_NS)
        return [msgspec.structs.replace(q, ts=min(q.ts + offset_ns, ceiling)) for q in quotes]
