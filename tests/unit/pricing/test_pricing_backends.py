"""The numba kernels and the numpy fallback must give identical results, bit for bit."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from pricing_reference import MINUTE

from monitor.pricing import _batch as batch
from monitor.pricing import _kernels as nb
from monitor.pricing import _kernels_vec as vec
from monitor.pricing import black
from monitor.pricing._jit import HAVE_NUMBA
from monitor.pricing._table import table

compiled = pytest.mark.skipif(not HAVE_NUMBA, reason="compares compiled kernels with numpy")


@pytest.fixture(scope="module")
def chain() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    n = 20_000
    t = np.exp(rng.uniform(np.log(MINUTE), np.log(3.0), n))
    f = np.where(rng.random(n) < 0.5, 5000.0, 18.0)
    vol = np.exp(rng.uniform(np.log(0.04), np.log(2.5), n))
    k = f * np.exp(rng.normal(0.0, 3.0, n) * vol * np.sqrt(t))
    cp = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    df = np.exp(-0.04 * t)
    premium = black.price(cp, f, k, t, df, vol)
    # Every failure path too: no quote, expired, below intrinsic, above bound, bad input.
    premium[:40] = np.nan
    t[40:80] = -1.0
    premium[80:120] *= 0.5
    premium[120:160] = f[120:160] * 2
    k[160:200] = -5.0
    carry = rng.uniform(-0.01, 0.05, n)
    spot = rng.random(n) < 0.5
    return {"cp": cp, "f": f, "k": k, "t": t, "df": df, "vol": vol, "p": premium,
            "carry": carry, "spot": spot}  # fmt: skip


@compiled
def test_backend_is_numba_when_numba_is_available() -> None:
    assert black.backend() == "numba"


@compiled
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_numpy_and_numba_implied_vols_are_identical(
    chain: dict[str, np.ndarray], warm: bool
) -> None:
    c = chain
    guess = c["vol"] * 1.01 if warm else np.full(c["cp"].size, np.nan)
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"], c["p"], 0.05, guess)
    vol_np, reason_np = vec.iv_v(*args, table())
    vol_nb = np.empty(c["cp"].size)
    reason_nb = np.empty(c["cp"].size, dtype=np.int8)
    batch.iv_kernel(*args, table(), vol_nb, reason_nb)
    np.testing.assert_array_equal(reason_np, reason_nb)
    np.testing.assert_array_equal(vol_np, vol_nb)


@compiled
def test_numpy_and_numba_fused_solves_are_identical(chain: dict[str, np.ndarray]) -> None:
    c = chain
    n = c["cp"].size
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"], c["p"], 0.05, np.full(n, np.nan))
    vol_np, reason_np, rows_np = vec.iv_greeks_v(*args, table(), c["carry"], c["spot"])
    vol, reason, rows = np.empty(n), np.empty(n, dtype=np.int8), [np.empty(n) for _ in range(6)]
    batch.iv_greeks_kernel(*args, table(), c["carry"], c["spot"], vol, reason, *rows)
    np.testing.assert_array_equal(vol_np, vol)
    np.testing.assert_array_equal(reason_np, reason)
    np.testing.assert_array_equal(rows_np, np.array(rows))


@compiled
def test_numpy_and_numba_prices_are_identical(chain: dict[str, np.ndarray]) -> None:
    c = chain
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"], c["vol"])
    out = np.empty(c["cp"].size)
    nb.price_kernel(*args, out)
    np.testing.assert_array_equal(vec.price_v(*args), out)


@compiled
def test_numpy_and_numba_greeks_are_identical(chain: dict[str, np.ndarray]) -> None:
    c = chain
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"], c["vol"], c["carry"], c["spot"])
    rows = [np.empty(c["cp"].size) for _ in range(6)]
    nb.greeks_kernel(*args, *rows)
    np.testing.assert_array_equal(vec.greeks_v(*args), np.array(rows))


def test_fused_solve_equals_solve_then_greeks(chain: dict[str, np.ndarray]) -> None:
    c = chain
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"])
    vol, reason, g = black.implied_vol_and_greeks(
        *args, c["p"], carry=c["carry"], spot_based=c["spot"]
    )
    vol2, reason2 = black.implied_vol(*args, c["p"])
    g2 = black.greeks(*args, vol2, carry=c["carry"], spot_based=c["spot"])
    np.testing.assert_array_equal(vol, vol2)
    np.testing.assert_array_equal(reason, reason2)
    for name in ("price", "delta", "gamma", "vega", "theta", "rho"):
        np.testing.assert_allclose(getattr(g, name), getattr(g2, name), rtol=1e-9, atol=1e-12)


def test_warm_start_from_last_ticks_vols_finds_the_same_vols(
    chain: dict[str, np.ndarray],
) -> None:
    c = chain
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"], c["p"])
    cold, reason = black.implied_vol(*args)
    warm, reason_warm = black.implied_vol(*args, guess=cold * (1 + 2e-3))
    np.testing.assert_array_equal(reason, reason_warm)
    np.testing.assert_allclose(warm, cold, rtol=1e-12)


def test_a_wild_guess_falls_back_to_the_full_solve(chain: dict[str, np.ndarray]) -> None:
    c = chain
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"], c["p"])
    cold, _ = black.implied_vol(*args)
    wild, _ = black.implied_vol(*args, guess=np.full(c["cp"].size, 40.0))
    np.testing.assert_allclose(wild, cold, rtol=1e-12)


def test_large_calls_split_across_threads_give_the_same_answer(
    chain: dict[str, np.ndarray],
) -> None:
    c = chain
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"], c["p"])
    whole, _ = black.implied_vol(*args)
    pieces = np.concatenate([black.implied_vol(*(a[i : i + 1000] for a in args))[0]
                             for i in range(0, c["cp"].size, 1000)])  # fmt: skip
    np.testing.assert_array_equal(whole, pieces)


def test_environment_variable_selects_the_numpy_backend() -> None:
    env = {**os.environ, "VIXMON_PRICING_BACKEND": "numpy"}
    code = "from monitor.pricing import black; print(black.backend())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "numpy"
