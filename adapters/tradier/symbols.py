"""Canonical symbols <-> Tradier symbols.

Tradier streams and quotes options by their compact OCC symbol (``SPXW261218P05800000``), which
is the canonical form, and indices by their ticker. It does not carry VX futures.
"""

from __future__ import annotations

from monitor import symbols


def to_tradier(canonical: str) -> str | None:
    """Return the Tradier symbol, or None for what Tradier does not offer (VX futures)."""
    try:
        inst = symbols.parse(canonical)
    except symbols.SymbolError:
        return None
    if inst.kind is symbols.Kind.FUTURE:
        return None
    return canonical


def to_canonical(tradier: str) -> str | None:
    try:
        symbols.parse(tradier)
    except symbols.SymbolError:
        return None
    return tradier
