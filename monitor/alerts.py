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
- Inhibition: keys measuring one fact at different levels form a group (``inhibition``): a
  layer's gain thresholds (``layer_gain|B|L@1.5`` < ``L@2``); the VX curve's
  ``vix_vix3m`` < ``contango_low`` < ``backwardation``. While a higher level of the group is
  firing, a lower one is tracked but muted, exactly like a deferred firing: it notifies only if
  it is still firing once the higher one has resolved. So 150% and 200% crossed in one cycle
  give one notification at the higher severity, and one backwardation event gives one alert;
  that alert's summary and ``values["also"]`` carry the muted members' facts.
- A key whose structure or book left the portfolio resolves: on the next cycle after a reload
  (the rules send it a clear) or, after a restart, through ``retire`` on the first cycle.

Event ids are fresh per notification (the webhook-id a receiver deduplicates retries on); the
dedup key is the alert key.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import msgspec

from monitor.model import AlertEvent, AlertStatus
from monitor.rules.base import Signal

NS = 1_000_000_000
CURVE_LEVELS = {"vix_vix3m": 1, "contango_low": 2, "backwardation": 3}


def inhibition(key: str) -> tuple[str, float] | None:
    """Return (group, level) of a key that belongs to an inhibition group, else None."""
    rule, _, rest = key.partition("|")
    book, _, subject = rest.partition("|")
    if rule == "layer_gain" and "@" in subject:
        layer, _, level = subject.rpartition("@")
        try:
            return f"{rule}|{book}|{layer}", float(level)
        except ValueError:
            return None
    if rule == "term_structure" and subject in CURVE_LEVELS:
        return f"{rule}|{book}", float(CURVE_LEVELS[subject])
    return None


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

    def merge(self, other: Transition) -> None:
        self.events += other.events
        self.changed.update(other.changed)
        self.suppressed += other.suppressed


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
        signals = list(signals)
        top = self._top_levels(signals)
        for sig in signals:
            st = self.states.get(sig.key)
            if st is None:
                st = self.states[sig.key] = KeyState()
            before = msgspec.structs.replace(st)
            member = inhibition(sig.key)
            muted = member is not None and top.get(member[0], -math.inf) > member[1]
            status = self._advance(st, sig, now_ns, out, muted)
            if status is not None:
                st.notified = status != "resolved"
                st.last_notified_ns = now_ns
                out.events.append(self._event(sig, status, now_ns, _also(sig, member, signals)))
            if st != before:
                out.changed[sig.key] = st
        return out

    def retire(self, live: Collection[str], now_ns: int) -> Transition:
        """Resolve every firing key that is no longer live (its structure or book left the
        portfolio while the process was stopped): a notified one with a resolved event."""
        out = Transition()
        for key, st in self.states.items():
            if not st.firing or key in live:
                continue
            rule, _, rest = key.partition("|")
            book, _, subject = rest.partition("|")
            gone = Signal(
                rule=rule,
                book=book,
                subject=subject,
                condition="clear",
                severity=st.severity,  # type: ignore[arg-type]
                summary=f"{subject} of book {book} is no longer in the portfolio",
            )
            st.firing = False
            if st.notified:
                st.notified, st.last_notified_ns = False, now_ns
                out.events.append(self._event(gone, "resolved", now_ns))
            else:
                out.suppressed += 1
            out.changed[key] = st
        return out

    def _top_levels(self, signals: list[Signal]) -> dict[str, float]:
        """Return each inhibition group's highest level firing after this step."""
        firing = {k: st.firing for k, st in self.states.items() if st.firing}
        for sig in signals:
            if sig.condition == "breach":
                firing[sig.key] = True
            elif sig.condition == "clear":
                firing.pop(sig.key, None)
        top: dict[str, float] = {}
        for key in firing:
            member = inhibition(key)
            if member is not None:
                top[member[0]] = max(top.get(member[0], -math.inf), member[1])
        return top

    def _advance(
        self, st: KeyState, sig: Signal, now_ns: int, out: Transition, muted: bool = False
    ) -> AlertStatus | None:
        st.unknown = sig.condition == "unknown"
        last = st.last_notified_ns
        cooled = last is None or now_ns - last >= self.cooldown_s * NS
        if muted and sig.condition != "clear":
            if sig.condition == "breach" and not st.firing:
                st.firing, st.notified, st.since_ns, st.severity = True, False, now_ns, sig.severity
            return None
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

    def _event(
        self, sig: Signal, status: AlertStatus, now_ns: int, also: list[str] | None = None
    ) -> AlertEvent:
        sig = sig.materialize()
        summary = sig.summary if status != "resolved" else f"resolved: {sig.summary}"
        values = sig.values
        if also and status != "resolved":
            summary += "; also: " + "; ".join(also)
            values = {**values, "also": " | ".join(also)}
        return AlertEvent(
            id=self.new_id(),
            key=sig.key,
            rule=sig.rule,
            book=sig.book,
            subject=sig.subject,
            status=status,
            severity=sig.severity,
            summary=summary,
            ts_ns=now_ns,
            values=values,
            action=sig.action,
            advisory=sig.advisory,
            context=sig.context,
            delayed=sig.delayed,
        )


def _also(sig: Signal, member: tuple[str, float] | None, signals: list[Signal]) -> list[str]:
    """Return the summaries of this cycle's breaching lower members of ``sig``'s group."""
    if member is None:
        return []
    out = []
    for other in signals:
        m = inhibition(other.key)
        if m is not None and m[0] == member[0] and m[1] < member[1] and other.condition == "breach":
            out.append(other.materialize().summary)
    return out


STATE_ENCODER = msgspec.msgpack.Encoder()
STATE_DECODER = msgspec.msgpack.Decoder(KeyState)
