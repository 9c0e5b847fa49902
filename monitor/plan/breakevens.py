"""The hedge-inclusive break-evens after executing a plan: the seam to the break-even rule.

``monitor.rules.breakeven.what_if`` (the break-even rule's own computation, with the realized
P&L ledger) answers "where would the break-evens be after this trade". The book's open hedge
P&L is valued at the touch (the bid of a long leg, the ask of a short one) and harvesting moves a
layer's gain from open to realized, so a harvest changes nothing; buying the roll at the ask and
valuing it at the touch costs its spread (``Choice.overlay_change_usd``, <= 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from monitor.rules import breakeven


@dataclass(frozen=True, slots=True)
class Distances:
    lower_sigma: float
    """The closest condor's lower break-even, in expected moves from the forward."""
    upper_sigma: float
    valid: bool
    """False: a condor of the book has stale marks or no usable forward/IV (or no condor)."""

    def outside(self, k_sigma: float) -> bool:
        return self.valid and self.lower_sigma > k_sigma and self.upper_sigma > k_sigma

    def text(self) -> str:
        if not self.valid:
            return "unknown"
        return f"lower {_sig(self.lower_sigma)}, upper {_sig(self.upper_sigma)}"


@dataclass(frozen=True, slots=True)
class Probe:
    """The break-evens of one book's condors after a trade."""

    be: breakeven.Breakevens
    book: int

    def now(self) -> Distances:
        """Return the book's closest break-evens as the cycle computed them (no trade)."""
        cd = self.be.condors
        rows = np.flatnonzero(cd.book == self.book)
        if not len(rows) or not bool(self.be.valid[rows].all()):
            return Distances(math.nan, math.nan, False)
        d = self.be.distance_sigma[rows]
        return Distances(float(d[:, 0].min()), float(d[:, 1].min()), True)

    def at(self, hedge_open_change_usd: float) -> Distances:
        """Return the book's closest break-evens with its open hedge P&L changed by this much."""
        if hedge_open_change_usd == 0.0:
            return self.now()
        wi = breakeven.what_if(self.be, self.book, hedge_open_change_usd=hedge_open_change_usd)
        if not wi.valid:
            return Distances(math.nan, math.nan, False)
        lower, upper = wi.closest_sigma()
        return Distances(lower, upper, True)


def _sig(x: float) -> str:
    if math.isinf(x):
        return "none (profitable to the end)" if x > 0 else "no profit zone"
    return f"{x:.2f} sigma"
