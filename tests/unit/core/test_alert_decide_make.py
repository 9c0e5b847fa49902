"""Deciding an alert's events and making them apart: a step's states advance at once, each
event's details (summary, values, advice) are built only when it is made, and an event whose
details fail to build still goes out."""

from __future__ import annotations

import itertools

from monitor.alerts import AlertMachine, Decided
from monitor.model import AlertEvent, Severity
from monitor.rules.base import Condition, Signal

S = 1_000_000_000


def machine() -> AlertMachine:
    ids = itertools.count()
    return AlertMachine(cooldown_s=0, repeat_interval_s=0, new_id=lambda: f"e{next(ids)}")


def lazy(subject: str, condition: Condition, renders: list[str], *, fail: bool = False) -> Signal:
    """A lazy layer-gain signal that notes in ``renders`` each time its details are built."""
    severity: Severity = "critical" if subject.endswith("@2") else "warning"
    bare = Signal(rule="layer_gain", book="main", subject=subject, condition=condition,
                  severity=severity, summary="")  # fmt: skip

    def render() -> Signal:
        renders.append(subject)
        if fail:
            raise ZeroDivisionError("no vega to roll into")
        return Signal(rule="layer_gain", book="main", subject=subject, condition=condition,
                      severity=bare.severity, summary=f"{subject} gained",
                      values={"gain": 1.6}, action="harvest")  # fmt: skip

    return Signal(**{f: getattr(bare, f) for f in bare.__struct_fields__ if f != "render"},
                  render=render)  # fmt: skip


def test_deciding_advances_the_states_without_building_any_details() -> None:
    m, renders = machine(), []
    out = m.decide([lazy("L1@1.5", "breach", renders)], 1 * S)
    assert [(d.key, d.status) for d in out.decided] == [("layer_gain|main|L1@1.5", "firing")]
    assert out.events == [] and renders == []
    st = m.states["layer_gain|main|L1@1.5"]
    assert st.firing and st.notified and st.last_notified_ns == 1 * S
    assert out.changed == {"layer_gain|main|L1@1.5": st}


def test_making_a_decided_event_builds_its_details_then() -> None:
    m, renders = machine(), []
    [decided] = m.decide([lazy("L1@1.5", "breach", renders)], 1 * S).decided
    event = m.make(decided)
    assert renders == ["L1@1.5"]
    assert (event.status, event.summary, event.values, event.action, event.ts_ns) == (
        "firing", "L1@1.5 gained", {"gain": 1.6}, "harvest", 1 * S,
    )  # fmt: skip


def test_a_step_is_deciding_then_making_every_event_in_order() -> None:
    def run(use_step: bool) -> list[AlertEvent]:
        m, renders = machine(), []
        out = []
        for t, cond in enumerate(["breach", "hold", "clear", "breach"]):
            signals = [lazy("L1@1.5", cond, renders), lazy("L2@1.5", "breach", renders)]  # type: ignore[arg-type]
            if use_step:
                out += m.step(signals, t * S).events
            else:
                out += [m.make(d) for d in m.decide(signals, t * S).decided]
        return out

    assert run(use_step=True) == run(use_step=False)
    assert [(e.subject, e.status) for e in run(use_step=True)] == [
        ("L1@1.5", "firing"), ("L2@1.5", "firing"), ("L1@1.5", "resolved"), ("L1@1.5", "firing"),
    ]  # fmt: skip


def test_a_muted_lower_level_joins_the_higher_levels_event_when_it_is_made() -> None:
    m, renders = machine(), []
    signals = [lazy("L1@1.5", "breach", renders), lazy("L1@2", "breach", renders)]
    [decided] = m.decide(signals, 1 * S).decided
    assert decided.key == "layer_gain|main|L1@2" and renders == []
    event = m.make(decided)
    assert event.summary == "L1@2 gained; also: L1@1.5 gained"
    assert event.values["also"] == "L1@1.5 gained"


def test_an_event_whose_details_fail_still_goes_out_with_the_error_named() -> None:
    m, renders, heard = machine(), [], []
    [decided] = m.decide([lazy("L1@2", "breach", renders, fail=True)], 1 * S).decided
    event = m.make(decided, on_error=lambda d, exc: heard.append((d.key, type(exc))))
    assert (event.key, event.status, event.severity) == ("layer_gain|main|L1@2", "firing",
                                                         "critical")  # fmt: skip
    assert "layer_gain L1@2 of book main" in event.summary
    assert "could not be computed: ZeroDivisionError" in event.summary
    assert "no vega to roll into" in str(event.values["details_error"])
    assert heard == [("layer_gain|main|L1@2", ZeroDivisionError)]
    assert m.states[event.key].notified  # sent: it resolves later like any other


def test_retiring_decides_a_resolved_event_for_a_notified_key_that_left() -> None:
    m, renders = machine(), []
    m.step([lazy("L9@1.5", "breach", renders)], 1 * S)
    out = m.decide_retirement(live=set(), now_ns=2 * S)
    assert [(d.key, d.status) for d in out.decided] == [("layer_gain|main|L9@1.5", "resolved")]
    assert out.events == [] and not m.states["layer_gain|main|L9@1.5"].firing
    event = m.make(out.decided[0])
    assert event.summary == "resolved: L9@1.5 of book main is no longer in the portfolio"


def test_a_decided_event_is_named_by_its_key() -> None:
    sig = Signal(rule="stress", book="b", subject="down", condition="breach", severity="warning",
                 summary="s")  # fmt: skip
    assert Decided(sig, "firing", 0).key == "stress|b|down"


def test_a_muted_level_whose_details_fail_leaves_the_events_own_details_whole() -> None:
    m, renders, heard = machine(), [], []
    signals = [lazy("L1@1.5", "breach", renders, fail=True), lazy("L1@2", "breach", renders)]
    [decided] = m.decide(signals, 1 * S).decided
    event = m.make(decided, on_error=lambda d, exc: heard.append(type(exc)))
    assert event.summary.startswith("L1@2 gained; also: layer_gain L1@1.5 of book main")
    assert event.action == "harvest" and event.values["gain"] == 1.6
    assert heard == [ZeroDivisionError]
