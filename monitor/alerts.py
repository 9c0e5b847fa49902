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
from collections.abc import Callable, Collection, Container, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from monitor.model import AlertEvent, AlertStatus
from monitor.rules.base import Signal
from monitor.rules.codes import NEVER_NS

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


@dataclass(frozen=True, slots=True)
class Decided:
    """An event a step decided on, not yet made: ``AlertMachine.make`` builds it (the signal's
    summary, values and advice: ``Signal.materialize``). A volatility spike at thousands of
    books decides thousands of events whose advice plans take a millisecond or more each;
    made piece by piece as they are written, they never hold the event loop for seconds."""

    sig: Signal
    status: AlertStatus
    ts_ns: int
    also: tuple[Signal, ...] = ()
    """The breaching lower levels of the key's group this step (their summaries join it)."""

    @property
    def key(self) -> str:
        return self.sig.key


@dataclass(slots=True)
class Transition:
    """What one evaluation changed: events to send and keys whose stored state changed.

    ``step`` and ``retire`` fill ``events``; ``decide`` and ``decide_retirement`` fill
    ``decided`` instead, for the caller to make as it writes them."""

    events: list[AlertEvent] = field(default_factory=list)
    decided: list[Decided] = field(default_factory=list)
    changed: dict[str, KeyState] = field(default_factory=dict)
    suppressed: int = 0
    wake: dict[str, int] = field(default_factory=dict)
    """Per key stepped: when the machine next needs its signal while the condition stays
    (``wake_ns``); the rules' sparse emission skips resends until then."""

    def merge(self, other: Transition) -> None:
        self.events += other.events
        self.decided += other.decided
        self.changed.update(other.changed)
        self.suppressed += other.suppressed
        self.wake.update(other.wake)


class KeyStates(dict[str, KeyState]):
    """The machine's states by key, with the keys of each inhibition group indexed.

    A step looks up only its signals' groups; scanning every key instead cost ~20 ms a cycle
    at 10,000 books. Every mutating method keeps the index (the replica deletes and loads
    partitions' keys in place)."""

    def __init__(self, items: Iterable[tuple[str, KeyState]] | dict[str, KeyState] = ()) -> None:
        super().__init__()
        self.groups: dict[str, set[str]] = {}
        self.update(items)

    def _add(self, key: str) -> None:
        member = inhibition(key)
        if member is not None:
            self.groups.setdefault(member[0], set()).add(key)

    def _drop(self, key: str) -> None:
        member = inhibition(key)
        if member is not None:
            self.groups.get(member[0], set()).discard(key)

    def __setitem__(self, key: str, value: KeyState) -> None:
        if key not in self:
            self._add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._drop(key)

    def update(self, *args: Any, **kwargs: KeyState) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> KeyStates:  # type: ignore[override,misc]
        self.update(other)
        return self

    def setdefault(self, key: str, default: KeyState) -> KeyState:
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: str, *default: Any) -> Any:
        had = key in self
        out = super().pop(key, *default)
        if had:
            self._drop(key)
        return out

    def popitem(self) -> tuple[str, KeyState]:
        key, value = super().popitem()
        self._drop(key)
        return key, value

    def clear(self) -> None:
        super().clear()
        self.groups.clear()


def _new_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


