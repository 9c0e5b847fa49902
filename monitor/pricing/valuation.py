"""One call per tick values every instrument: forwards, implied vols, Greeks, smiles.

The engine calls :func:`value` every 250 ms with bid/ask/last arrays aligned to a
:class:`~monitor.pricing.universe.Universe`. Everything is vectorized across options; only the
per-chain steps (picking a forward's source, building a smile) loop, once per expiry.

Per instrument: ``mid`` is the mid of a two-sided quote (a zero bid counts as a side), else the
``last`` argument for indices and futures (the engine passes every instrument's mark there:
recent last trade, else settlement; ``monitor.market``). A VIX/VIXW chain's forward is its own
VX future's price, else put-call parity, else the VX curve interpolated linearly in settlement
time between the neighbouring priced futures (``future_interpolated``). Options carry their
chain's forward, time, rate and discount factor, so anyone can recompute the Greeks with
:mod:`monitor.pricing.black`. Greeks use the option's own mid IV; when that is missing (no
quote, at intrinsic, ...) they use the chain's smile at the strike and ``vol_from_smile`` says
so. Indices and futures have delta 1 and other Greeks 0.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from monitor.pricing import black
from monitor.pricing.expiry import year_fraction
from monitor.pricing.forwards import MIN_PARITY_PAIRS, carry_forward, chain_parity_forwards
from monitor.pricing.rates import RateCurve
from monitor.pricing.reasons import IvReason
from monitor.pricing.smile import Smile
from monitor.pricing.universe import Universe
from monitor.symbols import Kind

FloatArray = NDArray[np.float64]
FORWARD_METHODS: tuple[str, ...] = ("none", "parity", "future", "carry", "future_interpolated")
NONE, PARITY, FUTURE, CARRY, FUTURE_INTERP = range(5)
GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta", "rho")


@dataclass(frozen=True, slots=True)
class Valuation:
    """Arrays aligned to the universe, then per-chain arrays aligned to ``universe.chains``."""

    universe: Universe
    now_ns: int
    bid: FloatArray
    ask: FloatArray
    mid: FloatArray
    forward: FloatArray
    t_years: FloatArray
    rate: FloatArray
    df: FloatArray
    iv_bid: FloatArray
    iv_mid: FloatArray
    iv_ask: FloatArray
    iv_reason: NDArray[np.int8]
    iv_bid_reason: NDArray[np.int8]
    iv_ask_reason: NDArray[np.int8]
    vol: FloatArray
    vol_from_smile: NDArray[np.bool_]
    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray
    chain_forward: FloatArray
    chain_method: NDArray[np.int8]
    chain_t_years: FloatArray
    chain_rate: FloatArray
    chain_df: FloatArray
    chain_atm_iv: FloatArray
    chain_expected_move: FloatArray
    smiles: tuple[Smile, ...]
    dividend_yield: float = 0.0
    tick: float = 0.05

    def chain_index(self, root: str, expiry: dt.date) -> int:
        """Return the chain id of (root, expiry)."""
        return self.universe.chain_index(root, expiry)

    def forward_method(self, chain: int) -> str:
        """Return how the chain's forward was obtained: parity, future, carry or none."""
        return FORWARD_METHODS[int(self.chain_method[chain])]

    def smile_iv(self, chain: int, strikes: npt.ArrayLike) -> FloatArray:
        """Return the chain's smile IV at each strike (total-variance interpolation)."""
        return self.smiles[chain].iv(strikes)

    def expected_move(self, chain: int) -> float:
        """Return the chain's 1-sigma expected move to expiry, in points."""
        return float(self.chain_expected_move[chain])

    def sigma_distance(self, chain: int, level: npt.ArrayLike) -> FloatArray:
        """Return how many smile sigmas each price level lies from the chain's forward."""
        return self.smiles[chain].sigma_distance(level)


def two_sided_mid(bid: FloatArray, ask: FloatArray) -> FloatArray:
    """Return (bid + ask) / 2 where 0 <= bid <= ask and ask > 0, else NaN."""
    with np.errstate(invalid="ignore"):
        ok = (bid >= 0.0) & (ask > 0.0) & (ask >= bid)
    out: FloatArray = np.where(ok, 0.5 * (bid + ask), np.nan)
    return out


