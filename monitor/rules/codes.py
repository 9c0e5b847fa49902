"""Vectorized rule conditions and sparse signal emission.

A rule computes one condition code per alert key with numpy (``levels_above``/``levels_below``),
then materializes ``Signal`` objects only where the alert machine needs one (``select``): every
key that is not ``clear``, plus the keys that were not clear on the previous cycle (so a firing
alert gets the ``clear`` that resolves it). A clear key that was clear before changes nothing in
the alert machine, and skipping it is what keeps a cycle over 1,000 books x 20 legs inside its
time budget (a ``Signal`` costs microseconds; there are tens of thousands of keys).

Key tables (``Layout``: the key strings of one rule for one portfolio index and config) are built
once per index and memoized in a ``LayoutCache`` the engine owns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from monitor.rules.base import Condition

CLEAR: Final = 0
BREACH: Final = 1
HOLD: Final = 2
UNKNOWN: Final = 3
CONDITIONS: Final[tuple[Condition, ...]] = ("clear", "breach", "hold", "unknown")

Codes = NDArray[np.int8]
F64 = NDArray[np.float64]
T = TypeVar("T")


def levels_above(
    x: F64, fire: F64 | float, rearm: F64 | float, unknown: NDArray[np.bool_] | None = None
) -> Codes:
    """Breach at ``x >= fire``, clear below ``rearm``, hold between; NaN or ``unknown``: unknown."""
    codes = np.full(x.shape, HOLD, np.int8)
    with np.errstate(invalid="ignore"):
        codes[x >= fire] = BREACH
        codes[x < rearm] = CLEAR
    bad = np.isnan(x) if unknown is None else np.isnan(x) | unknown
    codes[bad] = UNKNOWN
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
    position: dict[str, int]

    @classmethod
    def of(cls, rule: str, books: list[str], subjects: list[str]) -> Layout:
        keys = [f"{rule}|{b}|{s}" for b, s in zip(books, subjects, strict=True)]
        return cls(books=books, subjects=subjects, position={k: i for i, k in enumerate(keys)})

    def __len__(self) -> int:
        return len(self.books)


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


def select(
    codes: Codes, layout: Layout, live: Mapping[str, frozenset[str]], rule: str, full: bool
) -> NDArray[np.intp]:
    """Return the positions whose signal must be emitted (see the module docstring)."""
    if full:
        return np.arange(len(codes))
    mask = codes != CLEAR
    for key in live.get(rule, ()):
        i = layout.position.get(key)
        if i is not None:
            mask[i] = True
    return np.flatnonzero(mask)
