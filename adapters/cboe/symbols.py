"""Cboe delayed-quote symbols -> canonical.

Options already use the compact OCC form (``SPXW261218P05800000``), the canonical one. Indices
are ``^SPX`` inside the file and ``_SPX`` in paths. VX futures are ``VX/Z6`` (monthly, 1-digit
year) or ``VX51/Z6`` (weekly); the canonical form needs the settlement date, which the futures
feed gives in ``expiration`` (MM/DD/YYYY).
"""

from __future__ import annotations

import datetime as dt
import re

from monitor import symbols

MONTHLY_FUTURE = re.compile(r"^VX/[FGHJKMNQUVXZ]\d$")


def index_to_canonical(cboe: str) -> str | None:
    """``^VIX`` / ``_VIX`` / ``VIX`` -> ``VIX`` when it is one of the canonical indices."""
    name = cboe.lstrip("^_")
    return name if name in symbols.INDEX_SYMBOLS else None


def index_path(canonical: str) -> str:
    return f"_{canonical}"


def future_to_canonical(cboe: str, expiration: str) -> str | None:
    """Return ``VX<yymmdd>`` for a monthly VX future, None for weeklies and anything else."""
    if not MONTHLY_FUTURE.match(cboe):
        return None
    try:
        expiry = dt.datetime.strptime(expiration, "%m/%d/%Y").date()
    except ValueError:
        return None
    return symbols.future_symbol(expiry)
