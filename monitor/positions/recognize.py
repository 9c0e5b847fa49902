"""Structure recognition: an account's option positions → iron condors, hedge layers, other.

Pure: positions (already in canonical symbols) and an overlay in, a ``Book`` and a list of the
positions that could not be placed out. The order, each step taking what it claims:

1. ``exclude``d symbols are dropped (reported as ``excluded``);
2. the overlay's explicit ``condors`` / ``layers`` by ``symbols`` take those symbols' whole
   remaining quantity; a layer pinned to ``expiries`` takes every long VIX/VIXW call on them;
3. iron condors per (root, expiry) of SPX/SPXW: each short put pairs with the nearest lower long
   put, each short call with the nearest higher long call, then put spreads (highest short
   first) pair with call spreads (lowest short first) when short put < short call. The condor's
   size is the smallest matched quantity; what is left of a leg goes on, so several condors on
   one expiry and partly closed legs come out as condors plus leftovers;
4. one layer per expiry of the remaining long VIX/VIXW calls;
5. everything else that the pricing understands (a canonical SPX/VIX option or VX future)
   forms the book's ``other`` structure: it still counts in Greeks, value, stress and margin.

A recognized structure's name is derived from its contracts (``SPXW 261218 5600/5700/6300/6400``,
``VIX 270120``), so it is stable while its size changes; ``names`` in the overlay renames it.
A position the pricing cannot handle (an equity, an unsupported root) is returned in
``Recognized.unplaced`` with the reason: reported, never silently dropped.

Entry prices are per-share premium points: the broker's cost basis over quantity x multiplier
(the sign of the quantity carries the direction, so a short's entry price is positive too);
``entry_prices`` in the overlay overrides one symbol's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Annotated, TypeVar

import msgspec

from monitor import symbols
from monitor.model import CONTRACT_MULTIPLIER, Book, IronCondor, Layer, Leg, Other
from monitor.symbols import Instrument, Kind

OTHER_NAME = "other"
_S = TypeVar("_S", IronCondor, Layer)


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """One broker position in a canonical symbol. ``quantity`` is signed (negative: short);
    ``cost_basis_usd`` is what opening it cost (negative: a credit received)."""

    symbol: str
    quantity: int
    cost_basis_usd: float
    multiplier: float = CONTRACT_MULTIPLIER
    account: str = ""


class OverlayGroup(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    symbols: list[str] = msgspec.field(default_factory=list)
    expiries: list[dt.date] = msgspec.field(default_factory=list)
    """Layers only: every long VIX/VIXW call on these dates forms this one layer."""


class Overlay(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The trader's corrections to what the recognizer finds (``[overlay]`` TOML)."""

    names: dict[str, str] = msgspec.field(default_factory=dict)
    """Recognized name → the name to show (``"SPXW 261218 5600/5700/6300/6400" = "IC-DEC"``)."""
    condors: list[OverlayGroup] = msgspec.field(default_factory=list)
    layers: list[OverlayGroup] = msgspec.field(default_factory=list)
    exclude: list[str] = msgspec.field(default_factory=list)
    entry_prices: dict[str, Annotated[float, msgspec.Meta(ge=0)]] = msgspec.field(
        default_factory=dict)


