"""exp and log in plain arithmetic: within 2 ulps of libm, libm's at every special value, and the
same bits in every form (scalar, block rows, numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.pricing import _elementary as el
from monitor.pricing._jit import HAVE_NUMBA

EPS = 2.220446049250313e-16
SPECIAL_EXP = [math.inf, -math.inf, math.nan, -708.5, 709.5, -800.0, 1000.0]
SPECIAL_LOG = [0.0, -1.0, math.inf, math.nan, 5e-324, 1e-310, 2.2250738585072014e-308, 1.0]


@pytest.fixture(scope="module")
def exponents() -> np.ndarray:
    rng = np.random.default_rng(3)
    ends = [-708.0, 709.0, 0.0, -0.0]
    return np.concatenate(
        [rng.uniform(-708.0, 709.0, 50_000), rng.uniform(-4.0, 4.0, 50_000), ends]
    )


@pytest.fixture(scope="module")
def positives() -> np.ndarray:
    rng = np.random.default_rng(4)
    return np.concatenate(
        [np.exp(rng.uniform(-708.0, 709.0, 50_000)), rng.uniform(0.25, 4.0, 50_000)]
    )


def test_exp_is_within_one_ulp_of_libm(exponents: np.ndarray) -> None:
    assert np.max(np.abs(el.exp_v(exponents) / np.exp(exponents) - 1.0)) <= 1.5 * EPS


def test_log_is_within_one_ulp_of_libm_in_absolute_terms(positives: np.ndarray) -> None:
    ref = np.log(positives)
    err = np.abs(el.log_v(positives) - ref)
    assert np.all(err <= 2.0 * EPS * np.maximum(np.abs(ref), 1.0))


def test_special_values_come_from_libm() -> None:
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(el.exp_v(np.array(SPECIAL_EXP)), np.exp(SPECIAL_EXP))
        np.testing.assert_array_equal(el.log_v(np.array(SPECIAL_LOG)), np.log(SPECIAL_LOG))


@pytest.mark.skipif(not HAVE_NUMBA, reason="plain-Python math raises on log(0)")
def test_scalar_and_numpy_forms_agree_bit_for_bit(
    exponents: np.ndarray, positives: np.ndarray
) -> None:
    a = np.concatenate([exponents[::50], SPECIAL_EXP])
    y = np.concatenate([positives[::50], SPECIAL_LOG])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(np.array([el.exp(v) for v in a]), el.exp_v(a))
        np.testing.assert_array_equal(np.array([el.log(v) for v in y]), el.log_v(y))


@pytest.mark.skipif(not HAVE_NUMBA, reason="the row forms are compiled kernels")
def test_row_forms_agree_with_numpy_bit_for_bit(
    exponents: np.ndarray, positives: np.ndarray
) -> None:
    n = 256
    w = np.zeros((6, n))
    w[0, : len(SPECIAL_EXP)] = SPECIAL_EXP
    w[0, len(SPECIAL_EXP) :] = exponents[: n - len(SPECIAL_EXP)]
    w[3, : len(SPECIAL_LOG)] = SPECIAL_LOG
    w[3, len(SPECIAL_LOG) :] = positives[: n - len(SPECIAL_LOG)]
    el.exp_rows(n, w, 0, 1, 2)
    el.log_rows(n, w, 3, 4, 5)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(w[1], el.exp_v(w[0]))
        np.testing.assert_array_equal(w[4], el.log_v(w[3]))
