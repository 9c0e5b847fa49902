"""Inhibition looks up a group's stored keys, however the machine's states were changed."""

from __future__ import annotations

from monitor.alerts import AlertMachine, KeyState
from monitor.rules.base import Condition, Signal

S = 1_000_000_000


def gain(level: str, condition: Condition) -> Signal:
    return Signal(rule="layer_gain", book="main", subject=f"L1@{level}", condition=condition,
                  severity="warning", summary=f"L1 over {level}")


def test_a_lower_level_stays_muted_while_a_loaded_higher_level_fires() -> None:
    m = AlertMachine(cooldown_s=0, repeat_interval_s=0)
    m.states.update({"layer_gain|main|L1@2": KeyState(firing=True, notified=True)})
    assert m.step([gain("1.5", "breach")], S).events == []


def test_a_plain_dict_of_states_set_later_is_indexed() -> None:
    m = AlertMachine(cooldown_s=0, repeat_interval_s=0)
    m.states = {"layer_gain|main|L1@2": KeyState(firing=True, notified=True)}
    assert m.step([gain("1.5", "breach")], S).events == []


def test_a_deleted_higher_level_no_longer_mutes() -> None:
    m = AlertMachine(cooldown_s=0, repeat_interval_s=0)
    m.step([gain("2", "breach")], S)
    del m.states["layer_gain|main|L1@2"]
    assert [e.status for e in m.step([gain("1.5", "breach")], 2 * S).events] == ["firing"]
