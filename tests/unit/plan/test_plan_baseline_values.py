"""The baselines per book of a portfolio index's names (``VegaBaselines.values``, memoized per
name list) always show the last ``set``, ``load`` and ``fill``; ``fill`` takes only books with
none yet, from finite valid net vega."""

from __future__ import annotations

import math

import numpy as np

from monitor.plan.baseline import VegaBaseline, VegaBaselines

NOW_NS = 1_800_000_000 * 1_000_000_000


def test_values_follow_every_set_and_load_after_a_first_read() -> None:
    names = ["a", "b", "c"]
    v = VegaBaselines()
    assert np.isnan(v.values(names)).all()
    v.set("b", -120.0, "command", NOW_NS)
    np.testing.assert_array_equal(v.values(names), [math.nan, -120.0, math.nan])
    v.load({"a": VegaBaseline(value_usd=7.0, source="plan", set_ns=NOW_NS)})
    np.testing.assert_array_equal(v.values(names), [7.0, -120.0, math.nan])
    out = v.values(names)
    out[:] = 0.0  # a caller's copy: the next read is unchanged
    np.testing.assert_array_equal(v.values(names), [7.0, -120.0, math.nan])
    np.testing.assert_array_equal(v.values(["c", "a"]), [math.nan, 7.0])  # another list


def test_fill_takes_only_missing_books_with_a_finite_valid_net_vega() -> None:
    names = ["a", "b", "c", "d", "a"]  # "a" listed twice: its first valid entry wins
    v = VegaBaselines()
    v.set("b", 50.0, "command", NOW_NS)
    v.values(names)
    vega = np.array([10.0, 20.0, math.inf, 40.0, 99.0])
    valid = np.array([True, True, True, False, True])
    v.fill(names, vega, valid, NOW_NS + 1)
    np.testing.assert_array_equal(v.values(names), [10.0, 50.0, math.nan, math.nan, 10.0])
    got = v.get("a")
    assert got is not None and got.source == "first_valid_cycle" and got.set_ns == NOW_NS + 1
    assert v.drain().keys() == {"a", "b"}
    v.fill(names, vega * 2, np.ones(5, np.bool_), NOW_NS + 2)  # "a" and "b" keep theirs
    np.testing.assert_array_equal(v.values(names), [10.0, 50.0, math.nan, 80.0, 10.0])
