"""The alert state machine: signals in, notification events out. Pure; state is data.

Per alert key (rule | book | subject):

    inactive --breach--> firing --clear--> inactive
        ^                  |  \\
        |                  |   `--(every repeat_interval_s while firing)--> "repeat" event
        `------------------'

- ``breach`` while inactive: the key becomes firing and a "firing" event is emitted — unless the
  key notified less than ``cooldown_s`` ago; then the notification is *deferred* and emitted on
  the first evaluation after the cooldown if the key is still firing (nothing is lost, nothing
  flaps).
- ``clear`` while firing: the key becomes inactive; a "resolved" event is emitted only if the
  firing was notified (a deferred firing that clears in its cooldown is dropped silently, counted).
- ``hold`` (inside the hysteresis band) keeps the state; ``unknown`` (stale/missing data) keeps
  the state and marks the key unknown: stale data never resolves an alert.
- The same condition never fires twice without a resolve in between: that is what the stored
  ``firing`` flag guarantees across restarts, because the state is persisted (see ``AlertStore``).

Event ids are fresh per notification (the webhook-id a receiver deduplicates retries on); the
dedup key is the alert key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from monitor.model import AlertEvent, AlertStatus
from monitor.rules.base import Signal

NS = 1_000_000_000


class KeyState(msgspec.Struct, kw_only=True):
    firing: bool = False
    notified: bool = False
    """Whether the current firing episode has been announced."""
    unknown: bool = False
    since_ns: int = 0
    last_notified_ns: int | None = None
    severity: str = "info"


@dataclass(slots=True)
class Transition:
    """What one evaluation changed: events to send and keys whose stored state changed."""

    events: list[AlertEvent] = field(default_factory=list)
    changed: dict[str, KeyState] = field(default_factory=dict)
    suppressed: int = 0


def _new_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


@dataclass(slots=True)
class AlertMachine:
    cooldown_s: float
    repeat_interval_s: float
    states: dict[str, KeyState] = field(default_factory=dict)
    new_id: Callable[[], str] = _new_id

    def step(self, signals: Iterable[Signal], now_ns: int) -> Transition:
        """Advance every key named by ``signals``; return the events to deliver."""
        out = Transition()
        for sig in signals:
            st = self.states.get(sig.key)
            if st is None:
                st = self.states[sig.key] = KeyState()
            before = msgspec.structs.replace(st)
            status = self._advance(st, sig, now_ns, out)
            if status is not None:
                st.notified = status != "resolved"
                st.last_notified_ns = now_ns
                out.events.append(self._event(sig, status, now_ns))
            if st != before:
                out.changed[sig.key] = st
        return out

    def _advance(
        self, st: KeyState, sig: Signal, now_ns: int, out: Transition
    ) -> AlertStatus | None:
        st.unknown = sig.condition == "unknown"
        last = st.last_notified_ns
        cooled = last is None or now_ns - last >= self.cooldown_s * NS
        match sig.condition:
            case "breach" if not st.firing:
                st.firing, st.notified, st.since_ns, st.severity = True, False, now_ns, sig.severity
                return "firing" if cooled else None
            case "clear" if st.firing:
                st.firing = False
                if st.notified:
                    return "resolved"
                out.suppressed += 1
                return None
        if st.firing and not st.notified and cooled and sig.condition != "unknown":
            return "firing"
        repeat_due = last is not None and now_ns - last >= self.repeat_interval_s * NS
        if (
            st.firing
            and st.notified
            and self.repeat_interval_s > 0
            and repeat_due
            and not st.unknown
        ):
            return "repeat"
        return None

    def _event(self, sig: Signal, status: AlertStatus, now_ns: int) -> AlertEvent:
        sig = sig.materialize()
        return AlertEvent(
            id=self.new_id(),
            key=sig.key,
            rule=sig.rule,
            book=sig.book,
            subject=sig.subject,
            status=status,
            severity=sig.severity,
            summary=sig.summary if status != "resolved" else f"resolved: {sig.summary}",
            ts_ns=now_ns,
            values=sig.values,
            action=sig.action,
            advisory=sig.advisory,
            context=sig.context,
            delayed=sig.delayed,
        )


STATE_ENCODER = msgspec.msgpack.Encoder()
STATE_DECODER = msgspec.msgpack.Decoder(KeyState)
