"""What the rules remember between cycles: explicit state owned by the engine, never globals.

- VIX bars (1-minute and daily) built from the VIX index quotes (``observe_market``).
- Baselines: each condor's break-evens, taken at the first cycle with valid numbers after the
  session open (09:30 ET) and after every change of the book's positions (``observe_index``
  compares per-structure leg signatures when the portfolio index is rebuilt; ``fill_baselines``
  sets the missing ones). Each book's vega baseline is the trader's target
  (``monitor.plan.baseline``): taken once, kept across sessions, position changes and restarts
  (the app persists it), moved only by a command or by executing a plan.
- When each hedge layer was last at or above its lowest gain threshold and when that episode
  began (its gain alert), and the size increases found on a portfolio reload within the sizing
  window after such a gain (``SizeIncrease``).
- What each rule last sent per alert key, and when (``emitted``, for sparse emission: see
  ``monitor.rules.codes``), and whether the next cycle must emit every key (``full``: after a
  start, so a firing alert restored from Redis gets its resolve) that is not clear or has a
  state in the alert machine (``held``).

Arrays are aligned to the current ``PortfolioIndex``; on a rebuild they are carried over by
(book, structure) name. Nothing here but the vega baselines survives a restart.

A partial evaluation of some books (``Engine.evaluate_books``) runs on a ``scratch`` copy for
just those books, which emits every key (as a full cycle: not clear or ``held``); only what it
sent, and that the rest is clear, is folded back (``fold_emitted``):
bars, baselines and gain episodes advance on full cycles alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Container, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from monitor.book import PortfolioIndex, PortfolioState
from monitor.market import MarketState
from monitor.plan.baseline import VegaBaselines
from monitor.rules.base import Signal
from monitor.rules.codes import CODE_OF, Emitted, Layout, LayoutCache
from monitor.rules.momentum import Bars, day_bucket, minute_bucket

NEW_YORK = ZoneInfo("America/New_York")
NS = 1_000_000_000
SESSION_OPEN = dt.timedelta(hours=9, minutes=30)
F64 = NDArray[np.float64]
StructKey = tuple[str, str]


def session_of(now_ns: int) -> int:
    """Return the trading session of ``now_ns``: the New York date, rolling over at 09:30 ET."""
    local = dt.datetime.fromtimestamp(now_ns / NS, NEW_YORK)
    return (local - SESSION_OPEN).date().toordinal()


@dataclass(frozen=True, slots=True)
class SizeIncrease:
    book: str
    layer: str
    contracts_before: int
    contracts_after: int
    at_ns: int
    """When the reload with the larger layer was first evaluated."""
    gain_ns: int
    """When the layer's last gain episode began (its gain alert fired) before that."""

    @property
    def growth(self) -> float:
        return self.contracts_after / self.contracts_before - 1


def _struct_keys(index: PortfolioIndex) -> list[StructKey]:
    return [
        (index.book_names[int(b)], n)
        for b, n in zip(index.struct_book, index.struct_names, strict=True)
    ]


def _signatures(index: PortfolioIndex) -> list[tuple[tuple[str, float], ...]]:
    legs: list[list[tuple[str, float]]] = [[] for _ in index.struct_names]
    for sym, qty, s in zip(
        index.leg_symbol, index.leg_qty.tolist(), index.leg_struct.tolist(), strict=True
    ):
        legs[s].append((sym, qty))
    return [tuple(sorted(group)) for group in legs]


def _positions(index: PortfolioIndex) -> dict[str, dict[str, int]]:
    """Return contracts per symbol per book (what executing a plan changes)."""
    out: dict[str, dict[str, int]] = {b: {} for b in index.book_names}
    for sym, qty, s in zip(
        index.leg_symbol, index.leg_qty.tolist(), index.leg_struct.tolist(), strict=True
    ):
        book = out[index.book_names[int(index.struct_book[s])]]
        book[sym] = book.get(sym, 0) + int(qty)
    return out


def contracts(index: PortfolioIndex) -> NDArray[np.int64]:
    """Return each structure's contracts (sum of |quantity| over its legs)."""
    n = len(index.struct_names)
    return np.bincount(index.leg_struct, np.abs(index.leg_qty), minlength=n).astype(np.int64)


