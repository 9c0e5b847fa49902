"""A leg's mark age in the snapshot keeps growing while the feed is silent, on market time too."""

from __future__ import annotations

import msgspec
import pytest

from monitor import snapshot
from monitor.settings import Settings
from tests.unit.plan.plan_world import Desk

S = 1_000_000_000
WALL = 1_796_000_000 * S  # the wall clock: far after the simulated session, like a replay


def legs(doc: dict[str, object]) -> list[dict[str, object]]:
    books = doc["books"]
    assert isinstance(books, list)
    return [leg for b in books for s in b["condors"] + b["layers"] for leg in s["legs"]]


@pytest.mark.parametrize("time_source", ["market", "wall"])
def test_a_silent_feed_ages_every_mark_by_the_silence(time_source: str) -> None:
    cfg = msgspec.convert(
        {"portfolio": "p.toml", "engine": {"time_source": time_source}}, Settings
    )
    desk = Desk(cfg)
    desk.engine.ingest(desk.market.quotes(desk.instruments), WALL)
    silent_s = cfg.engine.stale_after_s + 30
    wall = WALL + round(silent_s * S)
    now = desk.engine.now_ns(wall) if time_source == "market" else desk.now_ns + round(silent_s * S)
    doc = snapshot.build(desk.engine.evaluate(now, wall if time_source == "market" else None))
    for leg in legs(doc):
        assert leg["stale"] is True
        assert leg["mark_age_s"] == pytest.approx(silent_s, abs=0.2), leg["symbol"]


def test_on_market_time_the_stale_curve_points_age_by_the_silence_too() -> None:
    cfg = msgspec.convert({"portfolio": "p.toml", "engine": {"time_source": "market"}}, Settings)
    desk = Desk(cfg)
    desk.engine.ingest(desk.market.quotes(desk.instruments), WALL)
    silent_s = cfg.engine.stale_after_s + 30
    wall = WALL + round(silent_s * S)
    doc = snapshot.build(desk.engine.evaluate(desk.engine.now_ns(wall), wall))
    curve = doc["rules"]["curve"]
    assert curve["status"] == "stale" and curve["points"] == []
    assert curve["stale_points"]
    assert all(p["age_s"] == pytest.approx(silent_s, abs=0.2) for p in curve["stale_points"])
