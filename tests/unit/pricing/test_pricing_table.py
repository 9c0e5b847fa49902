"""The tabulated initial guess: close enough that one Householder step finishes the solve."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.pricing import _lbr, _table
from monitor.pricing._jit import HAVE_NUMBA
from monitor.pricing._lbr import normalised_vol, otm_black, refine_vol
from monitor.pricing._table import table, table_guess, table_guess_v


@pytest.fixture(scope="module")
def inside() -> dict[str, np.ndarray]:
    """Normalised quotes across the table's domain: s from 1e-4 to 6, |h| = |x|/s to 6, |x|
    below 7 (a strike 1/1000 of the forward)."""
    rng = np.random.default_rng(5)
    n = 50_000
    s = np.exp(rng.uniform(np.log(1e-4), np.log(6.0), n))
    x = -s * np.exp(rng.uniform(np.log(1e-3), np.log(6.0), n))
    s, x = s[x > -7.0], x[x > -7.0]
    ex = np.exp(0.5 * x)
    beta = otm_black(x, s, ex, 1.0 / ex)
    return {"s": s, "x": x, "ex": ex, "emx": 1.0 / ex, "beta": beta}


def test_the_guess_is_within_1e4_of_the_solution_inside_the_table(
    inside: dict[str, np.ndarray],
) -> None:
    q = inside
    guess = table_guess_v(q["beta"], q["x"], q["emx"], table())
    covered = np.isfinite(guess)
    assert covered.all()
    assert np.max(np.abs(guess[covered] / q["s"][covered] - 1.0)) < 1e-4


def test_one_step_from_the_guess_is_as_accurate_as_lbr_s_full_solve(
    inside: dict[str, np.ndarray],
) -> None:
    q = inside
    guess = table_guess_v(q["beta"], q["x"], q["emx"], table())
    ok = np.isfinite(guess)
    args = (q["beta"][ok], q["x"][ok], q["ex"][ok], q["emx"][ok])
    s = q["s"][ok]
    from_table = np.abs(refine_vol(*args, guess[ok]) - s)
    from_lbr = np.abs(normalised_vol(*args) - s)
    # Both within rounding of the exact vol; the table's start is never the worse one.
    assert np.all(from_table <= from_lbr + 1e-14 * s)


@pytest.mark.parametrize(
    ("beta", "x"),
    [(0.1, 0.0), (0.1, -1e-10), (1e-3, -20.0), (1e-300, -1.0), (np.exp(-0.5), -1.0)],
    ids=["at-the-money", "tiny-x", "huge-x", "deep-wing", "at-the-bound"],
)
def test_quotes_off_the_table_get_nan_so_the_solver_falls_back(beta: float, x: float) -> None:
    emx = float(np.exp(-0.5 * x))
    assert np.isnan(table_guess_v(np.array([beta]), np.array([x]), np.array([emx]), table())[0])
    if HAVE_NUMBA:  # plain-Python math raises where the compiled scalar gives NaN
        assert np.isnan(table_guess(beta, x, emx, table()))


@pytest.mark.skipif(not HAVE_NUMBA, reason="compares the compiled guess with numpy")
def test_compiled_and_numpy_guesses_agree(inside: dict[str, np.ndarray]) -> None:
    q = inside
    beta, x, emx = q["beta"][:2000], q["x"][:2000], q["emx"][:2000]
    scalar = [table_guess(b, xx, e, table()) for b, xx, e in zip(beta, x, emx, strict=True)]
    # Not bit-identical: the compiled guess uses a short series for exp, numpy its own exp.
    np.testing.assert_allclose(table_guess_v(beta, x, emx, table()), np.array(scalar), rtol=1e-12)


def test_the_table_is_built_once_per_process() -> None:
    assert table() is table()
    assert table().shape == (_table.N_U, _table.N_V)
    assert table().flags.c_contiguous


def test_lbr_s_split_matches_the_tabulated_objective_choice() -> None:
    # Below s_c = sqrt(-2x) the log objective, above it the plain or upper one.
    x, ex = -0.5, float(np.exp(-0.25))
    assert _lbr.objective_branch(0.01, x, ex, 0.9) == _lbr.LOWER
    assert _lbr.objective_branch(0.3, x, ex, 1.1) == _lbr.MIDDLE
    assert _lbr.objective_branch(0.7, x, ex, 3.0) == _lbr.UPPER
