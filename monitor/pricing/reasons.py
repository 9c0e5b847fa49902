"""Why an implied volatility is missing: one code per option, stored as int8 next to the vol."""

from __future__ import annotations

from enum import IntEnum


class IvReason(IntEnum):
    """The outcome of one implied-volatility solve; anything but OK comes with a NaN vol."""

    OK = 0
    NO_QUOTE = 1
    EXPIRED = 2
    BELOW_INTRINSIC = 3
    ABOVE_BOUND = 4
    BELOW_TICK = 5
    BAD_INPUT = 6
    NOT_IDENTIFIABLE = 7
    NOT_AN_OPTION = 8
    NOT_SOLVED = 9
    """A bid or ask vol nobody asked for (``value(sides=...)``: no book holds the option)."""

    @property
    def label(self) -> str:
        """Return the short human name shown by the API."""
        return _LABELS[self]


_LABELS: dict[IvReason, str] = {
    IvReason.OK: "ok",
    IvReason.NO_QUOTE: "no quote",
    IvReason.EXPIRED: "expired",
    IvReason.BELOW_INTRINSIC: "below intrinsic",
    IvReason.ABOVE_BOUND: "above no-arbitrage bound",
    IvReason.BELOW_TICK: "time value under one tick",
    IvReason.BAD_INPUT: "bad input",
    IvReason.NOT_IDENTIFIABLE: "vol not identifiable at double precision",
    IvReason.NOT_AN_OPTION: "not an option",
    IvReason.NOT_SOLVED: "not solved: no book holds it",
}

REASON_LABELS: tuple[str, ...] = tuple(_LABELS[r] for r in IvReason)
"""Labels indexed by code, for turning an int8 reason array into strings."""
