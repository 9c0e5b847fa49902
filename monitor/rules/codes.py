"""Vectorized rule conditions and sparse signal emission.

A rule computes one condition code per alert key with numpy (``levels_above``/``levels_below``),
then materializes ``Signal`` objects only where the alert machine needs one (``select``):

- every key whose condition changed since it was last sent (a breach, a hold, a return to
  clear that resolves a firing alert, a flip to unknown);
- every key that is not clear, was last sent 5 to 10 s ago (``RESEND_NS`` plus a phase per
  key, so keys that fired together do not resend together) and whose wake time has come
  (``Emitted.wake_ns``, the alert machine's word: a deferred notification (cooldown,
  inhibition) wants the resend at once, an announced firing alert only when its repeat is due,
  a key the machine has nothing to do for never), so a deferred notification and a repeat still
  go out, at most 10 s late, while thousands of steady, announced breaches cost nothing;
- every key on a ``full`` cycle (the first after a start: an alert restored from Redis gets the
  condition it has now) that is not clear or that the alert machine holds a state for
  (``RuleMemory.held``; when unknown, every key): a clear key without a state is already what
  the machine assumes, and what was recorded as sent counts it clear.

A clear key that was clear before changes nothing in the alert machine, and a steady breach only
matters to it when a notification is due; skipping those keeps a cycle over 1,000 books x 20 legs
(tens of thousands of keys, thousands breaching in a volatility spike) inside its time budget.
What was sent is recorded from the signals themselves (``RuleMemory.after_signals``), so the
rules write nothing but their signals.

Key tables (``Layout``: the key strings of one rule for one portfolio index and config) are built
once per index and memoized in a ``LayoutCache`` the engine owns, under the rule's name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from monitor.model import Scalar, Severity
from monitor.rules.base import Condition, Signal

CLEAR: Final = 0
BREACH: Final = 1
HOLD: Final = 2
UNKNOWN: Final = 3
CONDITIONS: Final[tuple[Condition, ...]] = ("clear", "breach", "hold", "unknown")
CODE_OF: Final[dict[str, int]] = {c: i for i, c in enumerate(CONDITIONS)}
RESEND_NS: Final = 5 * 1_000_000_000
"""A key whose condition has not changed is sent again after this long (see the docstring)."""
NEVER_NS: Final = 2**63 - 1
"""A wake time (``Emitted.wake_ns``): the alert machine needs nothing more of the key."""

Codes = NDArray[np.int8]
F64 = NDArray[np.float64]
T = TypeVar("T")


def levels_above(
    x: F64, fire: F64 | float, rearm: F64 | float, unknown: NDArray[np.bool_] | None = None
) -> Codes:
    """Breach at ``x >= fire``, clear below ``rearm``, hold between; NaN or ``unknown``: unknown.

    The codes take the shape ``x``, ``fire`` and ``rearm`` broadcast to."""
    # arithmetic on the masks instead of three masked stores: HOLD - breach, then x clear
    with np.errstate(invalid="ignore"):
        codes = np.subtract(HOLD, np.greater_equal(x, fire), dtype=np.int8)
        keep = np.less(x, rearm)
    np.logical_not(keep, out=keep)
    codes *= keep
    bad = np.isnan(x) if unknown is None else np.isnan(x) | unknown
    # x may broadcast against per-key limits: (keys x 1) against (1 x thresholds)
    np.putmask(codes, np.broadcast_to(bad, codes.shape), UNKNOWN)
    return codes


def levels_below(
    x: F64, fire: F64 | float, rearm: F64 | float, unknown: NDArray[np.bool_] | None = None
) -> Codes:
    """Breach at ``x <= fire``, clear above ``rearm``, hold between; NaN or ``unknown``: unknown."""
    return levels_above(-x, -np.asarray(fire), -np.asarray(rearm), unknown)


@dataclass(frozen=True, slots=True)
class Layout:
    """The alert keys of one rule, in the order its condition codes are computed."""

    books: list[str]
    subjects: list[str]
    keys: list[str]
    position: dict[str, int]

    @classmethod
    def of(cls, rule: str, books: list[str], subjects: list[str]) -> Layout:
        books, subjects = _one_object_each(books), _one_object_each(subjects)
        keys = [f"{rule}|{b}|{s}" for b, s in zip(books, subjects, strict=True)]
        return cls(
            books=books, subjects=subjects, keys=keys, position={k: i for i, k in enumerate(keys)}
        )

    def __len__(self) -> int:
        return len(self.books)


def _one_object_each(names: list[str]) -> list[str]:
    """Return ``names`` with each distinct string held once (``names`` itself if it already is).

    A rule formats a subject per key (``L1@2`` for every book's first layer): tens of thousands
    of equal strings, kept as long as the layout, where a few dozen distinct ones suffice."""
    first: dict[str, str] = {}
    shared = [first.setdefault(s, s) for s in names]
    return names if all(a is b for a, b in zip(shared, names, strict=True)) else shared


@dataclass(slots=True)
class Emitted:
    """Per key of a rule's layout: the condition last sent and when (0: never)."""

    layout: Layout
    codes: Codes
    sent_ns: NDArray[np.int64]
    wake_ns: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    """Not resent before this instant (0: on the time rule alone; ``NEVER_NS``: not at all
    while the condition stays): what the alert machine said of the key when it last saw it."""

    def __post_init__(self) -> None:
        if len(self.wake_ns) != len(self.codes):
            self.wake_ns = np.zeros(len(self.codes), np.int64)

    @classmethod
    def empty(cls, layout: Layout) -> Emitted:
        n = len(layout)
        return cls(layout, np.zeros(n, np.int8), np.zeros(n, np.int64))

    def aligned(self, layout: Layout) -> Emitted:
        """Return this state on ``layout`` (a rebuilt index), carried over by key."""
        if layout is self.layout:
            return self
        out = Emitted.empty(layout)
        for p in np.flatnonzero(self.codes != CLEAR).tolist():
            q = layout.position.get(self.layout.keys[p])
            if q is not None:
                out.codes[q], out.sent_ns[q] = self.codes[p], self.sent_ns[p]
                out.wake_ns[q] = self.wake_ns[p]
        return out


@dataclass(slots=True)
class LayoutCache:
    """Values derived from the portfolio index and the rules config only (key tables, limit
    arrays), memoized per (name, index, config) identity: rebuilt after a reload, never stale."""

    _entries: dict[str, tuple[object, object, Any]] = field(default_factory=dict)

    def get(self, name: str, index: object, cfg: object, build: Callable[[], T]) -> T:
        hit = self._entries.get(name)
        if hit is not None and hit[0] is index and hit[1] is cfg:
            return cast(T, hit[2])
        value = build()
        self._entries[name] = (index, cfg, value)
        return value

    def share(self, name: str, other: LayoutCache, index: object) -> None:
        """Hold ``other``'s value of ``name`` under ``index`` too: for a value the portfolio
        index does not enter (a partial evaluation's sub-index reuses the full one's)."""
        hit = other._entries.get(name)
        if hit is not None:
            self._entries[name] = (index, hit[1], hit[2])

    def latest(self, name: str) -> Layout | None:
        """Return the layout last cached under ``name`` (a rule's name), if it is one."""
        hit = self._entries.get(name)
        return hit[2] if hit is not None and isinstance(hit[2], Layout) else None


def lazy(
    rule: str,
    book: str,
    subject: str,
    code: int,
    severity: Severity,
    context: dict[str, Scalar],
    render: Callable[[], Signal],
) -> Signal:
    """Return a lazy signal: the condition now, the summary and numbers when ``render`` runs."""
    return Signal(
        rule=rule,
        book=book,
        subject=subject,
        condition=CONDITIONS[code],
        severity=severity,
        summary="",
        context=context,
        render=render,
    )


def select(
    codes: Codes,
    layout: Layout,
    prev: Emitted | None,
    now_ns: int,
    full: bool,
    held: Container[str] | None = None,
) -> NDArray[np.intp]:
    """Return the positions whose signal must be sent this cycle (see the module docstring).

    ``held``: on a ``full`` cycle, the keys the alert machine holds a state for; a clear key
    outside it is skipped (None: every key is sent)."""
    if full:
        return np.arange(len(codes)) if held is None else _full(codes, layout, held)
    if prev is None:
        return np.flatnonzero(codes != CLEAR)
    prev = prev.aligned(layout)
    # due: not clear and now - sent >= RESEND_NS + phase, i.e. sent <= now - RESEND_NS - phase
    due = codes != CLEAR
    due &= prev.sent_ns <= (now_ns - RESEND_NS) - _phase_ns(len(codes))
    due &= prev.wake_ns <= now_ns
    due |= codes != prev.codes
    return np.flatnonzero(due)


def _full(codes: Codes, layout: Layout, held: Container[str]) -> NDArray[np.intp]:
    """Return every key not clear, and the clear ones in ``held``: a clear signal for a key the
    machine has no state for changes nothing there (``AlertMachine.step``), and the first cycle
    after a start would otherwise make one for each of tens of thousands of keys."""
    send = codes != CLEAR
    keys = layout.keys
    again = [p for p in np.flatnonzero(~send).tolist() if keys[p] in held]
    send[again] = True
    return np.flatnonzero(send)


@functools.lru_cache(maxsize=64)
def _phase_ns(n: int) -> NDArray[np.int64]:
    """Keys resend on staggered phases so thousands breaching together do not resend together."""
    out = (np.arange(n, dtype=np.int64) % 16) * (RESEND_NS // 16)
    out.flags.writeable = False
    return out
