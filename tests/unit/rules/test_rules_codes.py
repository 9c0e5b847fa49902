"""Vectorized conditions and sparse emission: at, just below and just above a threshold."""

from __future__ import annotations

import msgspec
import numpy as np

from monitor.rules import codes as C
from monitor.rules.base import Signal

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


LAYOUT = C.Layout.of("r", ["b"] * 4, ["a", "b", "c", "d"])


def sent(codes: list[int], at_ns: int) -> C.Emitted:
    return C.Emitted(LAYOUT, np.array(codes, np.int8), np.full(4, at_ns, np.int64))


def test_select_sends_every_key_whose_condition_changed() -> None:
    now = C.CLEAR, C.BREACH, C.CLEAR, C.UNKNOWN
    prev = sent([C.CLEAR, C.CLEAR, C.BREACH, C.BREACH], at_ns=0)
    picked = C.select(np.array(now, np.int8), LAYOUT, prev, now_ns=1, full=False)
    assert picked.tolist() == [1, 2, 3]  # 2 went back to clear: its alert must resolve


def test_select_skips_a_steady_condition_until_it_is_due_again() -> None:
    codes = np.array([C.BREACH] * 4, np.int8)
    prev = sent([C.BREACH] * 4, at_ns=0)
    assert C.select(codes, LAYOUT, prev, now_ns=C.RESEND_NS - 1, full=False).tolist() == []
    assert C.select(codes, LAYOUT, prev, now_ns=2 * C.RESEND_NS, full=False).tolist() == [
        0,
        1,
        2,
        3,
    ]


def test_select_sends_every_key_on_a_full_cycle() -> None:
    codes = np.zeros(4, np.int8)
    assert C.select(codes, LAYOUT, None, now_ns=0, full=True).tolist() == [0, 1, 2, 3]


def test_a_full_cycle_sends_the_keys_not_clear_and_the_clear_ones_the_machine_holds() -> None:
    codes = np.array([C.CLEAR, C.BREACH, C.CLEAR, C.UNKNOWN], np.int8)
    held = {"r|b|c", "r|b|d", "other|b|a"}  # c: a restored alert, now clear, must resolve
    assert C.select(codes, LAYOUT, None, now_ns=0, full=True, held=held).tolist() == [1, 2, 3]


def test_a_full_cycle_sends_no_clear_key_when_the_machine_holds_none() -> None:
    codes = np.array([C.CLEAR, C.HOLD, C.CLEAR, C.CLEAR], np.int8)
    assert C.select(codes, LAYOUT, None, now_ns=0, full=True, held=set()).tolist() == [1]


def test_held_keys_only_matter_on_a_full_cycle() -> None:
    codes = np.zeros(4, np.int8)
    prev = sent([C.CLEAR] * 4, at_ns=0)
    assert C.select(codes, LAYOUT, prev, now_ns=1, full=False, held={"r|b|a"}).tolist() == []


def test_sent_state_follows_its_keys_to_a_rebuilt_layout() -> None:
    prev = sent([C.CLEAR, C.BREACH, C.CLEAR, C.HOLD], at_ns=7)
    moved = C.Layout.of("r", ["b"] * 3, ["d", "x", "b"])
    got = prev.aligned(moved)
    assert got.codes.tolist() == [C.HOLD, C.CLEAR, C.BREACH] and got.sent_ns.tolist() == [7, 0, 7]


def test_layout_cache_rebuilds_when_the_index_or_config_object_changes() -> None:
    cache, built = C.LayoutCache(), []
    index_a, index_b, cfg = object(), object(), object()

    def build() -> int:
        built.append(1)
        return len(built)

    assert cache.get("x", index_a, cfg, build) == 1
    assert cache.get("x", index_a, cfg, build) == 1
    assert cache.get("x", index_b, cfg, build) == 2


def test_a_lazy_signal_keeps_a_delayed_flag_set_after_it_was_made() -> None:
    full = Signal(
        rule="r",
        book="b",
        subject="s",
        condition="breach",
        severity="warning",
        summary="the numbers",
        values={"x": 1.0},
    )
    lazy = C.lazy("r", "b", "s", C.BREACH, "warning", {}, lambda: full)
    got = msgspec.structs.replace(lazy, delayed=True).materialize()
    assert got.summary == "the numbers" and got.delayed and got.render is None


def test_select_waits_for_the_alert_machines_wake_time_before_a_resend() -> None:
    codes = np.array([C.BREACH] * 4, np.int8)
    prev = sent([C.BREACH] * 4, at_ns=0)
    late = 3 * C.RESEND_NS  # past every key's resend phase
    prev.wake_ns[:] = [0, late + 1, C.NEVER_NS, late]
    assert C.select(codes, LAYOUT, prev, now_ns=late, full=False).tolist() == [0, 3]
    codes[2] = C.CLEAR  # a change always goes out, whatever the machine said
    assert C.select(codes, LAYOUT, prev, now_ns=late, full=False).tolist() == [0, 2, 3]


def test_a_layout_holds_each_distinct_subject_once() -> None:
    subjects = [f"L{n % 2}@1.5" for n in range(6)]  # a fresh string per key, as rules format them
    layout = C.Layout.of("r", ["b"] * 6, subjects)
    assert layout.subjects == subjects and layout.keys[3] == "r|b|L1@1.5"
    assert len({id(s) for s in layout.subjects}) == 2
    shared = ["x", "y"]
    assert C.Layout.of("r", ["b", "b"], shared).subjects is shared  # nothing to share: no copy
