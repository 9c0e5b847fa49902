"""Canonical symbols: parse and format indices, compact OCC options and VX futures.

Canonical forms (the quote stream contract):
- indices: ``SPX``, ``VIX``, ``VIX3M``, ``VIX9D``
- options: ROOT + YYMMDD + C|P + strike x 1000 in 8 digits, no padding
  (``SPXW261218P05800000``); SPX/SPXW and VIX/VIXW are distinct contracts
- VX futures: ``VX`` + YYMMDD of the final settlement date (``VX261216``)
"""

from __future__ import annotations

import datetime as dt
import re
from enum import IntEnum
from functools import lru_cache

import msgspec

INDEX_SYMBOLS = frozenset({"SPX", "VIX", "VIX3M", "VIX9D"})
OPTION_ROOTS = frozenset({"SPX", "SPXW", "VIX", "VIXW"})
SPX_ROOTS = frozenset({"SPX", "SPXW"})
VIX_ROOTS = frozenset({"VIX", "VIXW"})

_OPTION_RE = re.compile(r"^([A-Z]{1,6})\s*(\d{6})([CP])(\d{8})$")
_FUTURE_RE = re.compile(r"^VX(\d{6})$")


class Kind(IntEnum):
    INDEX = 0
    OPTION = 1
    FUTURE = 2


class SymbolError(ValueError):
    """Raised for a symbol that is not in one of the canonical forms."""


class Instrument(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a canonical symbol denotes. ``right`` is +1 for calls, -1 for puts, 0 otherwise."""

    # gc=False: no field can hold a reference cycle, and an engine holds one per listed contract
    # (~30,000), so the collector has nothing to find in them and each is 16 bytes smaller.

    symbol: str
    kind: Kind
    root: str
    expiry: dt.date | None = None
    right: int = 0
    strike: float = 0.0

    @property
    def underlying(self) -> str:
        """Name the index this instrument's risk is measured against (SPX or VIX)."""
        if self.root in SPX_ROOTS:
            return "SPX"
        if self.root in VIX_ROOTS or self.kind is Kind.FUTURE:
            return "VIX"
        return self.root


# A chain's contracts share one root string, expiry date and strike float each (tens of
# thousands of instruments, a few hundred expiries, a few thousand strikes).
_ROOT_OF: dict[str, str] = {r: r for r in OPTION_ROOTS}


def _date(yymmdd: str, symbol: str) -> dt.date:
    try:
        return _day(yymmdd)
    except ValueError as exc:
        raise SymbolError(f"bad expiry date in {symbol!r}") from exc


@lru_cache(maxsize=4096)
def _day(yymmdd: str) -> dt.date:
    return dt.date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6]))


@lru_cache(maxsize=16_384)
def _strike(digits: str) -> float:
    return int(digits) / 1000.0


@lru_cache(maxsize=262_144)
def parse(symbol: str) -> Instrument:
    """Parse a canonical symbol; raise SymbolError for anything else."""
    if symbol in INDEX_SYMBOLS:
        return Instrument(symbol=symbol, kind=Kind.INDEX, root=symbol)
    m = _OPTION_RE.match(symbol)
    if m is not None:
        root, yymmdd, right, strike = m.groups()
        if root not in OPTION_ROOTS or " " in symbol:
            raise SymbolError(f"unsupported option symbol {symbol!r}")
        return Instrument(
            symbol=symbol,
            kind=Kind.OPTION,
            root=_ROOT_OF[root],
            expiry=_date(yymmdd, symbol),
            right=1 if right == "C" else -1,
            strike=_strike(strike),
        )
    m = _FUTURE_RE.match(symbol)
    if m is not None:
        return Instrument(symbol=symbol, kind=Kind.FUTURE, root="VX", expiry=_date(m[1], symbol))
    raise SymbolError(f"unknown symbol form {symbol!r}")


def option_symbol(root: str, expiry: dt.date, right: int, strike: float) -> str:
    """Format a canonical compact OCC option symbol."""
    return f"{root}{expiry:%y%m%d}{'C' if right > 0 else 'P'}{round(strike * 1000):08d}"


def future_symbol(expiry: dt.date) -> str:
    """Format a canonical VX future symbol from its final settlement date."""
    return f"VX{expiry:%y%m%d}"
