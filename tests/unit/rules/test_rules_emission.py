"""Sparse emission through the real alert machine: cooldown and repeats still notify, hysteresis
still holds, and nothing is sent for a steady clear key."""

from __future__ import annotations

import itertools

from monitor.alerts import AlertMachine
from tests.unit.rules.rules_world import World, settings

KEY = "layer_gain|main|L1@2"  # the top threshold: 1.5 is inhibited while it fires
SPIKE, CALM = 0.30, 0.14


def machine(cooldown_s: float = 0.0, repeat_s: float = 0.0) -> AlertMachine:
    ids = itertools.count()
    return AlertMachine(
        cooldown_s=cooldown_s, repeat_interval_s=repeat_s, new_id=lambda: f"e{next(ids)}"
    )


def run(w: World, m: AlertMachine, vols: list[float], step_s: float = 5.0) -> list[tuple[int, str]]:
    """Tick through ``vols``; return (tick, status) of every event of KEY."""
    out = []
    for i, vol in enumerate(vols):
        c = w.tick(step_s, vol=vol)
        out += [(i, e.status) for e in m.step(c.signals, w.now_ns).events if e.key == KEY]
    return out


def test_a_refire_inside_the_cooldown_is_deferred_and_still_sent_once_it_ends() -> None:
    events = run(World(), machine(cooldown_s=30), [CALM, SPIKE, CALM, SPIKE] + [SPIKE] * 12)
    # fired at tick 1, resolved at 2 (t = 15 s), re-breached at 3 inside the cooldown: the
    # deferred firing goes out on a resend after the cooldown (t >= 45 s), not lost
    assert events[:2] == [(1, "firing"), (2, "resolved")]
    assert [s for _, s in events[2:]] == ["firing"] and 8 <= events[2][0] <= 10


def test_a_steady_firing_alert_repeats_on_schedule() -> None:
    events = run(World(), machine(repeat_s=20), [CALM] + [SPIKE] * 14)
    repeats = [i for i, s in events if s == "repeat"]
    assert events[0] == (1, "firing") and len(repeats) >= 2
    assert all(b - a >= 4 for a, b in itertools.pairwise([1, *repeats]))  # >= 20 s apart


def test_a_gain_inside_the_hysteresis_band_neither_resolves_nor_refires() -> None:
    w = World(
        settings(layer_gain={"thresholds": [2.0], "severities": ["warning"], "hysteresis": 100.0})
    )  # the band spans everything below 2.0
    events = run(w, machine(), [SPIKE, CALM, CALM, SPIKE])
    assert events == [(0, "firing")]


def test_steady_clear_keys_send_nothing_after_the_first_cycle() -> None:
    w = World()
    w.tick(vol=CALM)
    later = w.tick(vol=CALM)
    assert all(s.condition != "clear" for s in later.signals)
