"""Benchmark: implied vol + delta/gamma/vega/theta throughput, vixmon vs py_vollib_vectorized.

Run ``.venv/bin/pip install -e '.[bench]'`` once, then ``.venv/bin/python bench/greeks.py``.

Both libraries get the same chains: SPX-like (Black-Scholes-Merton with a rate and a dividend
yield; vixmon prices it as Black-76 on the forward, the same model) and VIX-like (Black-76 on a
VX future). Every option is a valid quote with at least one tick (0.05) of time value, so
nothing is skipped cheaply. Both are compiled and warmed up first; each (model, N) is timed as
interleaved repeats (vixmon, then py_vollib_vectorized, alternating which goes first) and the
table shows medians. "1 thread" forces vixmon onto the calling thread; the default uses every
core (as the engine does). Accuracy columns are the max |IV error| against the generating vol
over the quotes each library solved, and how many each failed to solve.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor import symbols
from monitor.pricing import black
from monitor.pricing.calendar import is_business_day
from monitor.pricing.expiry import settlement_ns, year_fraction
from monitor.pricing.rates import RateCurve
from monitor.pricing.universe import Universe
from monitor.pricing.valuation import value

FloatArray = NDArray[np.float64]
SIZES = (2_000, 20_000, 200_000, 1_000_000)
TICK = 0.05


@dataclass(frozen=True)
class Chain:
    model: str
    cp: FloatArray
    spot: FloatArray
    strike: FloatArray
    t: FloatArray
    rate: float
    dividend: float
    vol: FloatArray
    premium: FloatArray

    @property
    def forward(self) -> FloatArray:
        out: FloatArray = self.spot * np.exp((self.rate - self.dividend) * self.t)
        return out

    @property
    def df(self) -> FloatArray:
        out: FloatArray = np.exp(-self.rate * self.t)
        return out


def _valid(cp: FloatArray, f: FloatArray, k: FloatArray, t: FloatArray, df: FloatArray,
           vol: FloatArray) -> tuple[FloatArray, NDArray[np.bool_]]:  # fmt: skip
    premium = black.price(cp, f, k, t, df, vol)
    intrinsic = df * np.maximum(cp * (f - k), 0.0)
    return premium, (premium - intrinsic >= TICK) & (premium < df * np.where(cp > 0, f, k))


def spx_chain(n: int, rng: np.random.Generator) -> Chain:
    """Return n SPX-like quotes: 1 hour to 2 years, skewed smile, ITM and OTM, calls and puts."""
    rows: list[FloatArray] = []
    while sum(r.shape[1] for r in rows) < n:
        m = 2 * n
        t = np.exp(rng.uniform(np.log(1 / (365 * 24)), np.log(2.0), m))
        spot = np.full(m, 5000.0)
        f = spot * np.exp((0.045 - 0.013) * t)
        width = np.minimum(0.06 + 0.5 * np.sqrt(t), 0.8)
        k = np.round(f * np.exp(rng.uniform(-1.6 * width, 0.6 * width)) / 5.0) * 5.0
        z = np.log(k / f) / np.sqrt(t)
        vol = np.clip(0.16 - 0.25 * z + 0.3 * z * z, 0.07, 2.0)
        cp = np.where(rng.random(m) < 0.5, 1.0, -1.0)
        premium, ok = _valid(cp, f, k, t, np.exp(-0.045 * t), vol)
        rows.append(np.vstack([cp, spot, k, t, vol, premium])[:, ok])
    cp, spot, k, t, vol, premium = np.hstack(rows)[:, :n]
    return Chain("SPX-like BSM", cp, spot, k, t, 0.045, 0.013, vol, premium)


def vix_chain(n: int, rng: np.random.Generator) -> Chain:
    """Return n VIX-like quotes on VX futures: 1 day to 6 months, call skew, high vols."""
    rows: list[FloatArray] = []
    while sum(r.shape[1] for r in rows) < n:
        m = 2 * n
        t = np.exp(rng.uniform(np.log(1 / 365), np.log(0.5), m))
        f = rng.uniform(14.0, 30.0, m)
        k = np.round(f * np.exp(rng.uniform(-0.5, 1.1, m)) * 2.0) / 2.0
        vol = np.clip(0.8 + 0.5 * np.log(k / f), 0.3, 2.5)
        cp = np.where(rng.random(m) < 0.5, 1.0, -1.0)
        premium, ok = _valid(cp, f, k, t, np.exp(-0.045 * t), vol)
        rows.append(np.vstack([cp, f, k, t, vol, premium])[:, ok])
    cp, f, k, t, vol, premium = np.hstack(rows)[:, :n]
    return Chain("VIX-like Black-76", cp, f, k, t, 0.045, 0.045, vol, premium)


def run_vixmon(c: Chain) -> FloatArray:
    """IV, then delta/gamma/vega/theta at it, in vixmon's fused call."""
    spot_based = c.model.startswith("SPX")
    carry = c.rate - c.dividend if spot_based else 0.0
    vol, _, _ = black.implied_vol_and_greeks(
        c.cp, c.forward, c.strike, c.t, c.df, c.premium, tick=TICK, carry=carry,
        spot_based=spot_based,
    )  # fmt: skip
    return vol


