"""Time is passed in: logic takes ``now_ns``; the loops ask a Clock for it."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Wall-clock time, epoch nanoseconds UTC."""
        ...

    def monotonic_ns(self) -> int:
        """A monotonic reading for measuring intervals."""
        ...


class LiveClock:
    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()


class FakeClock:
    """A clock tests (and replays) move by hand."""

    def __init__(self, start_ns: int = 1_795_000_000_000_000_000) -> None:
        self._now_ns = start_ns
        self._mono_ns = 0

    def now_ns(self) -> int:
        return self._now_ns

    def monotonic_ns(self) -> int:
        return self._mono_ns

    def advance(self, seconds: float) -> None:
        step = round(seconds * 1e9)
        self._now_ns += step
        self._mono_ns += step

    def set(self, now_ns: int) -> None:
        if now_ns > self._now_ns:
            self._mono_ns += now_ns - self._now_ns
        self._now_ns = now_ns
