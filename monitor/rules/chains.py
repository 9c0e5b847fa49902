"""Per-chain pricing inputs the rules need: forward, time to expiry, ATM IV and the smile.

A thin view over the engine's ``Valuation``: the rules never solve an implied vol, interpolate a
smile or compute a time to expiry themselves; they read what the pricing core produced for this
cycle (``chain_forward``, ``chain_t_years``, ``chain_atm_iv``, ``smile_iv``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from monitor.pricing.valuation import Valuation
from monitor.rules.breakeven_pass import Smiles

F64 = NDArray[np.float64]
ChainKey = tuple[str, dt.date]


def chain_ids(val: Valuation, keys: Sequence[ChainKey]) -> NDArray[np.int64]:
    """Return the valuation's chain id of each (root, expiry) key, -1 when it has none."""
    known = {(c.root, c.expiry): i for i, c in enumerate(val.universe.chains)}
    return np.array([known.get(k, -1) for k in keys], np.int64)


@dataclass(frozen=True, slots=True)
class ChainTable:
    val: Valuation
    ids: NDArray[np.int64]
    """Valuation chain id per key (-1: not in the universe)."""
    _flat: list[Smiles] = field(default_factory=list, compare=False, repr=False)

    def flat(self) -> Smiles:
        """Return the valuation's smiles as flat arrays (built once per table)."""
        if not self._flat:
            self._flat.append(Smiles(self.val))
        return self._flat[0]

    @classmethod
    def build(cls, keys: Sequence[ChainKey], val: Valuation) -> ChainTable:
        return cls(val=val, ids=chain_ids(val, keys))

    def lookup(self, key_ids: NDArray[np.int64]) -> tuple[F64, F64, F64]:
        """Return (forward, t_years, atm_iv) per row; ``key_ids`` index the keys."""
        v, c = self.val, self.ids[key_ids] if len(key_ids) else np.zeros(0, np.int64)
        ok = c >= 0
        safe = np.where(ok, c, 0)

        def pick(arr: F64) -> F64:
            return np.where(ok, arr[safe], np.nan) if len(arr) else np.full(len(c), np.nan)

        return pick(v.chain_forward), pick(v.chain_t_years), pick(v.chain_atm_iv)

    def smile(self, key_ids: NDArray[np.int64], strikes: F64) -> F64:
        """Return the smile IV at ``strikes`` (rows x k) of each row's chain (NaN at +-inf).

        The rows are grouped by key once (a stable sort), so each chain interpolates its own
        contiguous run instead of scanning every row per chain."""
        out = np.full(strikes.shape, np.nan)
        n_keys = len(self.ids)
        if not len(key_ids) or not n_keys:
            return out
        narrow = key_ids.astype(np.int16) if n_keys < 2**15 else key_ids  # radix sort
        order = np.argsort(narrow, kind="stable")
        stop = np.cumsum(np.bincount(key_ids, minlength=n_keys)).tolist()
        start = 0
        for i, chain in enumerate(self.ids.tolist()):
            rows, start = order[start : stop[i]], stop[i]
            if chain < 0 or not len(rows):
                continue
            k = strikes[rows]
            finite = np.isfinite(k)
            fwd = float(self.val.chain_forward[chain])
            out[rows] = np.where(finite, self.val.smile_iv(chain, np.where(finite, k, fwd)), np.nan)
        return out