def _mids(
    linear: NDArray[np.bool_], bid: FloatArray, ask: FloatArray, last: FloatArray
) -> FloatArray:
    """Return each instrument's mid: two-sided, else (futures and indices) ``last``."""
    mid = two_sided_mid(bid, ask)
    with np.errstate(invalid="ignore"):
        out: FloatArray = np.where(linear & np.isnan(mid) & (last > 0.0), last, mid)
    return out


def value(
    universe: Universe,
    bid: npt.ArrayLike,
    ask: npt.ArrayLike,
    last: npt.ArrayLike,
    now_ns: int,
    rates: RateCurve,
    dividend_yield: float,
    *,
    tick: float = 0.05,
    min_parity_pairs: int = MIN_PARITY_PAIRS,
    previous: Valuation | None = None,
    sides: NDArray[np.int64] | None = None,
) -> Valuation:
    """Value every instrument of ``universe`` at ``now_ns`` from one tick's quote arrays.

    Pass the previous tick's result as ``previous``: options whose bid, ask, forward, time and
    rate are all unchanged keep its results without a solve, and its vols seed the solver for
    the rest, so quotes that moved a little converge in one polishing step (anything else gets
    the full solve, so the answer does not depend on it beyond the last few bits).

    ``sides``: the rows whose bid and ask vols are solved too (the engine passes its books'
    legs: nothing else reads them, and they were a third of a full chain's pricing); the other
    options get NaN with ``IvReason.NOT_SOLVED``. None: every option. Mid vols, Greeks, the
    forwards and the smiles are solved for every option either way.
    """
    u = universe
    # Copies: the engine passes views of buffers that the next quotes overwrite.
    bid_, ask_, last_ = (np.array(a, dtype=np.float64) for a in (bid, ask, last))
    linear = u.kind != int(Kind.OPTION)
    mid = _mids(linear, bid_, ask_, last_)
    t = year_fraction(u.settle_ns, now_ns)
    rate = rates.rate(t)
    df = np.exp(-rate * t)
    ch_t = year_fraction(u.chain_settle_ns, now_ns)
    ch_rate = rates.rate(ch_t)
    ch_df = np.exp(-ch_rate * ch_t)
    ch_fwd, ch_method = _forwards(
        u, mid, ch_t, ch_rate, ch_df, dividend_yield, min_parity_pairs, between=(t, ch_t)
    )
    forward = np.where(linear, mid, np.nan)
    opt = u.option_pos
    forward[opt] = ch_fwd[u.chain_id[opt]]
    seeds = previous if previous is not None and previous.universe is u else None
    solved = _Solved.empty(len(u))
    quotes = _Quotes(bid_, ask_, mid, forward, t, rate, df, dividend_yield, tick)
    _solve(u, quotes, seeds, solved, sides)
    smiles = _smiles(u, ch_fwd, ch_t, solved.iv_mid)
    _fill_from_smile(u, smiles, forward, t, rate, df, dividend_yield, solved)
    atm = np.array([_atm_iv(s) for s in smiles], dtype=np.float64)
    return Valuation(
        universe=u,
        now_ns=now_ns,
        bid=bid_,
        ask=ask_,
        mid=mid,
        forward=forward,
        t_years=t,
        rate=rate,
        df=df,
        iv_bid=solved.iv_bid,
        iv_mid=solved.iv_mid,
        iv_ask=solved.iv_ask,
        iv_reason=solved.iv_reason,
        iv_bid_reason=solved.iv_bid_reason,
        iv_ask_reason=solved.iv_ask_reason,
        vol=solved.vol,
        vol_from_smile=solved.vol_from_smile,
        price=solved.greeks[0],
        delta=solved.greeks[1],
        gamma=solved.greeks[2],
        vega=solved.greeks[3],
        theta=solved.greeks[4],
        rho=solved.greeks[5],
        chain_forward=ch_fwd,
        chain_method=ch_method,
        chain_t_years=ch_t,
        chain_rate=ch_rate,
        chain_df=ch_df,
        chain_atm_iv=atm,
        chain_expected_move=ch_fwd * atm * np.sqrt(ch_t),
        smiles=smiles,
        dividend_yield=dividend_yield,
        tick=tick,
    )


