"""Term structure, data quality and event risk on a simulated market."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.rules.calendar import EventCalendar, MacroEvent
from tests.unit.rules.rules_world import S, World, condition, settings, signal

CALM, SPIKE = 0.14, 0.30


def contango(vol: float) -> float:
    w = World()
    c = w.tick(vol=vol)
    assert c.rules is not None
    return c.rules.analysis.curve.contango


@pytest.fixture(scope="module")
def calm_contango() -> float:
    return contango(CALM)


def test_the_curve_holds_only_monthly_futures_in_expiry_order() -> None:
    w = World()
    w.engine.ingest([q for q in w.quote() if q.sym == "VX261216"])
    w.engine.market.register("VX261209")  # a weekly, never quoted
    c = w.tick()
    assert c.rules is not None
    points = c.rules.analysis.curve.points
    assert [p.symbol for p in points] == ["VX261216", "VX270120", "VX270217"]
    assert [p.months_out for p in points] == [1, 2, 3]


def test_contango_is_f2_over_f1_minus_one(calm_contango: float) -> None:
    w = World()
    c = w.tick(vol=CALM)
    assert c.rules is not None
    f1, f2 = c.rules.analysis.curve.points[:2]
    assert calm_contango == pytest.approx(f2.price / f1.price - 1) and calm_contango > 0


@pytest.mark.parametrize(
    ("offset", "want"), [(0.0, "breach"), (1e-9, "breach"), (-1e-9, "hold"), (-0.01, "clear")]
)
def test_contango_low_fires_at_and_below_the_threshold(
    calm_contango: float, offset: float, want: str
) -> None:
    w = World(settings(term_structure={"min_contango": calm_contango + offset}))
    assert condition(w.tick(vol=CALM), "term_structure|market|contango_low") == want


def test_a_flip_into_backwardation_fires_and_the_return_resolves() -> None:
    w = World()
    assert condition(w.tick(vol=CALM), "term_structure|market|backwardation") == "clear"
    assert condition(w.tick(vol=SPIKE), "term_structure|market|backwardation") == "breach"
    back = signal(w.tick(vol=CALM), "term_structure|market|backwardation")
    assert back.condition == "clear"  # sent once so the firing alert resolves


def test_one_fresh_monthly_is_not_a_curve() -> None:
    w = World()
    w.engine.ingest([q for q in w.quote() if q.sym in ("VX261216", "VIX", "VIX3M")])
    c = w.engine.evaluate(w.now_ns)
    assert signal(c, "term_structure|market|backwardation").condition == "unknown"


def test_a_silent_feed_fires_feed_stale_and_flags_legs_unmarked() -> None:
    w = World()
    w.tick()
    c = w.silent(61)
    assert signal(c, "data_quality|market|feed_stale").condition == "breach"
    assert signal(c, "data_quality|main|unmarked_legs").values["unmarked_legs"] == 5


def test_a_silent_feed_keeps_the_last_curve_as_stale_not_as_never_quoted() -> None:
    w = World()
    live = w.tick()
    assert live.rules is not None and live.rules.analysis.curve.status == "live"
    c = w.silent(61)
    assert c.rules is not None
    curve = c.rules.analysis.curve
    assert curve.points == [] and curve.status == "stale"
    assert curve.last_quote_ns == w.now_ns - 61 * S
    before = [p.symbol for p in live.rules.analysis.curve.points]
    assert [p.symbol for p in curve.stale_points] == before


def test_a_curve_never_quoted_says_so() -> None:
    w = World()
    c = w.silent(0)
    assert c.rules is not None
    assert c.rules.analysis.curve.status == "never_quoted"


def test_locked_quotes_above_the_share_limit_fire() -> None:
    w = World(settings(data_quality={"crossed_locked_max": 0.001}))
    w.tick()
    row = w.engine.market.index["VX270217"]
    w.engine.market.bid[row] = w.engine.market.ask[row]
    c = w.engine.evaluate(w.now_ns)
    s = signal(c, "data_quality|market|quotes")
    assert s.condition == "breach" and s.values["crossed_locked"] == 1


def calendar_at(ts_ns: int) -> EventCalendar:
    return EventCalendar.of([MacroEvent(kind="CPI", title="CPI", ts_ns=ts_ns)])


@pytest.mark.parametrize(("hours", "want"), [(23.9, "breach"), (24.0, "breach"), (24.1, "clear")])
def test_event_risk_fires_when_an_event_is_within_n_hours_of_a_popped_layer(
    hours: float, want: str
) -> None:
    w = World()
    first = w.now_ns + 10 * S  # the instant of the spike tick below
    w.engine.events = calendar_at(first + round(hours * 3600 * S))
    w.tick()
    assert condition(w.tick(vol=SPIKE), "event_risk|main|L1") == want


def test_event_risk_stays_quiet_near_an_event_while_no_layer_has_popped() -> None:
    w = World()
    w.engine.events = calendar_at(w.now_ns + 3600 * S)
    assert condition(w.tick(vol=CALM), "event_risk|main|L1") == "clear"


def test_alert_context_names_the_next_event() -> None:
    w = World()
    w.engine.events = calendar_at(w.now_ns + 2 * 3600 * S)
    c = w.tick()
    when = dt.datetime.fromtimestamp((w.now_ns - 5 * S + 2 * 3600 * S) / S, dt.UTC)
    assert c.signals and all(s.context["next_event_kind"] == "CPI" for s in c.signals)
    assert c.signals[0].context["next_event_in_h"] == pytest.approx(2 - 5 / 3600, abs=0.01)
    assert when.year == 2026


def test_a_start_without_quotes_is_warming_up_not_a_silent_feed() -> None:
    w = World()
    assert condition(w.silent(0), "data_quality|market|feed_stale") == "unknown"
    assert condition(w.silent(61), "data_quality|market|feed_stale") == "breach"


def test_legs_still_unquoted_right_after_the_first_quote_are_settling_not_unmarked() -> None:
    w = World()
    w.engine.ingest([q for q in w.quote() if not q.sym.startswith("VIX2612")])
    c = w.engine.evaluate(w.now_ns)
    assert condition(c, "data_quality|main|unmarked_legs") == "unknown"
    w.market.now_ns += 61 * S
    w.engine.ingest([q for q in w.quote() if not q.sym.startswith("VIX2612")])
    assert condition(w.engine.evaluate(w.now_ns), "data_quality|main|unmarked_legs") == "breach"
