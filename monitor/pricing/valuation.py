"""One call per tick values every instrument: forwards, implied vols, Greeks, smiles.

The engine calls :func:`value` every 250 ms with bid/ask/last arrays aligned to a
:class:`~monitor.pricing.universe.Universe`. Everything is vectorized across options; only the
per-chain steps (picking a forward's source, building a smile) loop, once per expiry.

Per instrument: ``mid`` is the mid of a two-sided quote (a zero bid counts as a side), else the
last trade for indices and futures. Options carry their chain's forward, time, rate and
discount factor, so anyone can recompute the Greeks with :mod:`monitor.pricing.black`. Greeks
use the option's own mid IV; when that is missing (no quote, at intrinsic, ...) they use the
chain's smile at the strike and ``vol_from_smile`` says so. Indices and futures have delta 1 and
other Greeks 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
FORWARD_METHODS: tuple[str, ...] = ("none", "parity", "future", "carry")
NONE, PARITY, FUTURE, CARRY = range(4)
GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta", "rho")


@dataclass(frozen=True, slots=True)
class Valuation:
    """Arrays aligned to the universe, then per-chain arrays aligned to ``universe.chains``."""

    universe: Universe
    now_ns: int
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
) -> Valuation:
    """Value every instrument of ``universe`` at ``now_ns`` from one tick's quote arrays.

    Pass the previous tick's result as ``previous``: its vols seed the solver, so quotes that
    moved a little converge in one polishing step (anything else gets the full solve, so the
    answer does not depend on it).
    """
    u = universe
    bid_, ask_, last_ = (np.asarray(a, dtype=np.float64) for a in (bid, ask, last))
    mid = two_sided_mid(bid_, ask_)
    linear = u.kind != int(Kind.OPTION)
    with np.errstate(invalid="ignore"):
        mid = np.where(linear & np.isnan(mid) & (last_ > 0.0), last_, mid)
    t = year_fraction(u.settle_ns, now_ns)
    rate = rates.rate(t)
    df = np.exp(-rate * t)
    ch_t = year_fraction(u.chain_settle_ns, now_ns)
    ch_rate = rates.rate(ch_t)
    ch_df = np.exp(-ch_rate * ch_t)
    ch_fwd, ch_method = _forwards(u, mid, ch_t, ch_rate, ch_df, dividend_yield, min_parity_pairs)
    forward = np.where(linear, mid, np.nan)
    opt = u.option_pos
    forward[opt] = ch_fwd[u.chain_id[opt]]
    seeds = previous if previous is not None and previous.universe is u else None
    solved = _solve(u, bid_, ask_, mid, forward, t, rate, df, dividend_yield, tick, seeds)
    smiles = _smiles(u, ch_fwd, ch_t, solved.iv_mid)
    _fill_from_smile(u, smiles, forward, t, rate, df, dividend_yield, solved)
    atm = np.array([s.atm_iv() for s in smiles], dtype=np.float64)
    return Valuation(
        universe=u,
        now_ns=now_ns,
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
    )


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
    greeks: FloatArray  # rows: price, delta, gamma, vega, theta, rho


def _forwards(
    u: Universe,
    mid: FloatArray,
    ch_t: FloatArray,
    ch_rate: FloatArray,
    ch_df: FloatArray,
    dividend_yield: float,
    min_pairs: int,
) -> tuple[FloatArray, NDArray[np.int8]]:
    st = u.strikes
    call_mid = np.where(st.call_pos >= 0, mid[st.call_pos], np.nan)
    put_mid = np.where(st.put_pos >= 0, mid[st.put_pos], np.nan)
    n = len(u.chains)
    parity = chain_parity_forwards(
        st.chain, st.strike, call_mid, put_mid, ch_df, n, min_pairs=min_pairs
    )
    future = np.where(u.chain_future_pos >= 0, mid[u.chain_future_pos], np.nan)
    spot = np.where(u.chain_spot_pos >= 0, mid[u.chain_spot_pos], np.nan)
    carry = carry_forward(spot, ch_rate, dividend_yield, ch_t)
    with np.errstate(invalid="ignore"):
        has_future = u.chain_is_vix & (future > 0.0)
        has_parity = ~has_future & np.isfinite(parity)
        has_carry = ~u.chain_is_vix & ~has_parity & (carry > 0.0)
    method = np.select([has_future, has_parity, has_carry], [FUTURE, PARITY, CARRY], NONE)
    fwd = np.select([has_future, has_parity, has_carry], [future, parity, carry], np.nan)
    return fwd, method.astype(np.int8)


def _solve(
    u: Universe,
    bid: FloatArray,
    ask: FloatArray,
    mid: FloatArray,
    forward: FloatArray,
    t: FloatArray,
    rate: FloatArray,
    df: FloatArray,
    dividend_yield: float,
    tick: float,
    seeds: Valuation | None,
) -> _Solved:
    o = u.option_pos
    args = (u.cp[o], forward[o], u.strike[o], t[o], df[o])
    carry = np.where(u.spot_based[o], rate[o] - dividend_yield, 0.0)
    guess = {
        side: None if seeds is None else getattr(seeds, f"iv_{side}")[o]
        for side in ("bid", "mid", "ask")
    }
    iv_b, r_b = black.implied_vol(*args, bid[o], tick=tick, guess=guess["bid"])
    iv_a, r_a = black.implied_vol(*args, ask[o], tick=tick, guess=guess["ask"])
    iv_m, r_m, g = black.implied_vol_and_greeks(
        *args, mid[o], tick=tick, carry=carry, spot_based=u.spot_based[o], guess=guess["mid"]
    )
    linear = u.kind != int(Kind.OPTION)
    greeks = np.zeros((6, len(u)))
    greeks[0] = np.where(linear, mid, np.nan)
    greeks[1] = np.where(linear, 1.0, np.nan)
    for row, name in enumerate(GREEK_NAMES):
        greeks[row, o] = getattr(g, name)
    return _Solved(
        iv_bid=_spread(u, o, iv_b),
        iv_mid=_spread(u, o, iv_m),
        iv_ask=_spread(u, o, iv_a),
        iv_reason=_spread_codes(u, o, r_m),
        iv_bid_reason=_spread_codes(u, o, r_b),
        iv_ask_reason=_spread_codes(u, o, r_a),
        vol=_spread(u, o, iv_m),
        vol_from_smile=np.zeros(len(u), dtype=bool),
        greeks=greeks,
    )


def _spread(u: Universe, o: NDArray[np.int64], part: FloatArray) -> FloatArray:
    full = np.full(len(u), np.nan)
    full[o] = part
    return full


def _spread_codes(u: Universe, o: NDArray[np.int64], part: NDArray[np.int8]) -> NDArray[np.int8]:
    full = np.full(len(u), int(IvReason.NOT_AN_OPTION), dtype=np.int8)
    full[o] = part
    return full


def _smiles(
    u: Universe, ch_fwd: FloatArray, ch_t: FloatArray, iv_mid: FloatArray
) -> tuple[Smile, ...]:
    st = u.strikes
    call_iv = np.where(st.call_pos >= 0, iv_mid[st.call_pos], np.nan)
    put_iv = np.where(st.put_pos >= 0, iv_mid[st.put_pos], np.nan)
    smiles = []
    for c in range(len(u.chains)):
        lo, hi = st.starts[c], st.starts[c + 1]
        smiles.append(
            Smile.from_quotes(
                float(ch_fwd[c]), float(ch_t[c]), st.strike[lo:hi], call_iv[lo:hi], put_iv[lo:hi]
            )
        )
    return tuple(smiles)


def _fill_from_smile(
    u: Universe,
    smiles: tuple[Smile, ...],
    forward: FloatArray,
    t: FloatArray,
    rate: FloatArray,
    df: FloatArray,
    dividend_yield: float,
    solved: _Solved,
) -> None:
    o = u.option_pos
    need = o[np.isnan(solved.vol[o]) & np.isfinite(forward[o])]
    if need.size == 0:
        return
    fill = np.full(need.size, np.nan)
    chains = u.chain_id[need]
    for c in np.unique(chains):
        members = chains == c
        fill[members] = smiles[c].iv(u.strike[need[members]])
    carry = np.where(u.spot_based[need], rate[need] - dividend_yield, 0.0)
    g = black.greeks(
        u.cp[need], forward[need], u.strike[need], t[need], df[need], fill,
        carry=carry, spot_based=u.spot_based[need],
    )  # fmt: skip
    solved.vol[need] = fill
    solved.vol_from_smile[need] = np.isfinite(fill)
    for row, name in enumerate(GREEK_NAMES):
        solved.greeks[row, need] = getattr(g, name)
