"""The block kernels' exp and log in plain arithmetic: within 2 ulps of libm, and libm's own
result at every special value (overflow, underflow, zero, negative, subnormal, inf, NaN)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.pricing import _elementary as el
from monitor.pricing._jit import HAVE_NUMBA

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="the row forms serve compiled kernels")

EPS = 2.220446049250313e-16
SPECIAL_EXP = [math.inf, -math.inf, math.nan, -708.5, 709.5, -800.0, 1000.0]
SPECIAL_LOG = [0.0, -1.0, math.inf, math.nan, 5e-324, 1e-310, 2.2250738585072014e-308, 1.0]
N = 256


def _libm(fn: object, values: np.ndarray) -> np.ndarray:
    out = []
    for v in values:
        try:
            out.append(fn(v))  # type: ignore[operator]
        except (ValueError, OverflowError):  # Python's math raises where C's libm returns
            out.append(math.nan if v < 0 or v != v else (-math.inf if v == 0 else math.inf))
    return np.array(out)


def _rows(values: np.ndarray, form: str) -> np.ndarray:
    w = np.zeros((3, N))
    w[0, : values.size] = values
    (el.exp_rows if form == "exp" else el.log_rows)(values.size, w, 0, 1, 2)
    return w[1, : values.size].copy()


@pytest.fixture(scope="module")
def exponents() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.concatenate([rng.uniform(-708.0, 709.0, 120), rng.uniform(-4.0, 4.0, 120),
                           [-708.0, 709.0, 0.0, -0.0]])  # fmt: skip


@pytest.fixture(scope="module")
def positives() -> np.ndarray:
    rng = np.random.default_rng(4)
    return np.concatenate([np.exp(rng.uniform(-708.0, 709.0, 120)), rng.uniform(0.25, 4.0, 120)])


def test_exp_rows_are_within_two_ulps_of_libm(exponents: np.ndarray) -> None:
    ref = _libm(math.exp, exponents)
    assert np.max(np.abs(_rows(exponents, "exp") / ref - 1.0)) <= 2.0 * EPS


def test_log_rows_are_within_two_ulps_of_libm_in_absolute_terms(positives: np.ndarray) -> None:
    ref = _libm(math.log, positives)
    err = np.abs(_rows(positives, "log") - ref)
    assert np.all(err <= 2.0 * EPS * np.maximum(np.abs(ref), 1.0))


def test_special_values_come_from_libm() -> None:
    # Special values are exact (inf, 0, NaN, libm's subnormal result): equality is the spec.
    exp_special = np.array(SPECIAL_EXP)
    log_special = np.array(SPECIAL_LOG)
    np.testing.assert_array_equal(_rows(exp_special, "exp"), _libm(math.exp, exp_special))
    np.testing.assert_array_equal(_rows(log_special, "log"), _libm(math.log, log_special))
