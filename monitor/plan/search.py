"""The plan search: harvest units x roll instrument x quantity, exhaustively, in numpy.

Every option is a harvest vector ``h`` (units of each firing layer), a roll instrument ``i`` and
a quantity ``q`` (0 = no roll). For each:

    gain        = sum h_l x (proceeds_l - cost_l)              harvested gain, at the touch
    after       = vega_now - sum h_l x vega_l                  net vega after the harvest
    roll vega   = after + q x vega_i                           net vega after the roll
    cost        = q x cost_i                                   spent at the ask
    feasible    : cost <= band_hi x max(gain, 0)  (the budget) and
                  q <= floor(coefficient x harvested contracts) (the martingale cap)

The feasible options are ranked, best first, by:

1. ``excess`` = max(|roll vega - baseline| - vega_i, 0): 0 once the baseline is reached within
   one contract (unit) of the instrument; the target comes first;
2. (selective harvest only) fewer harvested units: harvest only what the roll needs;
3. spending outside the recycle band [band_lo, band_hi] x gain last (a plan that reaches the
   baseline below the band's floor is still taken, and says so);
4. the smaller |roll vega - baseline|, then the better-ranked instrument, then the spend
   closest to ``preferred`` x gain.

``accept`` (the break-evens after the plan) filters the ranked options: the first it accepts
wins; when it accepts none, the best-ranked option is kept and the plan reports the failure.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.plan.model import HarvestLayer, RollInstrument

F64 = NDArray[np.float64]
MAX_ACCEPT_TRIES = 64
MAX_COMBOS = 4096
"""Selective harvest enumerates at most this many harvest vectors (more: full harvest only)."""


@dataclass(frozen=True, slots=True)
class SearchInput:
    vega_now_usd: float
    baseline_usd: float
    layers: Sequence[HarvestLayer]
    instruments: Sequence[RollInstrument]
    band: tuple[float, float]
    coefficient: float
    selective: bool
    preferred: float = 0.5
    """The preferred recycle fraction (``rules.roll.recycle_fraction``): the last tie-break."""


@dataclass(frozen=True, slots=True)
class Choice:
    harvest: tuple[int, ...]
    """Units harvested per layer of the input (0: the layer is kept)."""
    instrument: int | None
    """Index into the input's instruments; None when nothing is bought."""
    quantity: int
    gain_usd: float
    cost_usd: float
    vega_after_harvest_usd: float
    vega_after_roll_usd: float
    cap: int
    affordable: int
    """floor(band_hi x gain / cost per unit) of the chosen instrument (0 without one)."""
    accepted: bool
    """Whether ``accept`` took it (True when no ``accept`` was given)."""
    overlay_change_usd: float
    """What executing it changes in the book's open hedge P&L (valued at the touch, the realized
    ledger keeping the harvested gain): the roll's spread, <= 0."""


def harvest_vectors(inp: SearchInput) -> NDArray[np.int64]:
    """Return the harvest vectors considered (rows), every layer fully when not selective."""
    full = np.array([[layer.units for layer in inp.layers]], np.int64)
    if not inp.selective or not inp.layers:
        return full
    if math.prod(layer.units + 1 for layer in inp.layers) > MAX_COMBOS:
        return full
    rows = [h for h in itertools.product(*(range(x.units + 1) for x in inp.layers)) if any(h)]
    return np.array(rows, np.int64).reshape(len(rows), len(inp.layers))


def search(inp: SearchInput, accept: Callable[[float], bool] | None = None) -> Choice | None:
    """Return the best plan (see the module docstring); None when no layer can be harvested."""
    if not inp.layers:
        return None
    h = harvest_vectors(inp)
    per = _layer_arrays(inp.layers)
    gain = h @ (per["proceeds"] - per["cost"])
    after = inp.vega_now_usd - h @ per["vega"]
    units = h.sum(axis=1)
    cap = np.floor(inp.coefficient * (h @ per["contracts"]) + 1e-9).astype(np.int64)
    budget = inp.band[1] * np.maximum(gain, 0.0)
    floor_usd = inp.band[0] * np.maximum(gain, 0.0)
    cost_i, vega_i, rank_i = _instrument_arrays(inp.instruments)
    q = np.arange(int(cap.max(initial=0)) + 1)
    # option axes: (harvest vector, instrument, quantity)
    with np.errstate(invalid="ignore"):  # 0 x inf: an unpriced instrument bought 0 times
        cost = np.where(q[None, None, :] == 0, 0.0, q[None, None, :] * cost_i[None, :, None])
    roll = after[:, None, None] + q[None, None, :] * vega_i[None, :, None]
    res = np.abs(roll - inp.baseline_usd)
    feasible = (q[None, None, :] <= cap[:, None, None]) & (cost <= budget[:, None, None] + 1e-6)
    excess = np.maximum(res - np.where(np.isfinite(vega_i), np.abs(vega_i), 0.0)[None, :, None], 0)
    outside = (cost < floor_usd[:, None, None] - 1e-6) | (cost > budget[:, None, None] + 1e-6)
    shape = feasible.shape
    idx = np.flatnonzero(feasible)
    if not len(idx):
        return None
    a, i, _q = np.unravel_index(idx, shape)

    def flat(x: NDArray[Any]) -> NDArray[Any]:
        return np.broadcast_to(x, shape).reshape(-1)[idx]

    first = np.round(np.nan_to_num(flat(excess), nan=np.inf), 6)
    keys = [
        np.abs(flat(cost) - inp.preferred * gain[a]),
        rank_i[i],
        np.round(flat(res), 6),
        flat(outside),
        units[a] if inp.selective else np.zeros(len(idx)),
        first,
    ]
    # the best group (the smallest excess) decides almost always: sort it alone first
    best = first <= first.min()
    if not best.any():  # no finite distance at all (a NaN input): rank everything
        best = np.ones(len(idx), np.bool_)
    order = idx[best][np.lexsort([k[best] for k in keys])]
    picked, accepted = int(order[0]), accept is None
    if accept is not None:
        tried = _walk(inp, h, shape, order, accept)
        if tried is None and not best.all():
            rest = idx[np.lexsort(keys)]
            tried = _walk(inp, h, shape, rest, accept)
        if tried is not None:
            picked, accepted = tried, True
    return _choice(inp, h, shape, picked, gain, after, cap, budget, accepted)


