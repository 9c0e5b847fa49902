"""Smile and expected move: implied vol at any strike from a chain's quoted vols.

Interpolation is in total variance ``w = vol^2 T``, linear in log-moneyness ``k = ln(K/F)``
between quoted strikes and flat beyond the outermost ones. Each strike contributes its
out-of-the-money option's mid IV (put below the forward, call at or above), or the other side's
when that one has none. The ATM IV is the smile at K = F; the 1-sigma expected move to the
expiry is ``F * atm_iv * sqrt(T)`` points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Smile:
    """One expiry's quoted smile: sorted log-moneyness and total variance, and its forward."""

    forward: float
    t_years: float
    log_moneyness: FloatArray
    total_variance: FloatArray

    @classmethod
    def from_quotes(
        cls,
        forward: float,
        t_years: float,
        strikes: npt.ArrayLike,
        call_iv: npt.ArrayLike,
        put_iv: npt.ArrayLike,
    ) -> Smile:
        """Build a smile from per-strike call and put IVs (NaN where missing)."""
        k, c, p = (np.asarray(a, dtype=np.float64) for a in (strikes, call_iv, put_iv))
        below = k < forward
        otm = np.where(below, p, c)
        iv = np.where(np.isnan(otm), np.where(below, c, p), otm)
        keep = np.isfinite(iv) & (iv > 0.0) & (k > 0.0)
        with np.errstate(all="ignore"):
            x = np.log(k[keep] / forward)
        order = np.argsort(x, kind="stable")
        return cls(
            forward=forward,
            t_years=t_years,
            log_moneyness=x[order],
            total_variance=iv[keep][order] ** 2 * t_years,
        )

    @property
    def empty(self) -> bool:
        """Return True when no strike has a usable IV (or time is up)."""
        return self.log_moneyness.size == 0 or not self.t_years > 0.0

    def iv(self, strikes: npt.ArrayLike) -> FloatArray:
        """Return the interpolated IV at each strike (NaN for an empty smile)."""
        k = np.asarray(strikes, dtype=np.float64)
        if self.empty or not np.isfinite(self.forward):
            return np.full(k.shape, np.nan)
        with np.errstate(all="ignore"):
            x = np.log(k / self.forward)
        w = np.interp(x, self.log_moneyness, self.total_variance)
        out: FloatArray = np.sqrt(w / self.t_years)
        return out

    def atm_iv(self) -> float:
        """Return the forward-ATM IV, interpolated."""
        return float(self.iv(self.forward))

    def expected_move(self) -> float:
        """Return the 1-sigma move to expiry in index points: F * atm_iv * sqrt(T)."""
        return self.forward * self.atm_iv() * float(np.sqrt(self.t_years))

    def sigma_distance(self, level: npt.ArrayLike) -> FloatArray:
        """Return how many smile sigmas each level lies from the forward (signed).

        Uses the IV at the level itself, ``ln(level/F) / (iv(level) * sqrt(T))``, so a
        break-even in the put wing is measured with the wing's own vol.
        """
        x = np.asarray(level, dtype=np.float64)
        with np.errstate(all="ignore"):
            out: FloatArray = np.log(x / self.forward) / (self.iv(x) * np.sqrt(self.t_years))
        return out