def run_pvv(c: Chain) -> FloatArray:
    """IV, then delta/gamma/vega/theta (get_all_greeks: their fastest path, rho included)."""
    from py_vollib_vectorized import get_all_greeks, vectorized_implied_volatility
    from py_vollib_vectorized.implied_volatility import vectorized_implied_volatility_black

    flag = np.where(c.cp > 0, "c", "p")
    if c.model.startswith("SPX"):
        vol = vectorized_implied_volatility(
            c.premium, c.spot, c.strike, c.t, c.rate, flag, q=c.dividend,
            model="black_scholes_merton", return_as="numpy", on_error="ignore",
        )  # fmt: skip
        get_all_greeks(flag, c.spot, c.strike, c.t, c.rate, vol, q=c.dividend,
                       model="black_scholes_merton", return_as="dict")  # fmt: skip
    else:
        vol = vectorized_implied_volatility_black(
            c.premium, c.spot, c.strike, c.rate, c.t, flag, return_as="numpy", on_error="ignore"
        )
        get_all_greeks(flag, c.spot, c.strike, c.t, c.rate, vol, model="black",
                       return_as="dict")  # fmt: skip
    out: FloatArray = np.asarray(vol, dtype=np.float64).ravel()
    return out


def _time(fn: Callable[[Chain], FloatArray], c: Chain) -> float:
    start = time.perf_counter()
    fn(c)
    return time.perf_counter() - start


def _single_thread(fn: Callable[[Chain], FloatArray]) -> Callable[[Chain], FloatArray]:
    def run(c: Chain) -> FloatArray:
        saved = black.PARALLEL_MIN
        black.PARALLEL_MIN = 1 << 62
        try:
            return fn(c)
        finally:
            black.PARALLEL_MIN = saved

    return run


def _errors(solved: FloatArray, c: Chain) -> tuple[float, int]:
    bad = ~np.isfinite(solved) | (np.abs(solved - c.vol) > 1e-6)
    good = ~bad
    return float(np.max(np.abs(solved[good] - c.vol[good]), initial=0.0)), int(bad.sum())