def _walk(
    inp: SearchInput,
    h: NDArray[np.int64],
    shape: tuple[int, ...],
    order: NDArray[np.intp],
    accept: Callable[[float], bool],
) -> int | None:
    """Return the first ranked option ``accept`` takes (at most ``MAX_ACCEPT_TRIES`` tried)."""
    for p in order[:MAX_ACCEPT_TRIES].tolist():
        if accept(_overlay_change(inp, h, shape, int(p))):
            return int(p)
    return None


def _layer_arrays(layers: Sequence[HarvestLayer]) -> dict[str, F64]:
    return {
        "proceeds": np.array([x.proceeds_usd for x in layers], np.float64),
        "cost": np.array([x.cost_usd for x in layers], np.float64),
        "vega": np.array([x.vega_usd for x in layers], np.float64),
        "contracts": np.array([x.contracts_per_unit for x in layers], np.float64),
    }


def _instrument_arrays(instruments: Sequence[RollInstrument]) -> tuple[F64, F64, F64]:
    if not instruments:  # a "no roll" column: only q = 0 is feasible
        return np.array([np.inf]), np.array([0.0]), np.array([0.0])
    cost = np.array([x.cost_usd for x in instruments], np.float64)
    vega = np.array([x.vega_usd for x in instruments], np.float64)
    ok = np.isfinite(cost) & (cost > 0) & np.isfinite(vega)
    return (
        np.where(ok, cost, np.inf),
        np.where(ok, vega, 0.0),
        np.array([x.rank for x in instruments], np.float64),
    )


def _unravel(shape: tuple[int, ...], p: int) -> tuple[int, int, int]:
    a, i, q = np.unravel_index(p, shape)
    return int(a), int(i), int(q)


def _overlay_change(
    inp: SearchInput, h: NDArray[np.int64], shape: tuple[int, ...], p: int
) -> float:
    """The change of the book's open hedge P&L at the touch: a harvest moves its gain to the
    realized ledger (no change); a roll is worth its exit at the touch, 2 x mid - entry price
    per leg, so it costs its spread."""
    del h
    _a, i, q = _unravel(shape, p)
    if not q or not inp.instruments:
        return 0.0
    x = inp.instruments[i]
    return 2.0 * q * (x.mid_usd - x.cost_usd)


def _choice(
    inp: SearchInput,
    h: NDArray[np.int64],
    shape: tuple[int, ...],
    p: int,
    gain: F64,
    after: F64,
    cap: NDArray[np.int64],
    budget: F64,
    accepted: bool,
) -> Choice:
    a, i, q = _unravel(shape, p)
    inst = inp.instruments[i] if inp.instruments else None
    unit_cost = inst.cost_usd if inst is not None else math.inf
    unit_vega = inst.vega_usd if inst is not None else 0.0
    affordable = (
        math.floor(float(budget[a]) / unit_cost + 1e-9)
        if math.isfinite(unit_cost) and unit_cost > 0
        else 0
    )
    return Choice(
        harvest=tuple(int(x) for x in h[a]),
        instrument=i if (inst is not None and q > 0) else None,
        quantity=q,
        gain_usd=float(gain[a]),
        cost_usd=q * unit_cost if q else 0.0,
        vega_after_harvest_usd=float(after[a]),
        vega_after_roll_usd=float(after[a]) + q * unit_vega,
        cap=int(cap[a]),
        affordable=affordable,
        accepted=accepted,
        overlay_change_usd=_overlay_change(inp, h, shape, p),
    )