def value_rows(
    previous: Valuation,
    rows: npt.ArrayLike,
    bid: npt.ArrayLike,
    ask: npt.ArrayLike,
    last: npt.ArrayLike,
    *,
    min_parity_pairs: int = MIN_PARITY_PAIRS,
) -> Valuation:
    """Return ``previous`` with ``rows`` revalued from the current quote arrays, at its instant.

    A partial evaluation needs only its books' legs: their rows take the current quotes, the
    forwards of their chains are taken again (from every quote of the chain, as :func:`value`
    takes them), and the options among them whose bid, ask or forward moved are solved again;
    every other row and every smile stay ``previous``'s, so the result still says, row by row,
    which quotes its numbers came from (the next :func:`value` re-solves what differs).
    """
    u, p = previous.universe, previous
    rows_ = np.unique(np.asarray(rows, dtype=np.int64))
    bid_now, ask_now, last_now = (np.asarray(a, dtype=np.float64) for a in (bid, ask, last))
    linear = u.kind != int(Kind.OPTION)
    opt_rows = rows_[~linear[rows_]]
    chains = np.unique(u.chain_id[opt_rows])
    # the current mids of what is read: the rows, their chains' options (the parity
    # forwards), and the futures and indices (the other forwards); the rest stay previous's
    st, pairs = u.strikes, _pairs_of(u.strikes.starts, chains)
    read = np.concatenate([rows_, st.call_pos[pairs], st.put_pos[pairs], u.linear_pos])
    read = read[read >= 0]
    mid_now = p.mid.copy()
    mid_now[read] = _mids(linear[read], bid_now[read], ask_now[read], last_now[read])
    ch_fwd, ch_method = p.chain_forward.copy(), p.chain_method.copy()
    if chains.size:
        fwd_now, method_now = _forwards(
            u, mid_now, p.chain_t_years, p.chain_rate, p.chain_df, p.dividend_yield,
            min_parity_pairs, between=(p.t_years, p.chain_t_years), only=chains,
        )  # fmt: skip
        ch_fwd[chains], ch_method[chains] = fwd_now[chains], method_now[chains]
    bid_, ask_, mid, forward = p.bid.copy(), p.ask.copy(), p.mid.copy(), p.forward.copy()
    bid_[rows_], ask_[rows_], mid[rows_] = bid_now[rows_], ask_now[rows_], mid_now[rows_]
    forward[rows_] = np.where(linear[rows_], mid_now[rows_], np.nan)
    forward[opt_rows] = ch_fwd[u.chain_id[opt_rows]]
    moved = ~((bid_[opt_rows] == p.bid[opt_rows]) & (ask_[opt_rows] == p.ask[opt_rows])
              & (forward[opt_rows] == p.forward[opt_rows]))  # fmt: skip
    solved = _Solved.copy_of(p)
    lin_rows = rows_[linear[rows_]]
    solved.greeks[0][lin_rows] = mid[lin_rows]
    o = opt_rows[moved]
    quotes = _Quotes(bid_, ask_, mid, forward, p.t_years, p.rate, p.df, p.dividend_yield, p.tick)
    solved.vol_from_smile[o] = False
    _solve_options(u, o, quotes, p, solved)
    _fill_from_smile(
        u, p.smiles, forward, p.t_years, p.rate, p.df, p.dividend_yield, solved, among=o
    )
    return replace(
        p, bid=bid_, ask=ask_, mid=mid, forward=forward, iv_bid=solved.iv_bid,
        iv_mid=solved.iv_mid, iv_ask=solved.iv_ask, iv_reason=solved.iv_reason,
        iv_bid_reason=solved.iv_bid_reason, iv_ask_reason=solved.iv_ask_reason, vol=solved.vol,
        vol_from_smile=solved.vol_from_smile, price=solved.greeks[0], delta=solved.greeks[1],
        gamma=solved.greeks[2], vega=solved.greeks[3], theta=solved.greeks[4],
        rho=solved.greeks[5], chain_forward=ch_fwd, chain_method=ch_method,
        chain_expected_move=ch_fwd * p.chain_atm_iv * np.sqrt(p.chain_t_years),
    )  # fmt: skip


