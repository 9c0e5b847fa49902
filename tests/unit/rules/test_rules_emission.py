"""Sparse emission through the real alert machine: cooldown and repeats still notify, hysteresis
still holds, and nothing is sent for a steady clear key."""

from __future__ import annotations

import itertools

from monitor.alerts import AlertMachine, KeyState
from monitor.rules.codes import CLEAR
from tests.unit.rules.rules_world import World, settings

KEY = "layer_gain|main|L1@2"  # the top threshold: 1.5 is inhibited while it fires
SPIKE, CALM = 0.30, 0.14


def machine(
    cooldown_s: float = 0.0, repeat_s: float = 0.0, states: dict[str, KeyState] | None = None
) -> AlertMachine:
    ids = itertools.count()
    return AlertMachine(
        cooldown_s=cooldown_s,
        repeat_interval_s=repeat_s,
        states=states or {},
        new_id=lambda: f"e{next(ids)}",
    )


def started(m: AlertMachine) -> World:
    """A world just started, its rules told which keys the machine holds a state for."""
    w = World()
    w.engine.memory.held = m.held()
    return w


def run(
    w: World, m: AlertMachine, vols: list[float], step_s: float = 5.0, sent: list[int] | None = None
) -> list[tuple[int, str]]:
    """Tick through ``vols`` as the engine loop does (the machine's wake times go back to the
    rules); return (tick, status) of every event of KEY; ``sent``: the ticks KEY had a signal."""
    out = []
    for i, vol in enumerate(vols):
        c = w.tick(step_s, vol=vol)
        transition = m.step(c.signals, w.now_ns)
        w.engine.memory.note_wake(transition.wake)
        out += [(i, e.status) for e in transition.events if e.key == KEY]
        if sent is not None and any(sig.key == KEY for sig in c.signals):
            sent.append(i)
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


def test_a_steady_announced_alert_is_not_resent_until_its_repeat_is_due() -> None:
    sent: list[int] = []
    events = run(World(), machine(repeat_s=60), [CALM] + [SPIKE] * 20, sent=sent)
    repeats = [i for i, s in events if s == "repeat"]
    assert events[0] == (1, "firing") and repeats  # 60 s later, on the next resend
    # between the firing and the repeat (12 ticks of 5 s) the key sends nothing
    assert [i for i in sent if 1 < i < repeats[0]] == []
    assert 13 <= repeats[0] <= 15


def test_a_lower_level_muted_by_a_higher_one_notifies_on_the_cycle_after_it_resolves() -> None:
    w, m = World(), machine()
    run(w, m, [CALM, SPIKE, SPIKE, SPIKE])  # L1@2 fires; L1@1.5 breaches too, muted
    lower = "layer_gain|main|L1@1.5"
    assert m.states[lower].firing and not m.states[lower].notified
    gains = {}
    for vol in (0.22, 0.21, 0.20, 0.19, 0.18):  # the gain falls between 1.5 and 2
        c = w.tick(5.0, vol=vol)
        t = m.step(c.signals, w.now_ns)
        w.engine.memory.note_wake(t.wake)
        gains[vol] = [(e.key, e.status) for e in t.events]
        if (lower, "firing") in gains[vol]:
            break
    flat = [ev for evs in gains.values() for ev in evs]
    assert (KEY, "resolved") in flat and (lower, "firing") in flat
    at = {ev: i for i, evs in enumerate(gains.values()) for ev in evs}
    assert at[(lower, "firing")] - at[(KEY, "resolved")] <= 1


def test_the_first_cycle_sends_only_keys_not_clear_and_clear_keys_the_machine_holds() -> None:
    restored = KeyState(firing=True, notified=True, since_ns=1, last_notified_ns=1)
    m = machine(states={KEY: restored})
    first = started(m).tick(vol=CALM)
    assert [s.key for s in first.signals if s.condition == "clear"] == [KEY]


def test_a_restored_firing_alert_whose_key_is_now_clear_resolves_on_the_first_cycle() -> None:
    restored = KeyState(firing=True, notified=True, since_ns=1, last_notified_ns=1)
    m = machine(states={KEY: restored})
    assert run(started(m), m, [CALM]) == [(0, "resolved")]


def test_a_clear_key_not_sent_on_the_first_cycle_fires_when_it_breaches() -> None:
    m, sent = machine(), []
    assert run(started(m), m, [CALM, SPIKE], sent=sent) == [(1, "firing")]
    assert sent == [1]


def test_a_full_cycle_records_a_clear_key_it_did_not_send_as_sent_clear() -> None:
    w = World()
    w.tick(vol=SPIKE)  # every key sent: KEY recorded as a breach
    w.engine.memory.reset_emission()
    w.engine.memory.held = set()  # the machine lost its states (a reload)
    c = w.tick(vol=CALM)
    assert c.rules is not None and all(s.key != KEY for s in c.signals)
    layout, codes = c.rules.states["layer_gain"]
    assert int(codes[layout.position[KEY]]) == CLEAR
    assert all(s.key != KEY for s in w.tick(vol=CALM).signals)  # nothing left to resend
