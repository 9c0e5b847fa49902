"""The page's live feed: the engine publishes after every evaluation, streams wait for news.

``publish`` is called by the engine loop (same event loop) with the cycle's alert events; it
bumps a version and wakes every waiting stream. A stream sends the newest state when it wakes
and then pauses ``min_interval_s``: however fast the engine evaluates, each client gets at most a
few documents per second, always the latest (versions in between are coalesced, never queued).
The recent alert events are kept here (bounded) for the page's "recent events" list, and each
key's last summary for its list of firing alerts.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from monitor.alerts import inhibition
from monitor.model import AlertEvent

RECENT_MAX = 200


class Hub:
    def __init__(self, *, recent_max: int = RECENT_MAX, max_streams: int = 32) -> None:
        self.version = 0
        self.closed = False
        self.max_streams = max_streams
        self.streams = 0
        self.streams_opened = 0
        self.recent: deque[AlertEvent] = deque(maxlen=recent_max)
        # the page shows a firing key's last summary; the whole event (a layer's advice runs
        # to ~6 KB) is the outbox's to keep: a start's ~6,000 at 1,000 books are ~25 MB
        self.last_summary: dict[str, str] = {}
        self._changed = asyncio.Event()

    def publish(self, events: Iterable[AlertEvent] = ()) -> None:
        """Record a completed evaluation (and its alert events); wake the streams."""
        for ev in events:
            self.recent.append(ev)
            self.last_summary[ev.key] = ev.summary
        self.version += 1
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def close(self, _app: object = None) -> None:
        """End every stream (the HTTP server's shutdown waits for its handlers)."""
        self.closed = True
        self._wake()

    async def newer_than(self, seen: int, timeout_s: float) -> int | None:
        """Wait until the version passes ``seen``; return it, or None on timeout or close."""
        if self.version > seen:
            return self.version
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout_s)
        except TimeoutError:
            return None
        return None if self.closed or self.version <= seen else self.version

    def alerts_doc(self, firing: Mapping[str, Any]) -> dict[str, Any]:
        """Return the firing alerts (``firing``: key -> state with ``since_ns`` and ``severity``)
        with their last event's summary, and the recent events, newest first."""
        rows = []
        top = _group_tops(firing)
        for key, st in sorted(firing.items()):
            member = inhibition(key)
            higher = top.get(member[0]) if member is not None else None
            rows.append(
                {
                    "key": key,
                    "severity": getattr(st, "severity", None),
                    "since_ns": getattr(st, "since_ns", None),
                    "summary": self.last_summary.get(key),
                    "notified": getattr(st, "notified", None),
                    # a lower level of a fact whose higher level fires: its fact is in that
                    # alert's summary ("also: ..."), so the page folds it under that one
                    "muted_by": higher[1] if higher and member and higher[0] > member[1] else None,
                }
            )
        recent = [_event_doc(ev) for ev in reversed(self.recent)]
        return {"firing": rows, "recent": recent}


def _group_tops(firing: Mapping[str, Any]) -> dict[str, tuple[float, str]]:
    """Return each inhibition group's highest firing (level, key)."""
    tops: dict[str, tuple[float, str]] = {}
    for key in firing:
        member = inhibition(key)
        if member is not None and member[1] > tops.get(member[0], (-math.inf, ""))[0]:
            tops[member[0]] = (member[1], key)
    return tops


def _event_doc(ev: AlertEvent) -> dict[str, Any]:
    keep = ("id", "key", "rule", "book", "subject", "status", "severity", "summary", "ts_ns")
    doc = msgspec.structs.asdict(ev)
    return {k: doc[k] for k in keep} | {"action": ev.action, "delayed": ev.delayed}
