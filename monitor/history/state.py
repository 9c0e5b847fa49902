"""The rule memory as a document that survives a restart (pure: no I/O).

What is kept: the VIX bars of every timeframe (with which daily bars were backfilled from the
CSV), the last VIX quote time, the trading session, and per structure (by book and name) its
leg signature, break-even baseline and layer-gain timers, and the pending size increases. The
vega baselines are persisted by their owner (``monitor.plan.baseline``); what each rule last
sent is not kept (a start emits every key once anyway).

``restore`` puts the structures back as if they were the previous portfolio index, so the
engine's first index rebuild carries them over by name exactly as a reload would: a structure
whose legs changed while the monitor was down gets a fresh baseline. A document of another
``VERSION``, or one older than ``max_age_ns``, is ignored.
"""

from __future__ import annotations

import msgspec
import numpy as np

from monitor.rules.memory import RuleMemory, SizeIncrease
from monitor.rules.momentum import Bars

VERSION = 1


class BarsState(msgspec.Struct, frozen=True, kw_only=True):
    bucket: list[int]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    backfilled: list[int] = msgspec.field(default_factory=list)
    """Buckets that came from the published history, not from quotes this monitor saw."""


class StructState(msgspec.Struct, frozen=True, kw_only=True):
    book: str
    name: str
    signature: list[tuple[str, float]]
    be_lower: float | None = None
    be_upper: float | None = None
    """The break-even baseline (None: not set; +-inf encoded as strings by msgspec's JSON)."""
    gain_above_ns: int = 0
    gain_since_ns: int = 0


class IncreaseState(msgspec.Struct, frozen=True, kw_only=True):
    book: str
    layer: str
    contracts_before: int
    contracts_after: int
    at_ns: int
    gain_ns: int


class RulesState(msgspec.Struct, frozen=True, kw_only=True):
    version: int = VERSION
    saved_ns: int
    vix_ts_ns: int = 0
    session: int = -1
    bars: dict[str, BarsState] = msgspec.field(default_factory=dict)
    structures: list[StructState] = msgspec.field(default_factory=list)
    size_increases: list[IncreaseState] = msgspec.field(default_factory=list)


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(RulesState)


def encode(state: RulesState) -> bytes:
    return _ENCODER.encode(state)


def decode(raw: bytes) -> RulesState:
    """Decode a stored document; raise msgspec errors for anything else."""
    return _DECODER.decode(raw)


def capture(mem: RuleMemory, now_ns: int) -> RulesState:
    """Return what of ``mem`` a restart should keep."""
    backfilled = mem.backfilled
    bars = {
        tf: BarsState(
            bucket=list(b.bucket), open=list(b.open), high=list(b.high), low=list(b.low),
            close=list(b.close), backfilled=sorted(set(backfilled.get(tf, ())) & set(b.bucket)),
        )
        for tf, b in mem.bars.items()
    }
    structures = [
        StructState(
            book=key[0], name=key[1], signature=list(mem.signatures[s]),
            be_lower=_f(mem.be_baseline[s, 0]) if mem.be_baseline_set[s] else None,
            be_upper=_f(mem.be_baseline[s, 1]) if mem.be_baseline_set[s] else None,
            gain_above_ns=int(mem.gain_above_ns[s]), gain_since_ns=int(mem.gain_since_ns[s]),
        )
        for s, key in enumerate(mem.keys)
    ]
    increases = [
        IncreaseState(book=i.book, layer=i.layer, contracts_before=i.contracts_before,
                      contracts_after=i.contracts_after, at_ns=i.at_ns, gain_ns=i.gain_ns)
        for i in mem.size_increases.values()
    ]
    return RulesState(saved_ns=now_ns, vix_ts_ns=mem.vix_ts_ns, session=mem.session, bars=bars,
                      structures=structures, size_increases=increases)


def restore(mem: RuleMemory, state: RulesState, now_ns: int, max_age_ns: int) -> bool:
    """Put ``state`` back into a fresh ``mem`` (before its first cycle); return whether it was
    used (False: another version, or older than ``max_age_ns``)."""
    if state.version != VERSION or now_ns - state.saved_ns > max_age_ns:
        return False
    for tf, b in state.bars.items():
        bars = mem.bars.setdefault(tf, Bars(mem.max_bars))
        keep = slice(-bars.max_bars, None)
        bars.bucket, bars.open = list(b.bucket[keep]), list(b.open[keep])
        bars.high, bars.low, bars.close = list(b.high[keep]), list(b.low[keep]), list(b.close[keep])
        mem.backfilled[tf] = set(b.backfilled) & set(bars.bucket)
    mem.vix_ts_ns, mem.session = state.vix_ts_ns, state.session
    _restore_structures(mem, state.structures)
    mem.size_increases = {
        (i.book, i.layer): SizeIncrease(
            book=i.book, layer=i.layer, contracts_before=i.contracts_before,
            contracts_after=i.contracts_after, at_ns=i.at_ns, gain_ns=i.gain_ns)
        for i in state.size_increases
    }
    return True


def _restore_structures(mem: RuleMemory, structures: list[StructState]) -> None:
    n = len(structures)
    mem.keys = [(s.book, s.name) for s in structures]
    mem.signatures = [tuple((sym, float(q)) for sym, q in s.signature) for s in structures]
    be = np.full((n, 2), np.nan)
    be_set = np.zeros(n, np.bool_)
    for i, s in enumerate(structures):
        if s.be_lower is not None and s.be_upper is not None:
            be[i] = (s.be_lower, s.be_upper)
            be_set[i] = True
    mem.be_baseline, mem.be_baseline_set = be, be_set
    mem.gain_above_ns = np.array([s.gain_above_ns for s in structures], np.int64)
    mem.gain_since_ns = np.array([s.gain_since_ns for s in structures], np.int64)


def _f(x: float) -> float:
    return float(x)
