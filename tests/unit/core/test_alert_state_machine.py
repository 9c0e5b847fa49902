"""The alert state machine: firing, hysteresis hold, cooldown, repeat, resolve, unknown."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from monitor.alerts import AlertMachine
from monitor.rules.base import Condition, Signal
from monitor.rules.codes import NEVER_NS

S = 1_000_000_000


def sig(condition: Condition) -> Signal:
    return Signal(
        rule="layer_gain",
        book="main",
        subject="L1@1.5",
        condition=condition,
        severity="warning",
        summary="layer L1 gain",
    )


def machine(cooldown_s: float = 0.0, repeat_s: float = 0.0) -> AlertMachine:
    ids = itertools.count()
    return AlertMachine(
        cooldown_s=cooldown_s, repeat_interval_s=repeat_s, new_id=lambda: f"e{next(ids)}"
    )


def statuses(m: AlertMachine, conds: list[Condition], step_s: float = 1.0) -> list[str]:
    out = []
    for i, c in enumerate(conds):
        out += [e.status for e in m.step([sig(c)], round(i * step_s * S)).events]
    return out


def test_a_breach_fires_once_and_holding_does_not_fire_again() -> None:
    assert statuses(machine(), ["breach", "breach", "hold", "breach"]) == ["firing"]


def test_hold_inside_the_hysteresis_band_neither_resolves_nor_rearms() -> None:
    assert statuses(machine(), ["breach", "hold", "hold", "breach"]) == ["firing"]


def test_clear_resolves_and_a_later_breach_fires_again() -> None:
    assert statuses(machine(), ["breach", "clear", "breach"]) == ["firing", "resolved", "firing"]


def test_stale_data_never_resolves_a_firing_alert() -> None:
    m = machine()
    assert statuses(m, ["breach", "unknown", "unknown"]) == ["firing"]
    assert m.states[sig("breach").key].firing and m.states[sig("breach").key].unknown


def test_a_refire_inside_the_cooldown_is_deferred_until_the_cooldown_ends() -> None:
    m = machine(cooldown_s=10)
    conds: list[Condition] = ["breach", "clear", "breach"] + ["breach"] * 10
    events = []
    for i, c in enumerate(conds):
        events += [(i, e.status) for e in m.step([sig(c)], (100 + i) * S).events]
    # the resolve at t=101 was a notification too: the next one may go out at t=111
    assert events == [(0, "firing"), (1, "resolved"), (11, "firing")]


def test_a_deferred_firing_that_clears_in_its_cooldown_is_dropped_not_resolved() -> None:
    m = machine(cooldown_s=10)
    assert statuses(m, ["breach", "clear", "breach", "clear"]) == ["firing", "resolved"]


def test_a_firing_alert_repeats_every_repeat_interval() -> None:
    assert statuses(machine(repeat_s=2), ["breach"] * 5) == ["firing", "repeat", "repeat"]


def test_events_carry_the_dedup_key_and_fresh_ids() -> None:
    m = machine()
    ev = m.step([sig("breach")], 0).events + m.step([sig("clear")], S).events
    assert [e.key for e in ev] == ["layer_gain|main|L1@1.5"] * 2
    assert ev[0].id != ev[1].id


def test_a_restored_firing_state_does_not_fire_again() -> None:
    first = machine()
    first.step([sig("breach")], 0)
    restored = AlertMachine(cooldown_s=0, repeat_interval_s=0, states=dict(first.states))
    assert restored.step([sig("breach")], S).events == []


@given(
    st.lists(st.sampled_from(["breach", "clear", "hold", "unknown"]), max_size=60), st.floats(0, 5)
)
def test_never_fires_twice_without_a_resolve_in_between(
    conds: list[Condition], cool: float
) -> None:
    out = [s for s in statuses(machine(cooldown_s=cool), conds) if s != "repeat"]
    for a, b in itertools.pairwise(out):
        assert a != b


# ---- wake times: when a key next needs a signal while its condition stays ----------------------


def key_sig(subject: str, condition: Condition) -> Signal:
    return Signal(
        rule="layer_gain", book="main", subject=subject, condition=condition,
        severity="warning", summary=f"layer {subject}",
    )  # fmt: skip


def test_an_announced_firing_alert_wakes_at_its_repeat_and_never_without_repeats() -> None:
    with_repeats = machine(repeat_s=60).step([sig("breach")], 10 * S)
    assert with_repeats.wake == {"layer_gain|main|L1@1.5": 70 * S}
    without = machine().step([sig("breach")], 10 * S)
    assert without.wake == {"layer_gain|main|L1@1.5": NEVER_NS}


def test_a_firing_deferred_by_the_cooldown_wakes_when_the_cooldown_ends() -> None:
    m = machine(cooldown_s=30)
    m.step([sig("breach")], 0)
    m.step([sig("clear")], 5 * S)  # resolved at 5 s: the cooldown runs to 35 s
    refire = m.step([sig("breach")], 10 * S)
    assert refire.events == [] and refire.wake == {"layer_gain|main|L1@1.5": 35 * S}


def test_a_clear_or_holding_key_the_machine_never_saw_needs_nothing_and_keeps_no_state() -> None:
    m = machine()
    out = m.step([key_sig("L1@1.5", "clear"), key_sig("L2@1.5", "hold")], S)
    assert out.wake == {"layer_gain|main|L1@1.5": NEVER_NS, "layer_gain|main|L2@1.5": NEVER_NS}
    assert m.states == {} and out.changed == {}


def test_a_muted_lower_level_wakes_when_the_higher_one_resolves() -> None:
    m = machine()
    both = m.step([key_sig("L1@1.5", "breach"), key_sig("L1@2", "breach")], S)
    assert [e.key for e in both.events] == ["layer_gain|main|L1@2"]
    assert both.wake["layer_gain|main|L1@1.5"] == NEVER_NS  # muted: nothing to do meanwhile
    higher_resolves = m.step([key_sig("L1@2", "clear")], 2 * S)
    assert higher_resolves.wake["layer_gain|main|L1@1.5"] == 0  # wanted on the next cycle
    lower = m.step([key_sig("L1@1.5", "breach")], 3 * S)
    assert [(e.key, e.status) for e in lower.events] == [("layer_gain|main|L1@1.5", "firing")]
