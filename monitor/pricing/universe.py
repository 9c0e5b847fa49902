"""The static side of valuation: every instrument's fixed arrays, built once per universe.

``Universe.build`` does all the per-symbol Python work (parsing, grouping into chains,
settlement instants, parity pairs), so each 250 ms tick is pure array arithmetic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.pricing import black
from monitor.pricing.expiry import settlement_ns
from monitor.symbols import SPX_ROOTS, Instrument, Kind

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Chain:
    """One (root, expiry): its options' universe positions and where its forward comes from."""

    root: str
    expiry: dt.date
    settle_ns: int
    underlying: str
    future_pos: int
    spot_pos: int


@dataclass(frozen=True, slots=True)
class StrikeTable:
    """Every (chain, strike) once, sorted by chain then strike, with its call and put (-1 if
    absent); the parity forward and the smile both read it."""

    chain: IntArray
    strike: FloatArray
    call_pos: IntArray
    put_pos: IntArray
    starts: IntArray


@dataclass(frozen=True, slots=True)
class Universe:
    """Static per-instrument arrays, aligned with the bid/ask/last arrays of every tick."""

    symbols: tuple[str, ...]
    position: Mapping[str, int]
    kind: NDArray[np.int8]
    cp: FloatArray
    strike: FloatArray
    settle_ns: IntArray
    chain_id: IntArray
    spot_based: NDArray[np.bool_]
    option_pos: IntArray
    linear_pos: IntArray
    """The futures' and indices' rows (every row that is not an option)."""
    chains: tuple[Chain, ...]
    strikes: StrikeTable
    chain_settle_ns: IntArray
    chain_is_vix: NDArray[np.bool_]
    chain_future_pos: IntArray
    chain_spot_pos: IntArray

    def __len__(self) -> int:
        return len(self.symbols)

    def chain_index(self, root: str, expiry: dt.date) -> int:
        """Return the chain id of (root, expiry); raise KeyError if it is not in the universe."""
        for i, chain in enumerate(self.chains):
            if chain.root == root and chain.expiry == expiry:
                return i
        raise KeyError(f"no chain {root} {expiry}")

    @classmethod
    def build(
        cls, instruments: Sequence[Instrument], position: Mapping[str, int] | None = None
    ) -> Universe:
        """Build the arrays for ``instruments`` (their order is the tick arrays' order).

        ``position``, if given, already maps each instrument's symbol to its row (the market's
        index, ``MarketState.index``): the universe shares it instead of building its own (a
        dict and an int per instrument, ~1.7 MB for the full chains). It may gain symbols later,
        past this universe's rows; the ones it holds must not change.

        Also loads the pricing kernels (black.warm_up), so the first tick never compiles.
        """
        black.warm_up()
        n = len(instruments)
        position = _positions(instruments, position)
        keys = sorted({(i.root, i.expiry) for i in instruments if _is_option(i)}, key=_key)
        chain_of = {key: c for c, key in enumerate(keys)}
        chain_id = np.full(n, -1, dtype=np.int64)
        settle = np.zeros(n, dtype=np.int64)
        for i, ins in enumerate(instruments):
            if ins.expiry is not None and ins.kind is not Kind.INDEX:
                settle[i] = settlement_ns(ins.root, ins.expiry)
            if _is_option(ins):
                chain_id[i] = chain_of[(ins.root, ins.expiry)]
        kind = np.array([int(i.kind) for i in instruments], dtype=np.int8)
        chains = tuple(_chain(root, expiry, instruments, position) for root, expiry in keys)
        return cls(
            symbols=tuple(i.symbol for i in instruments),
            position=position,
            kind=kind,
            cp=np.array([float(i.right) for i in instruments], dtype=np.float64),
            strike=np.array([i.strike for i in instruments], dtype=np.float64),
            settle_ns=settle,
            chain_id=chain_id,
            spot_based=np.array([i.root in SPX_ROOTS for i in instruments], dtype=bool),
            option_pos=np.flatnonzero(kind == int(Kind.OPTION)).astype(np.int64),
            linear_pos=np.flatnonzero(kind != int(Kind.OPTION)).astype(np.int64),
            chains=chains,
            strikes=_strike_table(instruments, chain_id, len(keys)),
            chain_settle_ns=np.array([c.settle_ns for c in chains], dtype=np.int64),
            chain_is_vix=np.array([c.underlying == "VIX" for c in chains], dtype=bool),
            chain_future_pos=np.array([c.future_pos for c in chains], dtype=np.int64),
            chain_spot_pos=np.array([c.spot_pos for c in chains], dtype=np.int64),
        )


def _positions(
    instruments: Sequence[Instrument], given: Mapping[str, int] | None
) -> Mapping[str, int]:
    if given is None:
        own = {ins.symbol: i for i, ins in enumerate(instruments)}
        if len(own) != len(instruments):
            raise ValueError("duplicate symbols in the universe")
        return own
    if any(given.get(ins.symbol) != i for i, ins in enumerate(instruments)):
        raise ValueError("position does not map every instrument's symbol to its row")
    return given


def _is_option(ins: Instrument) -> bool:
    return ins.kind is Kind.OPTION and ins.expiry is not None


def _key(key: tuple[str, dt.date | None]) -> tuple[str, dt.date]:
    return key[0], key[1] or dt.date.min


def _chain(
    root: str, expiry: dt.date | None, instruments: Sequence[Instrument], pos: Mapping[str, int]
) -> Chain:
    assert expiry is not None
    underlying = "SPX" if root in SPX_ROOTS else "VIX"
    future = f"VX{expiry:%y%m%d}" if underlying == "VIX" else ""
    return Chain(
        root=root,
        expiry=expiry,
        settle_ns=settlement_ns(root, expiry),
        underlying=underlying,
        future_pos=pos.get(future, -1),
        spot_pos=pos.get(underlying, -1),
    )


def _strike_table(
    instruments: Sequence[Instrument], chain_id: IntArray, n_chains: int
) -> StrikeTable:
    slots: dict[tuple[int, float], list[int]] = {}
    for i, ins in enumerate(instruments):
        if chain_id[i] >= 0:
            slot = slots.setdefault((int(chain_id[i]), ins.strike), [-1, -1])
            slot[0 if ins.right > 0 else 1] = i
    ordered = sorted(slots.items())
    chain = np.array([c for (c, _), _ in ordered], dtype=np.int64)
    return StrikeTable(
        chain=chain,
        strike=np.array([k for (_, k), _ in ordered], dtype=np.float64),
        call_pos=np.array([s[0] for _, s in ordered], dtype=np.int64),
        put_pos=np.array([s[1] for _, s in ordered], dtype=np.int64),
        starts=np.searchsorted(chain, np.arange(n_chains + 1)).astype(np.int64),
    )