@dataclass(slots=True)
class _Solved:
    iv_bid: FloatArray
    iv_mid: FloatArray
    iv_ask: FloatArray
    iv_reason: NDArray[np.int8]
    iv_bid_reason: NDArray[np.int8]
    iv_ask_reason: NDArray[np.int8]
    vol: FloatArray
    vol_from_smile: NDArray[np.bool_]
    greeks: list[FloatArray]
    """price, delta, gamma, vega, theta, rho (separate arrays: a partial copies each, and
    stacking them was a fresh 6-row block per tick)."""

    @classmethod
    def empty(cls, n: int) -> _Solved:
        codes = [np.full(n, int(IvReason.NOT_AN_OPTION), dtype=np.int8) for _ in range(3)]
        return cls(
            iv_bid=np.full(n, np.nan),
            iv_mid=np.full(n, np.nan),
            iv_ask=np.full(n, np.nan),
            iv_reason=codes[0],
            iv_bid_reason=codes[1],
            iv_ask_reason=codes[2],
            vol=np.full(n, np.nan),
            vol_from_smile=np.zeros(n, dtype=bool),
            greeks=[np.zeros(n) for _ in GREEK_NAMES],
        )

    @classmethod
    def copy_of(cls, v: Valuation) -> _Solved:
        return cls(
            iv_bid=v.iv_bid.copy(),
            iv_mid=v.iv_mid.copy(),
            iv_ask=v.iv_ask.copy(),
            iv_reason=v.iv_reason.copy(),
            iv_bid_reason=v.iv_bid_reason.copy(),
            iv_ask_reason=v.iv_ask_reason.copy(),
            vol=v.vol.copy(),
            vol_from_smile=v.vol_from_smile.copy(),
            greeks=[getattr(v, name).copy() for name in GREEK_NAMES],
        )


@dataclass(frozen=True, slots=True)
class _Quotes:
    """One tick's inputs to the option solves, aligned to the universe."""

    bid: FloatArray
    ask: FloatArray
    mid: FloatArray
    forward: FloatArray
    t: FloatArray
    rate: FloatArray
    df: FloatArray
    dividend_yield: float
    tick: float


def _forwards(
    u: Universe,
    mid: FloatArray,
    ch_t: FloatArray,
    ch_rate: FloatArray,
    ch_df: FloatArray,
    dividend_yield: float,
    min_pairs: int,
    *,
    between: tuple[FloatArray, FloatArray] | None = None,
    only: NDArray[np.int64] | None = None,
) -> tuple[FloatArray, NDArray[np.int8]]:
    """Return every chain's forward and how it was taken; with ``only``, right for those
    chains alone (the others' parity is not computed)."""
    st = u.strikes
    pairs = slice(None) if only is None else _pairs_of(st.starts, only)
    call_pos, put_pos = st.call_pos[pairs], st.put_pos[pairs]
    call_mid = np.where(call_pos >= 0, mid[call_pos], np.nan)
    put_mid = np.where(put_pos >= 0, mid[put_pos], np.nan)
    n = len(u.chains)
    parity = chain_parity_forwards(
        st.chain[pairs], st.strike[pairs], call_mid, put_mid, ch_df, n, min_pairs=min_pairs
    )
    future = np.where(u.chain_future_pos >= 0, mid[u.chain_future_pos], np.nan)
    spot = np.where(u.chain_spot_pos >= 0, mid[u.chain_spot_pos], np.nan)
    carry = carry_forward(spot, ch_rate, dividend_yield, ch_t)
    if between is None:
        interp = np.full(len(u.chains), np.nan)
    else:
        interp = interpolated_futures(u, mid, *between)
    with np.errstate(invalid="ignore"):
        has_future = u.chain_is_vix & (future > 0.0)
        has_parity = ~has_future & np.isfinite(parity)
        has_carry = ~u.chain_is_vix & ~has_parity & (carry > 0.0)
        has_between = u.chain_is_vix & ~has_future & ~has_parity & (interp > 0.0)
    conds = [has_future, has_parity, has_carry, has_between]
    method = np.select(conds, [FUTURE, PARITY, CARRY, FUTURE_INTERP], NONE)
    fwd = np.select(conds, [future, parity, carry, interp], np.nan)
    return fwd, method.astype(np.int8)


def _pairs_of(starts: NDArray[np.int64], chains: NDArray[np.int64]) -> NDArray[np.int64]:
    """Return the strike-table rows of ``chains`` (ascending), in table order."""
    lo, hi = starts[chains], starts[chains + 1]
    if lo.size == 0:
        return np.zeros(0, np.int64)
    out: NDArray[np.int64] = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
    return out


