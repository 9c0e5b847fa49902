"""Benchmark: implied vol + delta/gamma/vega/theta throughput, vixmon vs py_vollib_vectorized.

Run ``.venv/bin/pip install -e '.[bench]'`` once, then ``.venv/bin/python bench/greeks.py``
(``--sizes 2000 20000``, ``--repeats 7``, ``--no-pvv``, ``--no-prange``, ``--skip-engine``).

Both libraries get the same chains: SPX-like (Black-Scholes-Merton with a rate and a dividend
yield; vixmon prices it as Black-76 on the forward, the same model) and VIX-like (Black-76 on a
VX future). Every option is a valid quote with at least one tick (0.05) of time value, so
nothing is skipped cheaply. Everything is compiled and warmed up first.

vixmon runs three ways: "1 thread" (``black.THREADS = 1``), "threads" (the default: CHUNK-sized
slices handed out to a thread per core, the caller's included) and "prange" (the same block
kernel under numba's ``parallel=True``, compiled here for the comparison only).

Every figure is the median of interleaved repeats (the variants of one row alternate, in
alternating order), wall clock, with the 1-minute load average next to it. On a shared machine
compare ratios within a row, not figures across runs. Accuracy lines give the max |IV error|
against the generating vol over the quotes each library solved, and how many it failed.
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
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from monitor import symbols
from monitor.pricing import black
from monitor.pricing._jit import HAVE_NUMBA
from monitor.pricing._table import table
from monitor.pricing.calendar import is_business_day
from monitor.pricing.expiry import settlement_ns, year_fraction
from monitor.pricing.rates import RateCurve
from monitor.pricing.universe import Universe
from monitor.pricing.valuation import Valuation, value

FloatArray = NDArray[np.float64]
Runner = Callable[[], object]
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


@dataclass(frozen=True)
class Ready:
    """A chain's Black-76 inputs derived once and contiguous, as the engine holds them."""

    cp: FloatArray
    forward: FloatArray
    strike: FloatArray
    t: FloatArray
    df: FloatArray
    premium: FloatArray
    carry: float


def ready(c: Chain) -> Ready:
    """Return c's forwards and discount factors computed, every array contiguous."""
    cp, f, k, t, df, p = (np.ascontiguousarray(a) for a in (c.cp, c.forward, c.strike, c.t,
                                                            c.df, c.premium))  # fmt: skip
    return Ready(cp, f, k, t, df, p, c.rate - c.dividend)


def run_ready(r: Ready, guess: FloatArray | None = None) -> FloatArray:
    """run_vixmon on inputs that are ready: no forward/df derivation, no copies in the call."""
    vol, _, _ = black.implied_vol_and_greeks(
        r.cp, r.forward, r.strike, r.t, r.df, r.premium, tick=TICK, carry=r.carry,
        spot_based=True, guess=guess,
    )  # fmt: skip
    return vol


def run_vixmon(c: Chain, guess: FloatArray | None = None) -> FloatArray:
    """IV, then delta/gamma/vega/theta at it, in vixmon's fused call."""
    spot_based = c.model.startswith("SPX")
    carry = c.rate - c.dividend if spot_based else 0.0
    vol, _, _ = black.implied_vol_and_greeks(
        c.cp, c.forward, c.strike, c.t, c.df, c.premium, tick=TICK, carry=carry,
        spot_based=spot_based, guess=guess,
    )  # fmt: skip
    return vol


