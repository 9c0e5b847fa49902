"""The compiled and the numpy forms of the per-leg pass agree (rtol 1e-12: they sum in another
order), on legs with unpriced and stale instruments and books without legs."""

from __future__ import annotations

import numpy as np
import pytest

from monitor import book_sums
from monitor.book_sums import Instruments, Legs

pytestmark = pytest.mark.skipif(not book_sums.HAVE_NUMBA, reason="numba is not installed")


def world(seed: int = 7) -> tuple[Instruments, Legs]:
    rng = np.random.default_rng(seed)
    n_i, n_books = 400, 60
    legs_per_book = rng.integers(0, 25, n_books)
    legs_per_book[[3, 17]] = 0  # books without legs
    book = np.repeat(np.arange(n_books), legs_per_book).astype(np.int64)
    n = len(book)
    # two to four structures a book, legs contiguous per structure
    struct = np.cumsum(np.r_[0, (np.diff(book) != 0) | (rng.random(n - 1) < 0.3)]).astype(np.int64)
    mark = rng.uniform(0.05, 80.0, n_i)
    mark[rng.random(n_i) < 0.05] = np.nan
    greek = [rng.normal(0, 50, n_i) for _ in range(4)]
    greek[2][rng.random(n_i) < 0.03] = np.inf
    reason = np.where(np.isnan(mark), 1, np.where(~np.isfinite(greek[2]), 4, 0)).astype(np.int8)
    inst = Instruments(
        mark, rng.integers(0, 4, n_i).astype(np.int8), rng.integers(0, 10**18, n_i),
        mark - 0.05, mark + 0.05, *greek, reason, np.isnan(mark) | (rng.random(n_i) < 0.1),
    )  # fmt: skip
    counts = np.bincount(book, minlength=n_books)
    with_legs = np.flatnonzero(counts)
    legs = Legs(
        rng.integers(0, n_i, n), rng.choice([-400.0, -100.0, 100.0, 200.0], n), struct, book,
        rng.random(n) < 0.6, int(struct[-1]) + 1, n_books,
        (np.cumsum(counts) - counts)[with_legs], with_legs,
    )  # fmt: skip
    return inst, legs


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_the_compiled_pass_agrees_with_the_numpy_one(seed: int) -> None:
    inst, legs = world(seed)
    compiled, reference = book_sums.leg_sums(inst, legs), book_sums.numpy_sums(inst, legs)
    for name, got, want in zip(LEG_FIELDS, compiled, reference, strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape, name
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9, err_msg=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)


def test_book_sums_skip_unpriced_legs_and_structure_sums_do_not() -> None:
    inst, legs = world()
    sums = book_sums.leg_sums(inst, legs)
    unpriced = sums.reason != 0
    assert unpriced.any() and np.isfinite(sums.book_vega_usd).all()
    assert np.isnan(sums.struct_value_usd[np.unique(legs.struct[np.isnan(sums.mid)])]).all()
    assert sums.book_unpriced.sum() == unpriced.sum()
    assert (sums.book_value_usd[[3, 17]] == 0).all()


LEG_FIELDS = book_sums.LegSums._fields
