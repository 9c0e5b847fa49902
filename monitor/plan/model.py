"""What the plan search works on: harvestable layers and roll instruments, per unit.

A layer harvests in *units*: the greatest common divisor of its legs' quantities (a one-leg
layer of 4 calls has 4 units of 1 call). A roll instrument is one call, or one call spread (long
the lower strike, short the upper, same expiry). Money is USD; vega is the common unit of
``monitor.rules.vega`` (USD per vol point; a VIX option counts its delta to the VX future of its
expiry x 100, one VX point read as one vol point).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from monitor.model import CONTRACT_MULTIPLIER


@dataclass(frozen=True, slots=True)
class PlanLeg:
    """One contract line of a harvest or a roll, per unit."""

    symbol: str
    quantity: int
    """Signed, per unit (a harvest sells it: the exit price is the bid of a long leg)."""
    price: float
    """The price the trade is done at: bid to sell, ask to buy (NaN: no tradeable price)."""
    mid: float
    vega_usd: float
    """What this line adds to the book's net vega per unit (signed, with the quantity)."""

    def doc(self, units: int = 1) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "quantity": self.quantity * units,
            "price": _r(self.price),
            "mid": _r(self.mid),
            "vega_usd": _r(self.vega_usd * units),
        }


def traded_usd(legs: tuple[PlanLeg, ...]) -> float:
    """One unit's legs at their trade prices (signed: positive is paid)."""
    return sum(leg.quantity * leg.price for leg in legs) * CONTRACT_MULTIPLIER


def mid_usd(legs: tuple[PlanLeg, ...]) -> float:
    return sum(leg.quantity * leg.mid for leg in legs) * CONTRACT_MULTIPLIER


def vega_usd(legs: tuple[PlanLeg, ...]) -> float:
    return sum(leg.vega_usd for leg in legs)


@dataclass(frozen=True, slots=True)
class HarvestLayer:
    struct: int
    """Position in the portfolio index."""
    name: str
    units: int
    legs: tuple[PlanLeg, ...]
    cost_usd: float
    """Entry cost per unit."""
    gain_ratio: float
    vega_unknown: tuple[str, ...] = ()
    """Legs without a vega (unpriced): counted as 0, like the book's net vega counts them."""

    @property
    def contracts_per_unit(self) -> int:
        return sum(abs(leg.quantity) for leg in self.legs)

    @property
    def proceeds_usd(self) -> float:
        """Selling one unit at the touch (bid of a long leg, ask of a short one)."""
        return traded_usd(self.legs)

    @property
    def mid_usd(self) -> float:
        return mid_usd(self.legs)

    @property
    def vega_usd(self) -> float:
        return vega_usd(self.legs)

    @property
    def tradeable(self) -> bool:
        return all(math.isfinite(leg.price) and leg.price > 0 for leg in self.legs)


@dataclass(frozen=True, slots=True)
class RollInstrument:
    legs: tuple[PlanLeg, ...]
    """The long call, then the short call of a spread."""
    expiry: dt.date
    dte: int
    strike: float
    short_strike: float | None
    future: float
    """The VX future of the expiry (the OTM reference)."""
    otm: float
    in_band: bool
    rank: int
    """0 is the candidate closest to the middle of the DTE and OTM windows."""

    @property
    def cost_usd(self) -> float:
        """Buying one unit: the long at its ask, the short at its bid."""
        return traded_usd(self.legs)

    @property
    def mid_usd(self) -> float:
        return mid_usd(self.legs)

    @property
    def vega_usd(self) -> float:
        return vega_usd(self.legs)

    @property
    def label(self) -> str:
        if self.short_strike is None:
            return self.legs[0].symbol
        return f"{self.legs[0].symbol} / {self.legs[1].symbol} call spread"

    def doc(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": "call" if self.short_strike is None else "call_spread",
            "expiry": self.expiry.isoformat(),
            "dte": self.dte,
            "strike": self.strike,
            "short_strike": self.short_strike,
            "future": round(self.future, 3),
            "otm_pct": round(self.otm * 100, 2),
            "in_band": self.in_band,
            "cost_usd_per_unit": _r(self.cost_usd),
            "vega_usd_per_unit": _r(self.vega_usd),
            "legs": [leg.doc() for leg in self.legs],
        }


def _r(x: float) -> float | None:
    return round(x, 2) if math.isfinite(x) else None
