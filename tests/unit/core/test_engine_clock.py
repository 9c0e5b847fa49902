"""The engine's clock bounds: the latest acceptable quote time, and silence on market time."""

from __future__ import annotations

import msgspec

from monitor import settings
from monitor.engine import Engine
from monitor.model import Portfolio, Quote
from monitor.quotes import TS_MAX_NS

NS = 1_000_000_000
WALL = 1_796_000_000 * NS
RECORDED = WALL - 7 * 86_400 * NS


def engine(time_source: str) -> Engine:
    base = settings.load().settings
    eng = msgspec.structs.replace(base.engine, time_source=time_source)
    return Engine(msgspec.structs.replace(base, engine=eng), Portfolio(books=[]))


def test_on_wall_time_the_ceiling_is_the_clock_plus_the_skew() -> None:
    e = engine("wall")
    assert e.ts_ceiling_ns(WALL) == WALL + round(e.settings.engine.max_future_skew_s * NS)


def test_on_market_time_the_ceiling_follows_the_newest_accepted_quote() -> None:
    e = engine("market")
    assert e.ts_ceiling_ns(WALL) == WALL + round(e.settings.engine.max_future_skew_s * NS)
    e.ingest([Quote(sym="VIX", ts=RECORDED, last=17.0)], WALL)
    jump = round(e.settings.engine.max_market_jump_s * NS)
    assert e.ts_ceiling_ns(WALL) == RECORDED + jump


def test_the_ceiling_never_leaves_int64() -> None:
    assert engine("wall").ts_ceiling_ns(TS_MAX_NS) == TS_MAX_NS


def test_on_market_time_a_silent_feed_is_stale_by_the_wall_clock() -> None:
    e = engine("market")
    e.ingest([Quote(sym="VIX", ts=RECORDED, last=17.0)], WALL)
    limit_s = e.settings.engine.stale_after_s
    assert not e.stale(e.now_ns(WALL), WALL + round(limit_s * NS))
    assert e.stale(e.now_ns(WALL), WALL + round((limit_s + 1) * NS))


def test_a_replay_driven_without_a_wall_clock_is_judged_on_market_time() -> None:
    e = engine("market")
    e.ingest([Quote(sym="VIX", ts=RECORDED, last=17.0)], WALL)
    assert not e.stale(RECORDED, None)


def test_on_market_time_the_feed_stale_alert_reports_the_wall_clock_silence() -> None:
    e = engine("market")
    e.ingest([Quote(sym="VIX", ts=RECORDED, last=17.0)], WALL)
    limit_s = e.settings.engine.stale_after_s
    wall = WALL + round((limit_s + 30) * NS)
    cycle = e.evaluate(e.now_ns(wall), wall)
    sig = next(s for s in cycle.signals if s.key == "data_quality|market|feed_stale")
    assert sig.condition == "breach"
    summary = sig.materialize().summary
    assert f"no quote for {limit_s + 30:,.0f} s" in summary, summary
    assert sig.materialize().values["silence_s"] == limit_s + 30