class Unplaced(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    quantity: int
    reason: str
    account: str = ""


class Recognized(msgspec.Struct, frozen=True, kw_only=True):
    book: Book
    unplaced: list[Unplaced] = msgspec.field(default_factory=list)


class _Pool:
    """Remaining quantity and entry price per canonical symbol while structures take from it."""

    def __init__(self, held: dict[str, tuple[int, float]]) -> None:
        self.qty = {s: q for s, (q, _) in held.items()}
        self.entry = {s: px for s, (_, px) in held.items()}
        self.inst = {s: symbols.parse(s) for s in held}

    def take(self, sym: str, qty: int) -> Leg:
        self.qty[sym] -= qty
        return Leg(symbol=sym, quantity=qty, entry_price=self.entry[sym])

    def options(self, root_set: frozenset[str], right: int, sign: int) -> list[Instrument]:
        return [
            i for s, i in self.inst.items()
            if i.kind is Kind.OPTION and i.root in root_set and i.right == right
            and self.qty[s] * sign > 0
        ]


def aggregate(positions: Iterable[Position]) -> dict[str, tuple[int, float, float]]:
    """Net positions per symbol: (signed quantity, summed cost basis USD, multiplier)."""
    out: dict[str, tuple[int, float, float]] = {}
    for p in positions:
        q, cost, _ = out.get(p.symbol, (0, 0.0, p.multiplier))
        out[p.symbol] = (q + p.quantity, cost + p.cost_basis_usd, p.multiplier)
    return out


def _entry(qty: int, cost_usd: float, multiplier: float) -> float:
    return abs(cost_usd / (qty * multiplier)) if qty and multiplier else 0.0


def _split(
    positions: Sequence[Position], overlay: Overlay
) -> tuple[dict[str, tuple[int, float]], list[Unplaced]]:
    held: dict[str, tuple[int, float]] = {}
    unplaced: list[Unplaced] = []
    accounts = {p.symbol: p.account for p in positions}
    excluded = set(overlay.exclude)
    for sym, (qty, cost, mult) in sorted(aggregate(positions).items()):
        acct = accounts[sym]
        if qty == 0:
            continue
        if sym in excluded:
            unplaced.append(Unplaced(symbol=sym, quantity=qty, reason="excluded", account=acct))
            continue
        try:
            inst = symbols.parse(sym)
        except symbols.SymbolError as exc:
            unplaced.append(Unplaced(symbol=sym, quantity=qty, reason=str(exc), account=acct))
            continue
        if inst.kind is Kind.INDEX:
            unplaced.append(Unplaced(symbol=sym, quantity=qty, reason="an index is not tradable",
                                     account=acct))
            continue
        price = overlay.entry_prices.get(sym, _entry(qty, cost, mult))
        held[sym] = (qty, price)
    return held, unplaced


def condor_name(legs: Sequence[Leg]) -> str:
    """Name a condor by root, expiry and its four strikes (low to high)."""
    insts = sorted((symbols.parse(leg.symbol) for leg in legs), key=lambda i: (i.strike, i.right))
    first = insts[0]
    assert first.expiry is not None
    strikes = "/".join(f"{i.strike:g}" for i in insts)
    return f"{first.root} {first.expiry:%y%m%d} {strikes}"


def layer_name(expiries: Iterable[dt.date]) -> str:
    return "VIX " + "+".join(f"{e:%y%m%d}" for e in sorted(set(expiries)))


def _spreads(pool: _Pool, root: str, expiry: dt.date, right: int) -> list[tuple[str, str, int]]:
    """Pair each short (innermost first) with the nearest further-out long: (long, short, qty)."""
    roots = frozenset({root})
    shorts = [i for i in pool.options(roots, right, -1) if i.expiry == expiry]
    longs = [i for i in pool.options(roots, right, +1) if i.expiry == expiry]
    # puts: the long is below the short; calls: above. ``right`` flips the comparisons.
    shorts.sort(key=lambda i: right * i.strike)
    left = {i.symbol: pool.qty[i.symbol] for i in longs}
    out: list[tuple[str, str, int]] = []
    for short in shorts:
        need = -pool.qty[short.symbol]
        wings = sorted((i for i in longs if right * (i.strike - short.strike) > 0),
                       key=lambda i: abs(i.strike - short.strike))
        for wing in wings:
            q = min(need, left[wing.symbol])
            if q > 0:
                out.append((wing.symbol, short.symbol, q))
                left[wing.symbol] -= q
                need -= q
    return out


def _condors(pool: _Pool) -> list[IronCondor]:
    chains = sorted({(i.root, i.expiry) for i in pool.inst.values()
                     if i.kind is Kind.OPTION and i.root in symbols.SPX_ROOTS
                     and i.expiry is not None})
    out: list[IronCondor] = []
    for root, expiry in chains:
        assert expiry is not None
        puts = _spreads(pool, root, expiry, -1)
        calls = _spreads(pool, root, expiry, +1)
        put_left = [q for _, _, q in puts]
        for ci, (lc, sc, cq) in enumerate(calls):
            for pi, (lp, sp, _) in enumerate(puts):
                q = min(cq, put_left[pi])
                if q <= 0 or pool.inst[sp].strike >= pool.inst[sc].strike:
                    continue
                if min(pool.qty[lp], -pool.qty[sp], -pool.qty[sc], pool.qty[lc]) < q:
                    continue
                legs = [pool.take(lp, q), pool.take(sp, -q), pool.take(sc, -q), pool.take(lc, q)]
                out.append(IronCondor(name=condor_name(legs), legs=legs))
                put_left[pi] -= q
                cq -= q
                calls[ci] = (lc, sc, cq)
    return _merge_condors(out)


def _merge_condors(condors: list[IronCondor]) -> list[IronCondor]:
    """Join condors on identical contracts (a split match) into one of the summed size."""
    by_name: dict[str, IronCondor] = {}
    for c in condors:
        prev = by_name.get(c.name)
        if prev is None:
            by_name[c.name] = c
            continue
        legs = [Leg(symbol=a.symbol, quantity=a.quantity + b.quantity, entry_price=a.entry_price)
                for a, b in zip(prev.legs, c.legs, strict=True)]
        by_name[c.name] = IronCondor(name=c.name, legs=legs)
    return list(by_name.values())


def _long_vix_calls(pool: _Pool) -> list[Instrument]:
    return sorted(pool.options(symbols.VIX_ROOTS, +1, +1), key=lambda i: (i.expiry, i.strike))


def _take_all(pool: _Pool, syms: Iterable[str]) -> list[Leg]:
    return [pool.take(s, pool.qty[s]) for s in syms if pool.qty.get(s, 0) != 0]


def _overlay_groups(pool: _Pool, overlay: Overlay) -> tuple[list[IronCondor], list[Layer]]:
    condors = [IronCondor(name=g.name, legs=legs) for g in overlay.condors
               if (legs := _take_all(pool, g.symbols))]
    layers: list[Layer] = []
    for g in overlay.layers:
        pinned = [i.symbol for i in _long_vix_calls(pool) if i.expiry in set(g.expiries)]
        legs = _take_all(pool, [*g.symbols, *pinned])
        if legs:
            layers.append(Layer(name=g.name, legs=legs))
    return condors, layers


def _auto_layers(pool: _Pool) -> list[Layer]:
    by_expiry: dict[dt.date, list[str]] = {}
    for i in _long_vix_calls(pool):
        assert i.expiry is not None
        by_expiry.setdefault(i.expiry, []).append(i.symbol)
    return [Layer(name=layer_name([e]), legs=_take_all(pool, syms))
            for e, syms in sorted(by_expiry.items())]


def _rename(items: list[_S], names: dict[str, str]) -> list[_S]:
    return [msgspec.structs.replace(x, name=names.get(x.name, x.name)) for x in items]


Structure = IronCondor | Layer | Other


def structures(book: Book) -> list[Structure]:
    """Every structure of ``book``: condors, layers, then the other legs."""
    return [*book.condors, *book.layers, *book.others]


def recognize(
    positions: Sequence[Position],
    *,
    book: str,
    overlay: Overlay | None = None,
    cash_usd: float = 0.0,
) -> Recognized:
    """Group ``positions`` into the structures of one book (see the module docstring)."""
    ov = overlay or Overlay()
    held, unplaced = _split(positions, ov)
    pool = _Pool(held)
    fixed_condors, fixed_layers = _overlay_groups(pool, ov)
    condors = fixed_condors + _rename(_condors(pool), ov.names)
    layers = fixed_layers + _rename(_auto_layers(pool), ov.names)
    rest = [pool.take(s, q) for s, q in sorted(pool.qty.items()) if q != 0]
    others = [Other(name=ov.names.get(OTHER_NAME, OTHER_NAME), legs=rest)] if rest else []
    result = Book(name=book, cash_usd=cash_usd, condors=condors, layers=layers, others=others)
    return Recognized(book=result, unplaced=unplaced)
