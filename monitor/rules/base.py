"""What rules produce: one ``Signal`` per alert key per evaluation.

A rule is a pure function of the book state and ``now_ns``. It does not remember anything:
hysteresis is expressed by the two levels it reports — ``breach`` (at or beyond the firing level),
``clear`` (back beyond the re-arm level) or ``hold`` (in the band between, keep whatever state the
alert is in). ``unknown`` means the inputs were stale or missing: the alert keeps its state and is
flagged, it never resolves on bad data.

A signal may be *lazy*: the condition and severity are set, and ``render`` builds the full signal
(summary, values, action, advisory) only when something reads it (``materialize``): the alert
state machine when it emits an event, the snapshot when it lists the key. A monitor with
thousands of keys breaching at once (a volatility spike) then formats only what it sends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from monitor.model import Scalar, Severity

Condition = Literal["breach", "clear", "hold", "unknown"]


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    rule: str
    book: str
    subject: str
    condition: Condition
    severity: Severity
    summary: str
    values: dict[str, Scalar] = msgspec.field(default_factory=dict)
    action: str | None = None
    advisory: dict[str, object] | None = None
    context: dict[str, Scalar] = msgspec.field(default_factory=dict)
    """Market context every alert carries (next macro event, VIX momentum, curve)."""
    delayed: bool = False
    render: Callable[[], Signal] | None = None
    """Builds the full signal of a lazy one; None once materialized."""

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.book}|{self.subject}"

    def materialize(self) -> Signal:
        """Return the full signal (self if it is not lazy); a delayed flag set since stays."""
        if self.render is None:
            return self
        full = self.render()
        return msgspec.structs.replace(full, delayed=self.delayed or full.delayed, render=None)
