"""Checks of a hand-typed book (``portfolio.toml``) against what a broker account could hold.

Pure: a ``Book`` and the check's clock in, ``toml.path: message`` strings out. The recognizer
(``recognize``) only ever builds books that pass; these catch typing mistakes: a symbol in the
wrong form (the message shows the expected one), a strike missing its x1000, a VIX option on a
date that is no VIX expiry, an expired contract, a "condor" that is none, duplicate names, a put
in a hedge layer and a negative entry price.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from monitor import symbols
from monitor.model import Book, Leg
from monitor.pricing.calendar import is_business_day, previous_business_day, vix_monthly_expiry
from monitor.pricing.expiry import settlement_ns
from monitor.symbols import Instrument, Kind

EXPECTED_FORM = ("expected ROOT + YYMMDD + C|P + strike x 1000 in 8 digits, "
                 "e.g. SPXW261218P05800000 (SPX/SPXW 5800 put) or VIX270120C00025000")
# Below these a strike is almost surely typed without its x1000 (SPX 5800 as 00005800).
_MIN_STRIKE = {"SPX": 100.0, "SPXW": 100.0, "VIX": 1.0, "VIXW": 1.0}


def check_symbol(sym: str, path: str, roots: frozenset[str]) -> tuple[Instrument | None, list[str]]:
    """Parse a leg symbol; return it (or None) and the problems, each naming ``path``."""
    try:
        inst = symbols.parse(sym)
    except symbols.SymbolError as exc:
        return None, [f"{path}.symbol: {exc}; {EXPECTED_FORM}"]
    if inst.kind is not Kind.OPTION or inst.root not in roots:
        return None, [f"{path}.symbol: {sym!r} must be an option with root "
                      f"{'/'.join(sorted(roots))}; {EXPECTED_FORM}"]
    errors: list[str] = []
    if inst.strike < _MIN_STRIKE[inst.root]:
        fixed = symbols.option_symbol(inst.root, _expiry(inst), inst.right, inst.strike * 1000)
        errors.append(f"{path}.symbol: strike {inst.strike:g} of {sym!r} looks like it is "
                      f"missing its x1000 (did you mean {fixed!r}?); {EXPECTED_FORM}")
    if inst.root in symbols.VIX_ROOTS and not is_vix_expiry(inst.root, _expiry(inst)):
        errors.append(f"{path}.symbol: {_expiry(inst)} is no {inst.root} expiry "
                      f"({_vix_rule(inst.root)})")
    return inst, errors


def _expiry(inst: Instrument) -> dt.date:
    assert inst.expiry is not None
    return inst.expiry


def _vix_rule(root: str) -> str:
    if root == "VIX":
        return "monthly VIX options expire on the Wednesday 30 days before the next month's " \
               "third Friday"
    return "VIXW weeklies expire on Wednesdays, the business day before on a holiday"


def is_vix_expiry(root: str, day: dt.date) -> bool:
    """Return whether ``day`` is a listed expiry of ``root`` (VIX monthly, VIXW weekly)."""
    if root == "VIX":
        return day == vix_monthly_expiry(day.year, day.month)
    wednesday = day + dt.timedelta(days=(2 - day.weekday()) % 7)
    listed = wednesday if is_business_day(wednesday) else previous_business_day(wednesday)
    return day == listed


def check_expired(inst: Instrument, path: str, now_ns: int | None) -> list[str]:
    if now_ns is None or settlement_ns(inst.root, _expiry(inst)) > now_ns:
        return []
    return [f"{path}.symbol: {inst.symbol!r} expired (settled {_expiry(inst)}): remove it"]


def check_condor_shape(legs: Sequence[Leg], insts: Sequence[Instrument], path: str) -> list[str]:
    """Require one root and expiry, long put < short put < short call < long call, one size."""
    if len(insts) != 4:
        return []
    if len({(i.root, i.expiry) for i in insts}) > 1:
        return [f"{path}.legs: an iron condor's legs are on one root and expiry; these are on "
                + ", ".join(sorted({f"{i.root} {i.expiry}" for i in insts}))]
    order = sorted(zip(insts, legs, strict=True), key=lambda p: (p[0].strike, p[0].right))
    rights = [i.right for i, _ in order]
    signs = [1 if leg.quantity > 0 else -1 for _, leg in order]
    sizes = {abs(leg.quantity) for leg in legs}
    if rights != [-1, -1, 1, 1] or signs != [1, -1, -1, 1] or len(
            {i.strike for i in insts}) < 3:
        return [f"{path}.legs: not an iron condor: needs long put < short put < short call < "
                "long call (by strike, shorts negative)"]
    if len(sizes) != 1:
        return [f"{path}.legs: an iron condor's legs have one size; these have "
                f"{sorted(sizes)} contracts"]
    return []


def check_book(book: Book, prefix: str, now_ns: int | None) -> list[str]:
    """Return every problem of ``book`` (the ``[[books]]`` entry at ``prefix``)."""
    errors = _duplicate_names(book, prefix)
    groups = [("condors", c.legs, symbols.SPX_ROOTS) for c in book.condors]
    groups += [("layers", y.legs, symbols.VIX_ROOTS) for y in book.layers]
    groups += [("others", o.legs, symbols.OPTION_ROOTS) for o in book.others]
    counters: dict[str, int] = {}
    for kind, legs, roots in groups:
        i = counters[kind] = counters.get(kind, -1) + 1
        spath = f"{prefix}.{kind}[{i}]"
        insts: list[Instrument] = []
        for li, leg in enumerate(legs):
            lpath = f"{spath}.legs[{li}]"
            inst, errs = check_symbol(leg.symbol, lpath, roots)
            errors += errs + _leg_numbers(leg, lpath)
            if inst is None:
                continue
            insts.append(inst)
            errors += check_expired(inst, lpath, now_ns)
            if kind == "layers" and inst.right < 0:
                errors.append(f"{lpath}.symbol: a hedge layer holds VIX calls; "
                              f"{leg.symbol!r} is a put")
        if kind == "condors" and len(insts) == len(legs):
            errors += check_condor_shape(legs, insts, spath)
    return errors


def _leg_numbers(leg: Leg, path: str) -> list[str]:
    errors = []
    if leg.quantity == 0:
        errors.append(f"{path}.quantity: must not be zero")
    if leg.entry_price < 0:
        errors.append(f"{path}.entry_price: must be >= 0 (the sign is the quantity's: "
                      "negative quantity is short)")
    return errors


def _duplicate_names(book: Book, prefix: str) -> list[str]:
    named = [("condors", i, c.name) for i, c in enumerate(book.condors)]
    named += [("layers", i, y.name) for i, y in enumerate(book.layers)]
    named += [("others", i, o.name) for i, o in enumerate(book.others)]
    seen: set[str] = set()
    errors = []
    for kind, i, name in named:
        if name in seen:
            errors.append(f"{prefix}.{kind}[{i}].name: duplicate structure name {name!r} in "
                          f"book {book.name!r}")
        seen.add(name)
    return errors