def interpolated_futures(
    u: Universe, mid: FloatArray, t: FloatArray, ch_t: FloatArray
) -> FloatArray:
    """Return, per chain, the VX futures curve linearly interpolated in time to settlement.

    The forward of a VIX/VIXW expiry whose own VX future has no price (a weekly that never
    traded): linear in time between the priced futures settling just before and just after it.
    The VIX index counts as the future settling now, so a weekly before the front month lies
    between VIX and the front future. NaN outside that range (no extrapolation).
    """
    futures = np.flatnonzero(u.kind == int(Kind.FUTURE))
    with np.errstate(invalid="ignore"):
        futures = futures[(mid[futures] > 0.0) & (t[futures] > 0.0)]
    x, y = t[futures], mid[futures]
    vix = u.position.get("VIX", -1)
    if vix >= 0 and mid[vix] > 0.0:
        x, y = np.append(x, 0.0), np.append(y, mid[vix])
    if x.size < 2:
        return np.full(len(u.chains), np.nan)
    order = np.argsort(x, kind="stable")
    out: FloatArray = np.interp(ch_t, x[order], y[order], left=np.nan, right=np.nan)
    return out


def _solve(
    u: Universe,
    q: _Quotes,
    seeds: Valuation | None,
    out: _Solved,
    sides: NDArray[np.int64] | None = None,
) -> None:
    """Fill ``out`` with every instrument's IVs and Greeks (before the smile fills gaps)."""
    o = u.option_pos
    same = _unchanged(o, q, seeds)
    wanted = None
    if sides is not None:
        wanted = np.zeros(len(u), np.bool_)
        wanted[sides] = True
        if seeds is not None:  # a leg new since: its sides were not solved
            same &= ~(wanted[o] & (seeds.iv_bid_reason[o] == int(IvReason.NOT_SOLVED)))
    if seeds is not None and same.any():
        _reuse(seeds, out)
        o = o[~same]
    linear = u.kind != int(Kind.OPTION)
    np.copyto(out.greeks[0], q.mid, where=linear)
    np.copyto(out.greeks[1], 1.0, where=linear)
    _solve_options(u, o, q, seeds, out, wanted)


def _unchanged(o: NDArray[np.int64], q: _Quotes, prev: Valuation | None) -> NDArray[np.bool_]:
    """Return which options (of ``o``) have exactly the previous tick's solve inputs."""
    if prev is None or prev.dividend_yield != q.dividend_yield or prev.tick != q.tick:
        return np.zeros(o.size, dtype=bool)
    same = (q.bid == prev.bid) & (q.ask == prev.ask) & (q.forward == prev.forward)
    same &= (q.t == prev.t_years) & (q.rate == prev.rate) & (q.df == prev.df)
    out: NDArray[np.bool_] = same[o]
    return out


def _reuse(prev: Valuation, out: _Solved) -> None:
    # Whole arrays: the options that did change are solved over them next.
    for name in ("iv_bid", "iv_mid", "iv_ask", "iv_reason", "iv_bid_reason", "iv_ask_reason"):
        np.copyto(getattr(out, name), getattr(prev, name))
    np.copyto(out.vol, prev.iv_mid)
    for row, name in enumerate(GREEK_NAMES):
        np.copyto(out.greeks[row], getattr(prev, name))


def _solve_options(
    u: Universe,
    o: NDArray[np.int64],
    q: _Quotes,
    seeds: Valuation | None,
    out: _Solved,
    wanted: NDArray[np.bool_] | None = None,
) -> None:
    """Solve options ``o``: mid vols and Greeks of all, bid and ask vols of the ``wanted``
    rows (a mask over the universe; None: all)."""
    picked = wanted[o] if wanted is not None else None
    _solve_sides(u, o if picked is None else o[picked], q, seeds, out)
    if picked is not None:
        skipped = o[~picked]
        out.iv_bid[skipped] = out.iv_ask[skipped] = np.nan
        out.iv_bid_reason[skipped] = out.iv_ask_reason[skipped] = int(IvReason.NOT_SOLVED)
    args = (u.cp[o], q.forward[o], u.strike[o], q.t[o], q.df[o])
    carry = np.where(u.spot_based[o], q.rate[o] - q.dividend_yield, 0.0)
    iv_m, out.iv_reason[o], g = black.implied_vol_and_greeks(
        *args, q.mid[o], tick=q.tick, carry=carry, spot_based=u.spot_based[o],
        guess=None if seeds is None else seeds.iv_mid[o],
    )  # fmt: skip
    out.iv_mid[o] = iv_m
    out.vol[o] = iv_m
    for row, name in enumerate(GREEK_NAMES):
        out.greeks[row][o] = getattr(g, name)


