"""Discount rates: flat, or a few (days, rate) points linear in between and flat beyond.

Rates are continuously compounded decimals (0.043 is 4.3%), so ``df = exp(-r T)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class RateCurve:
    """A zero-rate curve on calendar days to maturity."""

    days: tuple[float, ...]
    rates: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.days or len(self.days) != len(self.rates):
            raise ValueError("a rate curve needs as many rates as days, at least one")
        if any(b <= a for a, b in zip(self.days, self.days[1:], strict=False)):
            raise ValueError("rate curve days must be strictly increasing")
        if not all(np.isfinite(self.rates)) or not all(np.isfinite(self.days)):
            raise ValueError("rate curve points must be finite")

    @classmethod
    def flat(cls, rate: float) -> RateCurve:
        """Return a curve with one rate for every maturity."""
        return cls(days=(0.0,), rates=(float(rate),))

    @classmethod
    def from_points(cls, points: Sequence[Sequence[float]]) -> RateCurve:
        """Return a curve from ``[[days, rate], ...]`` pairs, sorted by days."""
        pairs = sorted((float(d), float(r)) for d, r in points)
        return cls(days=tuple(d for d, _ in pairs), rates=tuple(r for _, r in pairs))

    @classmethod
    def from_config(cls, value: float | Sequence[Sequence[float]]) -> RateCurve:
        """Return a curve from a TOML value: a number (flat) or a list of [days, rate] pairs."""
        if isinstance(value, int | float):
            return cls.flat(float(value))
        return cls.from_points(value)

    def rate(self, t_years: npt.ArrayLike) -> NDArray[np.float64]:
        """Return the zero rate for each maturity in years (ACT/365)."""
        days = np.asarray(t_years, dtype=np.float64) * 365.0
        out: NDArray[np.float64] = np.interp(days, self.days, self.rates)
        return out

    def discount(self, t_years: npt.ArrayLike) -> NDArray[np.float64]:
        """Return exp(-r(T) T) for each maturity in years."""
        t = np.asarray(t_years, dtype=np.float64)
        out: NDArray[np.float64] = np.exp(-self.rate(t) * t)
        return out