@dataclass(slots=True)
class AlertMachine:
    cooldown_s: float
    repeat_interval_s: float
    states: dict[str, KeyState] = field(default_factory=KeyStates)
    new_id: Callable[[], str] = _new_id

    def __post_init__(self) -> None:
        self._indexed()

    def _indexed(self) -> KeyStates:
        """Return ``states`` as a ``KeyStates`` (re-indexed once if a plain dict was set)."""
        if not isinstance(self.states, KeyStates):
            self.states = KeyStates(self.states)
        return self.states

    def held(self) -> Container[str]:
        """Return the keys the machine holds a state for, live (the states themselves, no copy):
        a clear signal for any other key changes nothing here (``RuleMemory.held``). It follows
        ``states`` until that is replaced, so take it again after setting ``states``."""
        return self._indexed()

    def step(self, signals: Iterable[Signal], now_ns: int) -> Transition:
        """Advance every key named by ``signals``; return the events to deliver."""
        return self._made(self.decide(signals, now_ns))

    def _made(self, out: Transition) -> Transition:
        """Return ``out`` with its decided events made, after its events."""
        out.events += [self.make(d) for d in out.decided]
        out.decided = []
        return out

    def decide(self, signals: Iterable[Signal], now_ns: int) -> Transition:
        """``step``, with the events left to make (``Transition.decided``, ``make``). The
        states advance now, as ``step`` advances them."""
        out = Transition()
        signals = list(signals)
        members = [inhibition(sig.key) for sig in signals]
        top = self._top_levels(signals, {m[0] for m in members if m is not None})
        breaching = _breaching_members(signals, members)
        resolved: set[str] = set()
        for sig, member in zip(signals, members, strict=True):
            st = self.states.get(sig.key)
            if st is None:
                if sig.condition in ("clear", "hold"):
                    out.wake[sig.key] = NEVER_NS  # the default state stays: nothing to keep
                    continue
                st = self.states[sig.key] = KeyState()
            before = msgspec.structs.replace(st)
            muted = member is not None and top.get(member[0], -math.inf) > member[1]
            status = self._advance(st, sig, now_ns, out, muted)
            if status is not None:
                st.notified = status != "resolved"
                st.last_notified_ns = now_ns
                out.decided.append(Decided(sig, status, now_ns, _also(member, breaching)))
            if st != before:
                out.changed[sig.key] = st
            out.wake[sig.key] = self.wake_ns(st, muted)
            if member is not None and sig.condition == "clear" and before.firing:
                resolved.add(member[0])
        # a level of a group resolved: the lower ones it muted may notify now
        states = self._indexed()
        for group in resolved:
            for key in states.groups.get(group, ()):
                st = states[key]
                if st.firing and not st.notified:
                    out.wake[key] = 0
        return out

    def wake_ns(self, st: KeyState, muted: bool = False) -> int:
        """Return when a key in state ``st`` next needs a signal if its condition stays.

        An announced firing alert: at its repeat (never without repeats). A firing not yet
        announced: when its cooldown ends; muted by a higher level, when a level of its group
        resolves (``step`` wakes the group then). Anything else: never, since the machine acts
        on a change of condition only, and a change always reaches it."""
        if not st.firing:
            return NEVER_NS
        last = st.last_notified_ns
        if st.notified:
            if self.repeat_interval_s > 0 and last is not None:
                return last + round(self.repeat_interval_s * NS)
            return NEVER_NS
        if muted:
            return NEVER_NS
        return 0 if last is None else last + round(self.cooldown_s * NS)

    def retire(self, live: Collection[str], now_ns: int) -> Transition:
        """Resolve every firing key that is no longer live (its structure or book left the
        portfolio while the process was stopped): a notified one with a resolved event."""
        return self._made(self.decide_retirement(live, now_ns))

    def decide_retirement(self, live: Collection[str], now_ns: int) -> Transition:
        """``retire``, with the events left to make (as ``decide``)."""
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
                out.decided.append(Decided(gone, "resolved", now_ns))
            else:
                out.suppressed += 1
            out.changed[key] = st
        return out

    def _top_levels(self, signals: list[Signal], groups: set[str]) -> dict[str, float]:
        """Return the highest level firing after this step of each group in ``groups``."""
        states = self._indexed()
        firing = {
            k for g in groups for k in states.groups.get(g, ()) if states[k].firing
        }
        for sig in signals:
            if sig.condition == "breach":
                firing.add(sig.key)
            elif sig.condition == "clear":
                firing.discard(sig.key)
        top: dict[str, float] = {}
        for key in firing:
            member = inhibition(key)
            if member is not None and member[0] in groups:
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

    def make(
        self, decided: Decided, on_error: Callable[[Decided, Exception], None] | None = None
    ) -> AlertEvent:
        """Build a decided event: its signal's full summary, values and advice, a fresh id.

        If building the details raises (a bug in a rule's advice), the alert still goes out,
        with the signal's own condition and severity, the error named in its summary and
        values: an alert is never lost to its advice. ``on_error`` hears once of an event
        whose details, or a muted level's joined to them, failed (with the first error)."""
        status, now_ns = decided.status, decided.ts_ns
        errors: list[Exception] = []
        sig = _full(decided.sig, errors)
        also = [_full(other, errors).summary for other in decided.also]
        if errors and on_error is not None:
            on_error(decided, errors[0])
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


def _full(sig: Signal, errors: list[Exception]) -> Signal:
    """``sig`` materialized, or, if its render raises, bare (``_bare``), the error noted."""
    try:
        return sig.materialize()
    except Exception as exc:
        errors.append(exc)
        return _bare(sig, exc)


def _bare(sig: Signal, exc: Exception) -> Signal:
    """The signal a failed render leaves: its key, condition and severity, the error named."""
    what = sig.summary or f"{sig.rule} {sig.subject} of book {sig.book}"
    return msgspec.structs.replace(
        sig,
        summary=f"{what} (its details could not be computed: {type(exc).__name__})",
        values={**sig.values, "details_error": repr(exc)[:200]},
        render=None,
    )


def _breaching_members(
    signals: list[Signal], members: list[tuple[str, float] | None]
) -> dict[str, list[tuple[float, Signal]]]:
    """Group this cycle's breaching signals by inhibition group, in signal order."""
    out: dict[str, list[tuple[float, Signal]]] = {}
    for sig, member in zip(signals, members, strict=True):
        if member is not None and sig.condition == "breach":
            out.setdefault(member[0], []).append((member[1], sig))
    return out


def _also(
    member: tuple[str, float] | None, breaching: dict[str, list[tuple[float, Signal]]]
) -> tuple[Signal, ...]:
    """Return this cycle's breaching lower members of ``member``'s group (their summaries
    join the event's when it is made).

    Looked up in the cycle's groups (``_breaching_members``): scanning every signal for each
    event made a spike's first cycle quadratic in the number of keys.
    """
    if member is None:
        return ()
    group, level = member
    return tuple(other for lvl, other in breaching.get(group, ()) if lvl < level)


STATE_ENCODER = msgspec.msgpack.Encoder()
STATE_DECODER = msgspec.msgpack.Decoder(KeyState)