@dataclass(slots=True)
class RuleMemory:
    max_bars: int = 600
    bars: dict[str, Bars] = field(default_factory=dict)
    vix_ts_ns: int = 0
    backfilled: dict[str, set[int]] = field(default_factory=dict)
    """Per timeframe, the bar buckets taken from published history (``monitor.history``)."""
    session: int = -1
    index: PortfolioIndex | None = None
    keys: list[StructKey] = field(default_factory=list)
    signatures: list[tuple[tuple[str, float], ...]] = field(default_factory=list)
    vega_baseline: F64 = field(default_factory=lambda: np.zeros(0))
    be_baseline: F64 = field(default_factory=lambda: np.zeros((0, 2)))
    """Per structure (lower, upper); meaningful for condors whose ``be_baseline_set`` is True."""
    be_baseline_set: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, np.bool_))
    gain_above_ns: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    gain_since_ns: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    """When each layer's current (or last) run at or above the threshold began."""
    vega: VegaBaselines = field(default_factory=VegaBaselines)
    size_increases: dict[StructKey, SizeIncrease] = field(default_factory=dict)
    emitted: dict[str, Emitted] = field(default_factory=dict)
    full: bool = True
    held: Container[str] | None = None
    """The keys the alert machine holds a state for (``AlertMachine.held``): a full emission
    sends the clear keys among them only; None: a full emission sends every key, as before."""
    last_gains_ns: int = 0
    """The previous ``observe_gains`` instant (a layer above now but not then starts a run)."""
    first_eval_ns: int = 0
    first_quote_ns: int = 0
    """The first evaluation, and the first one with a quote in the market (data-quality warm-up)."""
    now_ns: int = 0
    """The instant of the cycle being evaluated (set by ``observe_market``)."""
    layouts: LayoutCache = field(default_factory=LayoutCache)

    def __post_init__(self) -> None:
        if not self.bars:
            self.bars = {"1m": Bars(self.max_bars), "1d": Bars(self.max_bars)}

    # ---- market --------------------------------------------------------------------------------

    def observe_market(self, market: MarketState, now_ns: int) -> None:
        """Note the first evaluation and quote; add the VIX index's latest value to the bars."""
        self.now_ns = now_ns
        self.first_eval_ns = self.first_eval_ns or now_ns
        if market.latest_ts_ns and not self.first_quote_ns:
            self.first_quote_ns = now_ns
        row = market.index.get("VIX")
        if row is None:
            return
        ts, last = int(market.ts_ns[row]), float(market.last[row])
        if ts <= self.vix_ts_ns or not last > 0:
            return
        self.vix_ts_ns = ts
        self.bars["1m"].update(minute_bucket(ts), last)
        self.bars["1d"].update(day_bucket(ts), last)

    # ---- positions and baselines ---------------------------------------------------------------

    def observe_session(self, now_ns: int) -> None:
        """Drop the break-even baselines when a new session starts (the vega one stays)."""
        session = session_of(now_ns)
        if session != self.session:
            self.session = session
            self.be_baseline_set[:] = False

    def observe_index(
        self, index: PortfolioIndex, now_ns: int, *, growth: float, window_ns: int
    ) -> None:
        """Carry state over to a rebuilt index; reset baselines of changed positions."""
        if index is self.index:
            return
        keys, sigs = _struct_keys(index), _signatures(index)
        old = {k: i for i, k in enumerate(self.keys)}
        n_s = len(keys)
        be, be_set = np.full((n_s, 2), np.nan), np.zeros(n_s, np.bool_)
        gain_ns = np.zeros(n_s, np.int64)
        since_ns = np.zeros(n_s, np.int64)
        changed_books = self._removed_books(keys) | {
            key[0]
            for s, key in enumerate(keys)
            if (p := old.get(key)) is None or self.signatures[p] != sigs[s]
        }
        for s, key in enumerate(keys):
            p = old.get(key)
            if p is None:
                continue
            gain_ns[s], since_ns[s] = self.gain_above_ns[p], self.gain_since_ns[p]
            if key[0] not in changed_books:  # the break-evens count the book's layers too
                be[s], be_set[s] = self.be_baseline[p], self.be_baseline_set[p]
        if self.index is not None:
            self._find_size_increases(
                index, keys, old, (gain_ns, since_ns), now_ns, growth, window_ns
            )
        self.vega.observe_positions(_positions(index), now_ns)
        self.index, self.keys, self.signatures = index, keys, sigs
        self.vega_baseline = self.vega.values(index.book_names)
        self.be_baseline, self.be_baseline_set = be, be_set
        self.gain_above_ns, self.gain_since_ns = gain_ns, since_ns

    def _removed_books(self, keys: list[StructKey]) -> set[str]:
        present = set(keys)
        return {k[0] for k in self.keys if k not in present}

    def _find_size_increases(
        self,
        index: PortfolioIndex,
        keys: list[StructKey],
        old: dict[StructKey, int],
        gains: tuple[NDArray[np.int64], NDArray[np.int64]],
        now_ns: int,
        growth: float,
        window_ns: int,
    ) -> None:
        assert self.index is not None
        gain_ns, since_ns = gains
        before, after = contracts(self.index), contracts(index)
        for s, key in enumerate(keys):
            p = old.get(key)
            if p is None or index.struct_kind[s] != "layer" or after[s] <= before[p] * (1 + growth):
                continue
            if gain_ns[s] > 0 and now_ns - int(gain_ns[s]) <= window_ns:
                self.size_increases[key] = SizeIncrease(
                    book=key[0],
                    layer=key[1],
                    contracts_before=int(before[p]),
                    contracts_after=int(after[s]),
                    at_ns=now_ns,
                    gain_ns=int(since_ns[s] or gain_ns[s]),
                )

    def observe_gains(self, state: PortfolioState, threshold: float, now_ns: int) -> None:
        """Remember when each layer was last at or above ``threshold`` on fresh marks."""
        index = state.index
        layer = self.layouts.get(
            "layer_mask",
            index,
            None,
            lambda: np.array([k == "layer" for k in index.struct_kind], np.bool_),
        )
        with np.errstate(invalid="ignore"):
            above = layer & ~state.struct_stale & (state.struct_gain_ratio >= threshold)
        started = above & (self.gain_above_ns < self.last_gains_ns)
        self.gain_since_ns[started | (above & (self.gain_since_ns == 0))] = now_ns
        self.gain_above_ns[above] = now_ns
        self.last_gains_ns = now_ns

    def fill_baselines(
        self,
        vega: F64,
        book_stale: NDArray[np.bool_],
        be_now: F64,
        be_valid: NDArray[np.bool_],
    ) -> None:
        """Take the missing baselines from this cycle's valid numbers."""
        if self.index is not None:
            self.vega.fill(self.index.book_names, vega, ~book_stale, self.now_ns)
            self.vega_baseline = self.vega.values(self.index.book_names)
        take_be = ~self.be_baseline_set & be_valid
        self.be_baseline[take_be] = be_now[take_be]
        self.be_baseline_set |= take_be

    # ---- sparse emission -----------------------------------------------------------------------

    def after_signals(
        self, signals: Iterable[Signal], now_ns: int, rules: Iterable[str] = ()
    ) -> None:
        """Record what each rule sent this cycle (its current layout is the cached one).

        ``rules``: the rules that ran. On a full cycle a key of theirs not sent is clear (it
        has no state in the alert machine: ``held``), so each one's record starts afresh
        there, all clear but for what it sent."""
        by_rule: dict[str, list[Signal]] = {rule: [] for rule in rules} if self.full else {}
        for sig in signals:
            by_rule.setdefault(sig.rule, []).append(sig)
        for rule, sent in by_rule.items():
            layout = self.layouts.latest(rule)
            if layout is None:
                continue
            prev = None if self.full else self.emitted.get(rule)
            state = prev.aligned(layout) if prev is not None else Emitted.empty(layout)
            # one pass in Python for the positions, one store each (thousands on a resend cycle)
            at, pos = [], layout.position
            for sig in sent:
                p = pos.get(f"{rule}|{sig.book}|{sig.subject}")  # sig.key
                if p is not None:
                    at.append((p, CODE_OF[sig.condition]))
            if at:
                where, code = np.array(at, np.intp).T
                state.codes[where], state.sent_ns[where] = code, now_ns  # the last one wins
            self.emitted[rule] = state
        self.full = False

    def note_wake(self, wake: Mapping[str, int]) -> None:
        """Record, per key, when the alert machine next needs its signal (``Transition.wake``:
        the resend rule of ``monitor.rules.codes.select`` waits for it)."""
        by_rule: dict[str, list[tuple[str, int]]] = {}
        for key, at_ns in wake.items():
            by_rule.setdefault(key.partition("|")[0], []).append((key, at_ns))
        for rule, pairs in by_rule.items():
            layout, prev = self.layouts.latest(rule), self.emitted.get(rule)
            if layout is None or prev is None:
                continue  # nothing sent yet: the first cycle emits every key anyway
            state = prev.aligned(layout)
            pos = layout.position
            at = [(p, at_ns) for key, at_ns in pairs if (p := pos.get(key)) is not None]
            if at:
                where, when = np.array(at, np.int64).T
                state.wake_ns[where] = when
            self.emitted[rule] = state

    def reset_emission(self) -> None:
        """Emit every key on the next cycle (after a start or an alert-state reload)."""
        self.full = True

    # ---- partial evaluations -------------------------------------------------------------------

    def scratch(
        self, index: PortfolioIndex, structs: NDArray[np.int64], layouts: LayoutCache
    ) -> RuleMemory:
        """Return this memory for ``index``, some of its books (their structures at ``structs``
        of this memory's index), emitting every key (that is not clear or is ``held``); running
        the rules on it leaves this one as it is."""
        books = index.book_names
        in_part = set(books)
        layouts.share("roll:chain", self.layouts, index)  # the market's roll chain, no book's
        vega = VegaBaselines(
            by_book={b: v for b in books if (v := self.vega.by_book.get(b)) is not None},
            planned={b: p for b in books if (p := self.vega.planned.get(b)) is not None},
        )
        return RuleMemory(
            max_bars=self.max_bars,
            bars={tf: _copy_bars(b) for tf, b in self.bars.items()},
            vix_ts_ns=self.vix_ts_ns,
            backfilled=self.backfilled,
            session=self.session,
            index=index,
            keys=[self.keys[s] for s in structs.tolist()],
            signatures=[self.signatures[s] for s in structs.tolist()],
            vega_baseline=vega.values(books),
            be_baseline=self.be_baseline[structs],
            be_baseline_set=self.be_baseline_set[structs],
            gain_above_ns=self.gain_above_ns[structs],
            gain_since_ns=self.gain_since_ns[structs],
            vega=vega,
            size_increases={k: v for k, v in self.size_increases.items() if k[0] in in_part},
            full=True,
            held=self.held,
            last_gains_ns=self.last_gains_ns,
            first_eval_ns=self.first_eval_ns,
            first_quote_ns=self.first_quote_ns,
            now_ns=self.now_ns,
            layouts=layouts,
        )

    def fold_emitted(self, part: RuleMemory, books: Collection[str]) -> None:
        """Take over what a partial evaluation (``part``, a ``scratch``) sent for ``books``, so
        the next full cycle's sparse emission compares against it (a key fired there resolves
        when it clears)."""
        for rule, sent in part.emitted.items():
            layout = self.layouts.latest(rule)
            if layout is None:
                continue
            build = partial(_positions_in, sent.layout, layout, books)
            src, dst = part.layouts.get(f"fold:{rule}", sent.layout, layout, build)
            prev = self.emitted.get(rule)
            state = prev.aligned(layout) if prev is not None else Emitted.empty(layout)
            state.codes[dst], state.sent_ns[dst] = sent.codes[src], sent.sent_ns[src]
            self.emitted[rule] = state


def _positions_in(
    part: Layout, whole: Layout, books: Collection[str]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Return the positions in ``part`` of its keys of ``books``, and theirs in ``whole``."""
    pairs = [
        (p, q)
        for p, key in enumerate(part.keys)
        if part.books[p] in books and (q := whole.position.get(key)) is not None
    ]
    src = np.array([p for p, _ in pairs], np.intp)
    dst = np.array([q for _, q in pairs], np.intp)
    return src, dst


def _copy_bars(bars: Bars) -> Bars:
    return Bars(
        bars.max_bars,
        list(bars.bucket),
        list(bars.open),
        list(bars.high),
        list(bars.low),
        list(bars.close),
    )
