"""The macro calendar (FOMC decisions, CPI and PPI releases) and the time to the next event.

``config/events.toml`` lists the events as series: one kind, one release time (US Eastern), a
source and a list of dates. ``parse_events`` turns the decoded TOML into an ``EventCalendar``
(sorted epoch-nanosecond instants); ``EventCalendar.next_event(now_ns)`` is what every alert
carries as context and what the ``event_risk`` rule measures against.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
from numpy.typing import NDArray

NEW_YORK = ZoneInfo("America/New_York")
NS = 1_000_000_000


class EventSeries(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: str
    """FOMC, CPI, PPI, ... (matched against ``rules.calendar.high_impact``)."""
    title: str
    time_et: dt.time
    """Release time, US Eastern (the instant follows daylight saving time)."""
    dates: list[dt.date]
    source: str = ""
    provisional: bool = False
    """Dates not (yet) confirmed against the publisher's schedule."""


class EventFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    series: list[EventSeries] = msgspec.field(default_factory=list)


class MacroEvent(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    title: str
    ts_ns: int
    provisional: bool = False

    @property
    def et(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.ts_ns / NS, NEW_YORK)

    def label(self) -> str:
        """Return e.g. ``CPI 2026-12-10 08:30 ET``."""
        mark = " (provisional)" if self.provisional else ""
        return f"{self.kind} {self.et:%Y-%m-%d %H:%M} ET{mark}"


def et_instant_ns(day: dt.date, time_et: dt.time) -> int:
    """Return the epoch nanoseconds of ``day time_et`` in New York."""
    local = dt.datetime.combine(day, time_et, NEW_YORK)
    return int(local.timestamp()) * NS + local.microsecond * 1000


@dataclass(frozen=True, slots=True)
class EventCalendar:
    events: tuple[MacroEvent, ...]
    ts_ns: NDArray[np.int64]

    @classmethod
    def of(cls, events: list[MacroEvent]) -> EventCalendar:
        ordered = tuple(sorted(events, key=lambda e: (e.ts_ns, e.kind)))
        return cls(events=ordered, ts_ns=np.array([e.ts_ns for e in ordered], np.int64))

    @classmethod
    def empty(cls) -> EventCalendar:
        return cls.of([])

    def next_event(self, now_ns: int, kinds: frozenset[str] | None = None) -> MacroEvent | None:
        """Return the first event strictly after ``now_ns`` (of ``kinds`` if given)."""
        i = int(np.searchsorted(self.ts_ns, now_ns, side="right"))
        for event in self.events[i:]:
            if kinds is None or event.kind in kinds:
                return event
        return None

    def kinds(self) -> list[str]:
        return sorted({e.kind for e in self.events})


def parse_events(raw: dict[str, Any]) -> EventCalendar:
    """Decode a parsed events TOML; raise msgspec.ValidationError naming the bad path."""
    decoded = msgspec.convert(raw, EventFile, strict=True)
    events = [
        MacroEvent(
            kind=s.kind, title=s.title, ts_ns=et_instant_ns(d, s.time_et), provisional=s.provisional
        )
        for s in decoded.series
        for d in s.dates
    ]
    return EventCalendar.of(events)
