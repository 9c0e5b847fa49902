"""The plan's preconditions, each with its value, and the timing they dictate.

- ``macro_event``: holds when no high-impact release (``rules.calendar.high_impact``) is due
  within ``rules.calendar.within_h``; otherwise harvest before it and roll after it.
- ``term_structure``: holds in contango above the ``contango_low`` alert's re-arm level
  (``min_contango + hysteresis``). Anything else (backwardation, low contango, the band between,
  an unknown curve) is what the term-structure alerts call "roll only once contango returns":
  the plan then harvests now and rolls when contango returns, so it never says "buy now" in a
  cycle whose term-structure alert says wait.
- ``vix_mean_reversion``: the MACD histogram contracting in contango; it does not gate the
  timing, it tightens the martingale cap (``martingale_coefficient_reverting``).
- ``breakevens_after_plan``: every condor's hedge-inclusive break-evens after the plan are
  outside +-``k_sigma`` expected moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from monitor.plan.breakevens import Distances
from monitor.rules import codes as C
from monitor.rules.calendar import MacroEvent

NS = 1_000_000_000
Timing = Literal[
    "roll_now",
    "harvest_now_roll_when_contango_returns",
    "harvest_now_roll_after_event",
    "harvest_only",
]


@dataclass(frozen=True, slots=True)
class Precondition:
    name: str
    holds: bool | None
    """None: unknown."""
    value: str

    def doc(self) -> dict[str, Any]:
        return {"name": self.name, "holds": self.holds, "value": self.value}


def macro_event(event: MacroEvent | None, now_ns: int, within_h: float) -> Precondition:
    if event is None:
        return Precondition("macro_event", True, "no high-impact release scheduled")
    hours = (event.ts_ns - now_ns) / NS / 3600
    inside = hours <= within_h
    where = "inside" if inside else "outside"
    return Precondition(
        "macro_event", not inside, f"{event.label()} in {hours:.1f} h ({where} {within_h:g} h)"
    )


def term_structure(
    contango: float, backwardation_code: int, low_code: int, rearm: float
) -> Precondition:
    if backwardation_code == C.UNKNOWN or math.isnan(contango):
        return Precondition("term_structure", None, "unknown (fewer than two fresh VX monthlies)")
    state = (
        "backwardation"
        if contango <= 0
        else ("contango" if low_code == C.CLEAR else "contango below the roll level")
    )
    holds = backwardation_code == C.CLEAR and low_code == C.CLEAR
    return Precondition(
        "term_structure", holds, f"{state}: F2/F1-1 {contango:+.2%} (roll level {rearm:+.2%})"
    )


def mean_reversion(
    reverting: bool | None, histogram: float | None, coefficient: float
) -> Precondition:
    hist = "n/a" if histogram is None or math.isnan(histogram) else f"{histogram:+.4f}"
    state = {True: "likely", False: "not signalled", None: "unknown"}[reverting]
    return Precondition(
        "vix_mean_reversion",
        reverting,
        f"mean reversion {state} (MACD histogram {hist}); martingale coefficient {coefficient:g}",
    )


def breakevens(after: Distances, k_sigma: float) -> Precondition:
    holds = after.outside(k_sigma) if after.valid else None
    return Precondition("breakevens_after_plan", holds, f"{after.text()} (k = {k_sigma:g})")


def timing(event: Precondition, curve: Precondition, rolls: bool = True) -> Timing:
    """Return when to roll: the term structure first (the alerts' rule), then the calendar;
    ``harvest_only`` when the plan buys nothing."""
    if not rolls:
        return "harvest_only"
    if curve.holds is not True:
        return "harvest_now_roll_when_contango_returns"
    if event.holds is False:
        return "harvest_now_roll_after_event"
    return "roll_now"
