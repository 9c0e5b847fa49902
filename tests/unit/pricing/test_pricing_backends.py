"""The numba kernels and the numpy fallback agree to a stated tolerance, on any CPU.

They are not bit-identical and need not be: numpy's exp and log are its own (SIMD code chosen
per CPU at run time), the compiled kernels use libm's and their own vectorizable forms, each
within ~2 ulps of the exact value. What the two backends promise each other:

- the same reason code for every quote;
- implied vols within ``VOL_ATOL`` (absolute, per unit of vol);
- premiums and Greeks within ``RTOL`` relative (plus ``ATOL`` absolute for values near zero).

The relative tolerance is wider than a few ulps because a deep out-of-the-money premium is an
ill-conditioned function of its inputs: it scales like exp(-d1^2 / 2), so one ulp of
difference in ln(F/K) moves it by ~d1^2 ulps (100-300 ulps, ~3e-14, at d1 ~ 8-9).
"""

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

VOL_ATOL = 1e-12
RTOL = 1e-12
ATOL = 1e-12

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


def assert_values_agree(numpy_side: np.ndarray, numba_side: np.ndarray) -> None:
    """Premiums and Greeks: within RTOL relative or ATOL absolute, NaN exactly where NaN."""
    np.testing.assert_allclose(numpy_side, numba_side, rtol=RTOL, atol=ATOL)


def assert_vols_agree(numpy_side: np.ndarray, numba_side: np.ndarray) -> None:
    np.testing.assert_allclose(numpy_side, numba_side, rtol=0.0, atol=VOL_ATOL)


def test_numpy_dispatch_is_limited_as_the_environment_asks() -> None:
    # test_pricing_cpu_dispatch.py reruns this module with NPY_DISABLE_CPU_FEATURES set; this
    # proves numpy read it (it ignores names it does not know without failing).
    from numpy._core._multiarray_umath import __cpu_features__

    for name in os.environ.get("NPY_DISABLE_CPU_FEATURES", "").replace(",", " ").split():
        assert __cpu_features__.get(name) is False, name


@compiled
def test_backend_is_numba_when_numba_is_available() -> None:
    assert black.backend() == "numba"


@compiled
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_numpy_and_numba_implied_vols_agree(chain: dict[str, np.ndarray], warm: bool) -> None:
    c = chain
    guess = c["vol"] * 1.01 if warm else np.full(c["cp"].size, np.nan)
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"], c["p"], 0.05, guess)
    vol_np, reason_np = vec.iv_v(*args, table())
    vol_nb = np.empty(c["cp"].size)
    reason_nb = np.empty(c["cp"].size, dtype=np.int8)
    batch.iv_kernel(*args, table(), vol_nb, reason_nb)
    np.testing.assert_array_equal(reason_np, reason_nb)
    assert_vols_agree(vol_np, vol_nb)


@compiled
def test_numpy_and_numba_fused_solves_agree(chain: dict[str, np.ndarray]) -> None:
    c = chain
    n = c["cp"].size
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"], c["p"], 0.05, np.full(n, np.nan))
    vol_np, reason_np, rows_np = vec.iv_greeks_v(*args, table(), c["carry"], c["spot"])
    vol, reason, rows = np.empty(n), np.empty(n, dtype=np.int8), [np.empty(n) for _ in range(6)]
    batch.iv_greeks_kernel(*args, table(), c["carry"], c["spot"], vol, reason, *rows)
    np.testing.assert_array_equal(reason_np, reason)
    assert_vols_agree(vol_np, vol)
    assert_values_agree(rows_np, np.array(rows))


@compiled
def test_numpy_and_numba_prices_agree(chain: dict[str, np.ndarray]) -> None:
    c = chain
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"], c["vol"])
    out = np.empty(c["cp"].size)
    nb.price_kernel(*args, out)
    assert_values_agree(vec.price_v(*args), out)


@compiled
def test_numpy_and_numba_greeks_agree(chain: dict[str, np.ndarray]) -> None:
    c = chain
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"], c["vol"], c["carry"], c["spot"])
    rows = [np.empty(c["cp"].size) for _ in range(6)]
    nb.greeks_kernel(*args, *rows)
    assert_values_agree(vec.greeks_v(*args), np.array(rows))


def test_fused_solve_equals_solve_then_greeks(chain: dict[str, np.ndarray]) -> None:
    c = chain
    args = (c["cp"], c["f"], c["k"], c["t"], c["df"])
    vol, reason, g = black.implied_vol_and_greeks(
        *args, c["p"], carry=c["carry"], spot_based=c["spot"]
    )
    vol2, reason2 = black.implied_vol(*args, c["p"])
    g2 = black.greeks(*args, vol2, carry=c["carry"], spot_based=c["spot"])
    np.testing.assert_array_equal(reason, reason2)
    assert_vols_agree(vol, vol2)
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
    whole, reason = black.implied_vol(*args)
    parts = [black.implied_vol(*(a[i : i + 1000] for a in args))
             for i in range(0, c["cp"].size, 1000)]  # fmt: skip
    np.testing.assert_array_equal(reason, np.concatenate([r for _, r in parts]))
    assert_vols_agree(whole, np.concatenate([v for v, _ in parts]))


def test_environment_variable_selects_the_numpy_backend() -> None:
    env = {**os.environ, "VIXMON_PRICING_BACKEND": "numpy"}
    code = "from monitor.pricing import black; print(black.backend())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "numpy"
