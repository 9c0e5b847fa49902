"""Cboe delayed-quote symbols -> canonical.

Options already use the compact OCC form (``SPXW261218P05800000``), the canonical one. Indices
are ``^SPX`` inside the file and ``_SPX`` in paths. VX futures are ``VX/Z6`` (monthly, 1-digit
year) or ``VX51/Z6`` (weekly: week number / month, year); the canonical form ``VX`` + YYMMDD
needs the settlement date, which the futures feed gives in ``expiration`` (MM/DD/YYYY).
"""

from __future__ import annotations

import datetime as dt
import re

from monitor import symbols

MONTHLY_FUTURE = re.compile(r"^VX/[FGHJKMNQUVXZ]\d$")
WEEKLY_FUTURE = re.compile(r"^VX\d{2}/[FGHJKMNQUVXZ]\d$")


def index_to_canonical(cboe: str) -> str | None:
    """``^VIX`` / ``_VIX`` / ``VIX`` -> ``VIX`` when it is one of the canonical indices."""
    name = cboe.lstrip("^_")
    return name if name in symbols.INDEX_SYMBOLS else None


def index_path(canonical: str) -> str:
    return f"_{canonical}"


def is_weekly_future(cboe: str) -> bool:
    """Return True for a weekly VX future (``VX40/V6``: week 40, October 2026)."""
    return WEEKLY_FUTURE.match(cboe) is not None


def future_to_canonical(cboe: str, expiration: str) -> str | None:
    """Return ``VX<yymmdd>`` (its settlement date) for a monthly or weekly VX future, else None.

    Weeklies and monthlies stay distinct: their settlement dates differ.
    """
    if not (MONTHLY_FUTURE.match(cboe) or WEEKLY_FUTURE.match(cboe)):
        return None
    try:
        expiry = dt.datetime.strptime(expiration, "%m/%d/%Y").date()
    except ValueError:
        return None
    return symbols.future_symbol(expiry)
