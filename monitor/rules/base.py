"""What rules produce: one ``Signal`` per alert key per evaluation.

A rule is a pure function of the book state and ``now_ns``. It does not remember anything:
hysteresis is expressed by the two levels it reports — ``breach`` (at or beyond the firing level),
``clear`` (back beyond the re-arm level) or ``hold`` (in the band between, keep whatever state the
alert is in). ``unknown`` means the inputs were stale or missing: the alert keeps its state and is
flagged, it never resolves on bad data.
"""

from __future__ import annotations

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

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.book}|{self.subject}"