def bench(sizes: tuple[int, ...], repeats: int, with_pvv: bool) -> None:
    rng = np.random.default_rng(7)
    runners: dict[str, Callable[[Chain], FloatArray]] = {
        "vixmon": run_vixmon,
        "vixmon 1 thread": _single_thread(run_vixmon),
    }
    if with_pvv:
        runners["py_vollib_vectorized"] = run_pvv
    black.warm_up()
    small = spx_chain(64, rng)
    for fn in runners.values():
        fn(small)
        fn(vix_chain(64, rng))
    print(f"cores: {os.cpu_count()}, backend: {black.backend()}, repeats: {repeats} (median)")
    head = f"{'model':<18}{'N':>10}" + "".join(f"{n + ' ms':>24}" for n in runners)
    head += f"{'M opt/s':>10}{'x pvv':>8}"
    print(head)
    for make in (spx_chain, vix_chain):
        for n in sizes:
            c = make(n, rng)
            times: dict[str, list[float]] = {name: [] for name in runners}
            names = list(runners)
            for r in range(max(1, repeats if n < 500_000 else repeats // 2 + 1)):
                for name in names if r % 2 == 0 else names[::-1]:
                    times[name].append(_time(runners[name], c))
            med = {name: statistics.median(v) for name, v in times.items()}
            row = f"{c.model:<18}{n:>10,}" + "".join(f"{med[nm] * 1e3:>24.2f}" for nm in names)
            row += f"{n / med['vixmon'] / 1e6:>10.2f}"
            if with_pvv:
                row += f"{med['py_vollib_vectorized'] / med['vixmon']:>8.1f}"
            print(row)
        _accuracy(make(20_000, rng), runners)


def _accuracy(c: Chain, runners: dict[str, Callable[[Chain], FloatArray]]) -> None:
    for name in ("vixmon", "py_vollib_vectorized"):
        if name in runners:
            err, failed = _errors(runners[name](c), c)
            print(f"  {c.model} N=20,000 {name}: max |IV error| {err:.1e}, unsolved {failed}")


def chain_30k(repeats: int) -> None:
    """Time the real SPX chain size: 30,000 contracts, IV + Greeks, all cores; cold, and
    seeded with vols 0.1% off (what the engine's previous tick provides)."""
    c = spx_chain(30_000, np.random.default_rng(30))
    seed = c.vol * (1.0 + 1e-3 * np.random.default_rng(3).standard_normal(c.vol.size))

    def seeded(ch: Chain) -> FloatArray:
        vol, _, _ = black.implied_vol_and_greeks(
            ch.cp, ch.forward, ch.strike, ch.t, ch.df, ch.premium, tick=TICK,
            carry=ch.rate - ch.dividend, spot_based=True, guess=seed,
        )  # fmt: skip
        return vol

    for name, fn in (("cold", run_vixmon), ("seeded", seeded)):
        fn(c)
        times = [_time(fn, c) for _ in range(repeats * 4)]
        print(f"30,000-contract SPX chain, {name}: median {statistics.median(times) * 1e3:.2f} ms,"
              f" best {min(times) * 1e3:.2f} ms (IV + delta/gamma/vega/theta)")  # fmt: skip


def engine_chain() -> tuple[Universe, FloatArray, FloatArray, FloatArray, int]:
    """Return a real-shaped SPX universe: 50 SPXW expiries x 300 strikes x call/put + SPX."""
    now = settlement_ns("SPXW", dt.date(2026, 3, 9)) - 4 * 3600 * 10**9
    day, expiries = dt.date(2026, 3, 9), []
    while len(expiries) < 50:
        if is_business_day(day):
            expiries.append(day)
        day += dt.timedelta(days=1 if len(expiries) < 30 else 7)
    syms = ["SPX"]
    for expiry in expiries:
        width = 0.04 + 0.6 * np.sqrt((expiry - dt.date(2026, 3, 9)).days / 365 + 0.002)
        strikes = np.unique(np.round(5000 * np.exp(np.linspace(-width, width / 2, 300)) / 5) * 5)
        syms += [symbols.option_symbol("SPXW", expiry, r, k) for k in strikes for r in (1, -1)]
    u = Universe.build([symbols.parse(x) for x in syms])
    t = year_fraction(u.settle_ns, now)
    fwd = 5000.0 * np.exp(0.032 * t)
    z = np.log(np.maximum(u.strike, 1.0) / fwd) / np.sqrt(np.maximum(t, 1e-9))
    vol = np.clip(0.16 - 0.25 * z + 0.3 * z * z, 0.07, 2.0)
    premium = black.price(u.cp, fwd, u.strike, t, np.exp(-0.045 * t), vol)
    half = np.maximum(0.025, 0.01 * premium)
    bid, ask = np.maximum(premium - half, 0.0), premium + half
    bid[0] = ask[0] = np.nan
    last = np.full(len(u), np.nan)
    last[0] = 5000.0
    return u, bid, ask, last, now


def engine_tick(repeats: int) -> None:
    """Time valuation.value() on that universe: a cold tick, and one seeded by the last."""
    u, bid, ask, last, now = engine_chain()
    rates = RateCurve.flat(0.045)
    first = value(u, bid, ask, last, now, rates, 0.013)
    moved = 1.0 + 2e-4 * np.random.default_rng(1).standard_normal(len(u))
    cold, warm = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        value(u, bid * moved, ask * moved, last, now + 250_000_000, rates, 0.013)
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        value(u, bid * moved, ask * moved, last, now + 250_000_000, rates, 0.013, previous=first)
        warm.append(time.perf_counter() - start)
    n = len(u.option_pos)
    ok = int(np.sum(first.iv_reason == 0))
    print(f"engine tick, {n:,} SPXW options in 50 expiries ({ok:,} with a mid IV), bid+mid+ask "
          f"IVs, Greeks, forwards, smiles: cold {statistics.median(cold) * 1e3:.1f} ms, seeded "
          f"by the previous tick {statistics.median(warm) * 1e3:.1f} ms (median)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--no-pvv", action="store_true", help="skip py_vollib_vectorized")
    args = parser.parse_args()
    with_pvv = not args.no_pvv
    if with_pvv:
        try:
            import py_vollib_vectorized  # noqa: F401
        except ImportError as exc:
            print(f"py_vollib_vectorized unavailable ({exc}); pip install -e '.[bench]'")
            with_pvv = False
    warnings.simplefilter("ignore")
    chain_30k(args.repeats)
    engine_tick(args.repeats)
    bench(tuple(args.sizes), args.repeats, with_pvv)


if __name__ == "__main__":
    main()