def _prange_kernel() -> Callable[..., None] | None:
    """Return the block kernel under numba's parallel=True prange (None without numba)."""
    if not HAVE_NUMBA:
        return None
    # OpenMP's workers spin for a while after each parallel call by default. Here the two vCPUs
    # share one core (SMT siblings), so the spinning slowed whichever variant ran next in the
    # interleaved loop by up to ~25%. Read when numba first loads its OpenMP layer, below.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numba

    from monitor.pricing import _batch

    block = _batch.BLOCK
    one_block = cast(Callable[..., None], _batch.iv_greeks_block)
    new_work = _batch.new_work

    # Not cached: a cache here would not notice edits to the kernels it inlines.
    @numba.njit(parallel=True, nogil=True, error_model="numpy")
    def kernel(*args: Any) -> None:
        n = args[0].size
        for b in numba.prange((n + block - 1) // block):
            lo = b * block
            one_block(*args, lo, min(lo + block, n), new_work())

    return cast(Callable[..., None], kernel)


def run_vixmon_prange(
    c: Chain, kernel: Callable[..., None], guess: FloatArray | None = None
) -> FloatArray:
    """The same call as run_vixmon, but the kernel parallelised by numba's prange."""
    spot_based = c.model.startswith("SPX")
    carry = c.rate - c.dividend if spot_based else 0.0
    g = np.nan if guess is None else guess
    _, (cp, f, k, t, d, p, b, gg) = black._flat(
        c.cp, c.forward, c.strike, c.t, c.df, c.premium, carry, g
    )
    spot = black._spot(spot_based, cp.shape)
    n = cp.size
    vol, reason = np.empty(n), np.empty(n, dtype=np.int8)
    rows = [np.empty(n) for _ in range(6)]
    kernel(cp, f, k, t, d, p, TICK, gg, table(), b, spot, vol, reason, *rows)
    return vol


def run_pvv(c: Chain) -> FloatArray:
    """IV, then delta/gamma/vega/theta (get_all_greeks: their fastest path, rho included)."""
    from py_vollib_vectorized import (  # type: ignore[import-untyped]
        get_all_greeks,
        vectorized_implied_volatility,
    )
    from py_vollib_vectorized.implied_volatility import (  # type: ignore[import-untyped]
        vectorized_implied_volatility_black,
    )

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


def pvv_runner(c: Chain) -> Runner:
    """Return a runner of py_vollib_vectorized on chain c."""
    return lambda: run_pvv(c)


def single_thread(fn: Runner) -> Runner:
    """Return fn run with black.THREADS = 1."""

    def run() -> object:
        saved = black.THREADS
        black.THREADS = 1
        try:
            return fn()
        finally:
            black.THREADS = saved

    return run


@dataclass(frozen=True)
class Timings:
    """Wall times (s) of interleaved runners, repeat by repeat."""

    times: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def ratio(self, slow: str, fast: str) -> float:
        """Return the median over repeats of slow/fast: each pair ran back to back, so a burst
        of load from other jobs hits both sides of a pair alike."""
        return statistics.median(
            a / b for a, b in zip(self.times[slow], self.times[fast], strict=True)
        )


def interleaved(runners: dict[str, Runner], repeats: int, budget_s: float = 0.5) -> Timings:
    """Run every runner ``repeats`` times or more, in alternating order: enough repeats for the
    fastest to fill ``budget_s``, at most 201."""
    first = {}
    for name, fn in runners.items():
        fn()
        start = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - start
    repeats = max(repeats, min(201, int(budget_s / max(min(first.values()), 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
    return Timings(times)


def load() -> str:
    """Return the 1-minute load average, formatted."""
    return f"{os.getloadavg()[0]:.1f}"


def _vixmon_runners(
    c: Chain, prange: Callable[..., None] | None, guess: FloatArray | None = None
) -> dict[str, Runner]:
    runners: dict[str, Runner] = {
        "1 thread": single_thread(lambda: run_vixmon(c, guess)),
        "threads": lambda: run_vixmon(c, guess),
    }
    if prange is not None:
        runners["prange"] = lambda: run_vixmon_prange(c, prange, guess)
    return runners


def _errors(solved: FloatArray, c: Chain) -> tuple[float, int]:
    bad = ~np.isfinite(solved) | (np.abs(solved - c.vol) > 1e-6)
    good = ~bad
    return float(np.max(np.abs(solved[good] - c.vol[good]), initial=0.0)), int(bad.sum())


def throughput(
    sizes: tuple[int, ...], repeats: int, with_pvv: bool, prange: Callable[..., None] | None
) -> None:
    """Print the vixmon / py_vollib_vectorized table for each model and size."""
    rng = np.random.default_rng(7)
    cols = ["1 thread", "threads"] + (["prange"] if prange is not None else [])
    cols += ["pvv"] if with_pvv else []
    head = f"{'model':<18}{'N':>10}" + "".join(f"{n + ' ms':>13}" for n in cols)
    if with_pvv:
        head += f"{'x pvv 1 thr':>13}{'x pvv thr':>11}"
    print(head + f"{'load':>6}")
    for make in (spx_chain, vix_chain):
        for n in sizes:
            c = make(n, rng)
            runners = _vixmon_runners(c, prange)
            if with_pvv:
                runners["pvv"] = pvv_runner(c)
            t = interleaved(runners, repeats if n < 500_000 else repeats // 2 + 1)
            row = f"{c.model:<18}{n:>10,}" + "".join(f"{t.median(nm) * 1e3:>13.2f}" for nm in cols)
            if with_pvv:
                row += f"{t.ratio('pvv', '1 thread'):>12.1f}x{t.ratio('pvv', 'threads'):>10.1f}x"
            print(row + f"{load():>6}", flush=True)
        accuracy(make(20_000, rng), with_pvv)


def accuracy(c: Chain, with_pvv: bool) -> None:
    """Print max |IV error| and unsolved counts on a fresh 20,000-quote chain."""
    results = {"vixmon": run_vixmon(c)}
    if with_pvv:
        results["py_vollib_vectorized"] = run_pvv(c)
    for name, solved in results.items():
        err, failed = _errors(solved, c)
        print(f"  {c.model} N=20,000 {name}: max |IV error| {err:.1e}, unsolved {failed}")


def chain_30k(repeats: int, prange: Callable[..., None] | None) -> None:
    """Time the real SPX chain size: 30,000 contracts, IV + Greeks; cold, and seeded with vols
    0.1% off (a generous stand-in for the previous tick's) and 0.001% off (a quote that barely
    moved); and cold with the inputs ready (the other rows derive F and df from spot in the
    call, and copy the chain's strided arrays, as the throughput table does for both libraries).
    All variants interleaved."""
    c = spx_chain(30_000, np.random.default_rng(30))
    noise = np.random.default_rng(3).standard_normal(c.vol.size)
    starts = {"cold": None, "seeded 0.1%": c.vol * (1 + 1e-3 * noise),
              "seeded 0.001%": c.vol * (1 + 1e-5 * noise)}  # fmt: skip
    runners = {
        f"{start}|{mode}": fn
        for start, guess in starts.items()
        for mode, fn in _vixmon_runners(c, prange, guess).items()
    }
    r = ready(c)
    runners["cold, inputs ready|1 thread"] = single_thread(lambda: run_ready(r))
    runners["cold, inputs ready|threads"] = lambda: run_ready(r)
    t = interleaved(runners, repeats * 3)
    print("30,000-contract SPX-like chain, IV + delta/gamma/vega/theta (median ms):")
    for start in [*starts, "cold, inputs ready"]:
        cells = ", ".join(
            f"{key.split('|')[1]} {t.median(key) * 1e3:.2f}"
            for key in runners
            if key.startswith(start + "|")
        )
        print(f"  {start:<14} {cells}")
    print("  (inputs ready: forwards and discount factors computed beforehand, arrays contiguous)")
    print(f"  (load {load()})", flush=True)


def engine_chain() -> tuple[Universe, FloatArray, FloatArray, FloatArray, int]:
    """Return a real-shaped SPX universe: 50 SPXW expiries x 300 strikes x call/put + SPX."""
    now = settlement_ns("SPXW", dt.date(2026, 3, 9)) - 4 * 3600 * 10**9
    day, expiries = dt.date(2026, 3, 9), list[dt.date]()
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
    """Time valuation.value() on that universe: cold, seeded by the previous tick (quotes moved
    by ~2e-4 and the clock by 250 ms), and a tick where nothing changed (reused). Interleaved."""
    u, bid, ask, last, now = engine_chain()
    rates = RateCurve.flat(0.045)
    first = value(u, bid, ask, last, now, rates, 0.013)
    moved = 1.0 + 2e-4 * np.random.default_rng(1).standard_normal(len(u))
    b2, a2, later = bid * moved, ask * moved, now + 250_000_000

    def tick(previous: Valuation | None, b: FloatArray, a: FloatArray, at: int) -> Runner:
        return lambda: value(u, b, a, last, at, rates, 0.013, previous=previous)

    cases = {
        "cold": tick(None, b2, a2, later),
        "seeded": tick(first, b2, a2, later),
        "unchanged": tick(first, bid, ask, now),
    }
    runners: dict[str, Runner] = {}
    for name, fn in cases.items():
        runners[f"{name}|1 thread"] = single_thread(fn)
        runners[f"{name}|threads"] = fn
    t = interleaved(runners, repeats * 2)
    n, ok = len(u.option_pos), int(np.sum(first.iv_reason == 0))
    print(f"engine tick: value() on {n:,} SPXW options in 50 expiries ({ok:,} with a mid IV): "
          "bid+mid+ask IVs, Greeks, forwards, smiles (median ms):")  # fmt: skip
    for name in cases:
        print(f"  {name:<9} 1 thread {t.median(name + '|1 thread') * 1e3:.1f}, "
              f"threads {t.median(name + '|threads') * 1e3:.1f}")  # fmt: skip
    print(f"  (load {load()})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--no-pvv", action="store_true", help="skip py_vollib_vectorized")
    parser.add_argument("--no-prange", action="store_true", help="skip the prange variant")
    parser.add_argument("--skip-engine", action="store_true", help="skip the 30k and engine rows")
    args = parser.parse_args()
    with_pvv = not args.no_pvv
    if with_pvv:
        try:
            import py_vollib_vectorized  # noqa: F401
        except ImportError as exc:
            print(f"py_vollib_vectorized unavailable ({exc}); pip install -e '.[bench]'")
            with_pvv = False
    warnings.simplefilter("ignore")
    black.warm_up()
    prange = None if args.no_prange else _prange_kernel()
    cores = len(os.sched_getaffinity(0))
    print(f"cores: {cores}, backend: {black.backend()}, threads: {black.THREADS}, "
          f"repeats: {args.repeats} (median), load average: {load()}")  # fmt: skip
    if not args.skip_engine:
        chain_30k(args.repeats, prange)
        engine_tick(args.repeats)
    throughput(tuple(args.sizes), args.repeats, with_pvv, prange)


if __name__ == "__main__":
    main()
