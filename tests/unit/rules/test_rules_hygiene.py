"""Alert hygiene for a book: one notification per fact, resolves for what left, right hours."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from monitor.alerts import AlertMachine
from monitor.model import AlertEvent, Portfolio
from monitor.rules.base import Signal
from tests.unit.plan.plan_world import Desk
from tests.unit.rules.rules_world import World, portfolio

SPIKE = 0.30


def machine() -> AlertMachine:
    ids = itertools.count()
    return AlertMachine(cooldown_s=0, repeat_interval_s=0, new_id=lambda: f"e{next(ids)}")


def sig(
    subject: str, condition: str, severity: str = "warning", rule: str = "layer_gain"
) -> Signal:
    return Signal(
        rule=rule,
        book="main",
        subject=subject,
        condition=condition,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        summary=f"{subject} {condition}",
    )


def firing(events: list[AlertEvent]) -> list[tuple[str, str]]:
    return [(e.subject, e.status) for e in events]


def test_150_and_200_percent_in_one_cycle_give_one_notification_at_the_higher_severity() -> None:
    w, m = World(), machine()
    w.tick()
    events = m.step(w.tick(vol=SPIKE).signals, w.now_ns).events
    gains = [e for e in events if e.rule == "layer_gain"]
    assert [(e.subject, e.status, e.severity) for e in gains] == [("L1@2", "firing", "critical")]
    assert "also: layer L1 gain" in gains[0].summary  # the lower threshold's fact is in it


def test_a_lower_threshold_still_firing_notifies_once_the_higher_one_resolves() -> None:
    m = machine()
    first = m.step([sig("L1@1.5", "breach"), sig("L1@2", "breach", "critical")], 1)
    assert firing(first.events) == [("L1@2", "firing")]
    later = m.step([sig("L1@1.5", "breach"), sig("L1@2", "clear", "critical")], 2)
    assert firing(later.events) == [("L1@1.5", "firing"), ("L1@2", "resolved")]


def test_a_lower_threshold_already_notified_stays_quiet_under_the_higher_one() -> None:
    m = AlertMachine(cooldown_s=0, repeat_interval_s=1e-9)
    m.step([sig("L1@1.5", "breach")], 1)
    events = m.step([sig("L1@1.5", "breach"), sig("L1@2", "breach", "critical")], 2).events
    assert [(e.subject, e.status) for e in events] == [("L1@2", "firing")]  # no 1.5 repeat


def test_one_backwardation_event_gives_one_alert_with_every_fact_in_it() -> None:
    desk, m = Desk(), machine()
    desk.tick()
    events = m.step(desk.tick(vol=0.20).signals, desk.now_ns).events
    curve = [e for e in events if e.rule == "term_structure"]
    assert [(e.subject, e.status) for e in curve] == [("backwardation", "firing")]
    assert "contango at or below" in curve[0].summary and "VIX/VIX3M" in curve[0].summary
    assert "also" in curve[0].values


def test_a_layer_removed_from_the_portfolio_resolves_its_alerts() -> None:
    w, m = World(), machine()
    w.tick()
    m.step(w.tick(vol=SPIKE).signals, w.now_ns)
    assert m.states["layer_gain|main|L1@2"].firing
    book = portfolio().books[0]
    w.engine.set_portfolio(Portfolio(books=[msgspec.structs.replace(book, layers=[])]))
    events = m.step(w.tick(vol=SPIKE).signals, w.now_ns).events
    resolved = [e for e in events if e.status == "resolved" and e.rule == "layer_gain"]
    assert [e.subject for e in resolved] == ["L1@2"]
    assert "no longer in the portfolio" in resolved[0].summary
    assert not m.states["layer_gain|main|L1@2"].firing
    assert not m.states["layer_gain|main|L1@1.5"].firing  # muted, never notified: no resolve


def test_the_sizing_guard_counts_the_hours_since_the_gain_alert() -> None:
    w, m = World(), machine()
    w.tick()
    m.step(w.tick(vol=SPIKE).signals, w.now_ns)  # the gain alert fires now
    for _ in range(108):  # 9 minutes of 5-second cycles, the layer above its threshold all along
        w.tick(vol=SPIKE)
    w.engine.set_portfolio(portfolio(layer_qty=8))
    c = w.tick(vol=SPIKE)
    s = next(x for x in c.signals if x.key == "sizing|main|L1").materialize()
    assert s.values["hours_after_gain"] == pytest.approx(9 / 60, abs=0.01)
    assert "0.1 h after its gain alert" in s.summary or "0.2 h after its gain alert" in s.summary


def test_an_alert_restored_for_a_layer_gone_during_a_restart_resolves_on_the_first_cycle() -> None:
    m = machine()
    m.step([sig("L9@1.5", "breach")], 1)  # fired before the stop; L9 is not in the portfolio
    c = World().tick()
    assert c.rules is not None and c.rules.full
    t = m.retire(c.rules.live_keys(), c.now_ns)
    assert [(e.key, e.status) for e in t.events] == [("layer_gain|main|L9@1.5", "resolved")]
    assert "no longer in the portfolio" in t.events[0].summary
    assert not m.states["layer_gain|main|L9@1.5"].firing and m.retire(set(), 2).events == []
