"""Canonical symbols <-> dxFeed streamer symbols (tastytrade DXLink).

- indices: unchanged (``SPX``, ``VIX``)
- options: ``.`` + root + YYMMDD + C|P + strike without padding or trailing zeros
  (``SPXW261218P05800000`` -> ``.SPXW261218P5800``; 480.5 stays ``480.5``). The root is the
  contract's own (SPX and SPXW stay distinct), never the underlying ticker.
- VX futures: ``/VX`` + month code + 2-digit year + ``:XCBF`` (``VX261216`` -> ``/VXZ26:XCBF``).
  The REST API's ``streamer-symbol`` is preferred; this form is the fallback, for monthlies
  only. Weekly VX futures (``VX261007``: settling on a Wednesday that is not the monthly
  expiry) are subscribed only under the ``streamer-symbol`` REST lists for their expiration
  date: the month-code form would alias the monthly's contract.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping

from monitor import symbols
from monitor.pricing.calendar import vix_monthly_expiry

MONTH_CODES = "FGHJKMNQUVXZ"
_STREAMER_OPTION = re.compile(r"^\.([A-Z]{1,6})(\d{6})([CP])(\d+(?:\.\d+)?)$")


def format_strike(strike: float) -> str:
    """Format a strike the dxFeed way: no trailing zeros, no trailing dot."""
    text = f"{strike:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def option_to_streamer(inst: symbols.Instrument) -> str:
    assert inst.expiry is not None
    right = "C" if inst.right > 0 else "P"
    return f".{inst.root}{inst.expiry:%y%m%d}{right}{format_strike(inst.strike)}"


def future_to_streamer(expiry: dt.date) -> str:
    """Return the ``/VX<M><YY>:XCBF`` form (fallback when REST does not list the future)."""
    return f"/VX{MONTH_CODES[expiry.month - 1]}{expiry:%y}:XCBF"


def streamer_to_option(streamer: str) -> str | None:
    """Return the canonical option symbol of a streamer symbol, or None if it is not one."""
    m = _STREAMER_OPTION.match(streamer)
    if m is None:
        return None
    root, yymmdd, right, strike = m.groups()
    try:
        expiry = dt.date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        return None
    return symbols.option_symbol(root, expiry, 1 if right == "C" else -1, float(strike))


def to_streamer(
    canonical: str, futures: Mapping[dt.date, str], overrides: Mapping[str, str],
) -> str | None:
    """Return the streamer symbol of a canonical symbol (None: a weekly VX future REST does
    not list).

    ``futures`` maps VX final settlement dates to the REST ``streamer-symbol``; ``overrides``
    maps canonical symbols to streamer symbols and wins over everything.
    """
    if (forced := overrides.get(canonical)) is not None:
        return forced
    inst = symbols.parse(canonical)
    if inst.kind is symbols.Kind.OPTION:
        return option_to_streamer(inst)
    if inst.kind is symbols.Kind.FUTURE:
        assert inst.expiry is not None
        listed = futures.get(inst.expiry)
        if listed or inst.expiry != vix_monthly_expiry(inst.expiry.year, inst.expiry.month):
            return listed
        return future_to_streamer(inst.expiry)
    return canonical


class SymbolMap:
    """Both directions for the symbols currently subscribed."""

    def __init__(self) -> None:
        self.to_canonical: dict[str, str] = {}

    def update(
        self, canonical: Iterable[str], futures: Mapping[dt.date, str],
        overrides: Mapping[str, str],
    ) -> dict[str, str]:
        """Map every canonical symbol; return canonical -> streamer for this set."""
        both = {c: to_streamer(c, futures, overrides) for c in canonical}
        forward = {c: s for c, s in both.items() if s is not None}
        self.to_canonical = {s: c for c, s in forward.items()}
        return forward

    def canonical(self, streamer: str) -> str | None:
        """Return the canonical symbol of a subscribed streamer symbol (None otherwise)."""
        return self.to_canonical.get(streamer)