def _solve_sides(
    u: Universe, o: NDArray[np.int64], q: _Quotes, seeds: Valuation | None, out: _Solved
) -> None:
    """Solve the bid and ask vols of options ``o``."""
    args = (u.cp[o], q.forward[o], u.strike[o], q.t[o], q.df[o])
    for side, premium, vol, reason in (
        ("bid", q.bid, out.iv_bid, out.iv_bid_reason),
        ("ask", q.ask, out.iv_ask, out.iv_ask_reason),
    ):
        guess = None if seeds is None else getattr(seeds, f"iv_{side}")[o]
        vol[o], reason[o] = black.implied_vol(*args, premium[o], tick=q.tick, guess=guess)


def _smiles(
    u: Universe, ch_fwd: FloatArray, ch_t: FloatArray, iv_mid: FloatArray
) -> tuple[Smile, ...]:
    """Return every chain's smile: Smile.from_quotes's arithmetic, for all chains at once.

    The strike table is sorted by chain then strike, so each chain's log-moneyness is already
    ascending and its smile is a slice.
    """
    st = u.strikes
    call_iv = np.where(st.call_pos >= 0, iv_mid[st.call_pos], np.nan)
    put_iv = np.where(st.put_pos >= 0, iv_mid[st.put_pos], np.nan)
    fwd = ch_fwd[st.chain]
    below = st.strike < fwd
    otm = np.where(below, put_iv, call_iv)
    iv = np.where(np.isnan(otm), np.where(below, call_iv, put_iv), otm)
    keep = np.flatnonzero(np.isfinite(iv) & (iv > 0.0) & (st.strike > 0.0))
    with np.errstate(all="ignore"):
        x = np.log(st.strike[keep] / fwd[keep])
    w = iv[keep] ** 2 * ch_t[st.chain[keep]]
    bounds = np.searchsorted(st.chain[keep], np.arange(len(u.chains) + 1))
    return tuple(
        Smile(float(ch_fwd[c]), float(ch_t[c]), x[lo:hi], w[lo:hi])
        for c, (lo, hi) in enumerate(itertools.pairwise(bounds))
    )


def _atm_iv(smile: Smile) -> float:
    # Smile.atm_iv's arithmetic (ln(F/F) is exactly 0) without its per-call array overhead.
    if smile.empty or not math.isfinite(smile.forward):
        return math.nan
    return math.sqrt(
        float(np.interp(0.0, smile.log_moneyness, smile.total_variance)) / smile.t_years
    )


def _fill_from_smile(
    u: Universe,
    smiles: tuple[Smile, ...],
    forward: FloatArray,
    t: FloatArray,
    rate: FloatArray,
    df: FloatArray,
    dividend_yield: float,
    solved: _Solved,
    *,
    among: NDArray[np.int64] | None = None,
) -> None:
    o = u.option_pos if among is None else among
    need = o[np.isnan(solved.vol[o]) & np.isfinite(forward[o])]
    if need.size == 0:
        return
    need = need[np.argsort(u.chain_id[need], kind="stable")]
    chains = u.chain_id[need]
    fill = np.full(need.size, np.nan)
    edges = np.flatnonzero(np.diff(chains)) + 1
    for lo, hi in itertools.pairwise([0, *edges.tolist(), need.size]):
        fill[lo:hi] = smiles[chains[lo]].iv(u.strike[need[lo:hi]])
    carry = np.where(u.spot_based[need], rate[need] - dividend_yield, 0.0)
    g = black.greeks(
        u.cp[need], forward[need], u.strike[need], t[need], df[need], fill,
        carry=carry, spot_based=u.spot_based[need],
    )  # fmt: skip
    solved.vol[need] = fill
    solved.vol_from_smile[need] = np.isfinite(fill)
    for row, name in enumerate(GREEK_NAMES):
        solved.greeks[row][need] = getattr(g, name)
