"""Vectorized conditions and sparse emission: at, just below and just above a threshold."""

from __future__ import annotations

import numpy as np

from monitor.rules import codes as C

EPS = 1e-9


def test_levels_above_breach_at_the_threshold_hold_in_the_band_clear_below_it() -> None:
    x = np.array([1.5, 1.5 + EPS, 1.5 - EPS, 1.4 + EPS, 1.4 - EPS])
    assert C.levels_above(x, 1.5, 1.4).tolist() == [C.BREACH, C.BREACH, C.HOLD, C.HOLD, C.CLEAR]


def test_levels_below_breach_at_the_threshold_hold_in_the_band_clear_above_it() -> None:
    x = np.array([1.5, 1.5 - EPS, 1.5 + EPS, 1.6 - EPS, 1.6 + EPS])
    assert C.levels_below(x, 1.5, 1.6).tolist() == [C.BREACH, C.BREACH, C.HOLD, C.HOLD, C.CLEAR]


def test_nan_or_flagged_inputs_are_unknown_never_clear() -> None:
    x = np.array([np.nan, 0.0, 9.0])
    flagged = np.array([False, True, True])
    assert C.levels_above(x, 1.0, 0.5, flagged).tolist() == [C.UNKNOWN] * 3


def test_select_emits_only_non_clear_keys_and_the_ones_live_last_cycle() -> None:
    layout = C.Layout.of("r", ["b"] * 4, ["a", "b", "c", "d"])
    codes = np.array([C.CLEAR, C.BREACH, C.CLEAR, C.UNKNOWN], np.int8)
    live = {"r": frozenset({"r|b|c"})}
    assert C.select(codes, layout, live, "r", full=False).tolist() == [1, 2, 3]


def test_select_emits_every_key_on_a_full_cycle() -> None:
    layout = C.Layout.of("r", ["b"] * 3, ["a", "b", "c"])
    codes = np.zeros(3, np.int8)
    assert C.select(codes, layout, {}, "r", full=True).tolist() == [0, 1, 2]


def test_layout_cache_rebuilds_when_the_index_or_config_object_changes() -> None:
    cache, built = C.LayoutCache(), []
    index_a, index_b, cfg = object(), object(), object()

    def build() -> int:
        built.append(1)
        return len(built)

    assert cache.get("x", index_a, cfg, build) == 1
    assert cache.get("x", index_a, cfg, build) == 1
    assert cache.get("x", index_b, cfg, build) == 2
