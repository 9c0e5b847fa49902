"""The rules' history across a restart (pure parts): the state document and the VIX CSV."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from monitor import snapshot
from monitor.history import state as hs
from monitor.history import vix_csv
from monitor.history.store import Fetched, backfill_daily
from monitor.rules.momentum import Bars
from tests.unit.rules.rules_world import World, condition

CSV = Path(__file__).resolve().parents[2] / "resources" / "cboe" / "VIX_History.csv"
TODAY = dt.date(2026, 11, 24)


def test_the_published_csv_parses_into_daily_bars_in_date_order() -> None:
    rows, bad = vix_csv.parse(CSV.read_text())
    assert bad == 0 and len(rows) == 40
    assert rows[0].day == dt.date(2026, 9, 24) and rows[-1].day == dt.date(2026, 11, 18)
    assert rows[0].close == 17.0 and rows[0].high == 17.6


def test_bad_rows_are_counted_and_skipped_and_a_wrong_header_is_refused() -> None:
    text = "\\ufeffDATE,OPEN,HIGH,LOW,CLOSE\n01/02/2026,1,2,0.5,1.5\n13/40/2026,1,2,1,1\n" \
        "01/05/2026,1,nan,1,1\n01/06/2026,1,2\n"
    rows, bad = vix_csv.parse(text.encode().decode("unicode_escape"))
    assert [r.day for r in rows] == [dt.date(2026, 1, 2)] and bad == 3
    with pytest.raises(vix_csv.HistoryFormatError):
        vix_csv.parse("Date,Close\n01/02/2026,17\n")


def test_backfill_goes_under_live_bars_and_never_past_today() -> None:
    bars = Bars(30)
    live_day = dt.date(2026, 11, 18).toordinal()
    bars.update(live_day, 21.0)
    rows, _ = vix_csv.parse(CSV.read_text())
    added = vix_csv.backfill(bars, rows, dt.date(2026, 11, 18))
    assert len(bars.bucket) == 30 and bars.bucket == sorted(bars.bucket)
    assert bars.bucket[-1] == live_day and bars.close[-1] == 21.0  # the live bar wins
    assert live_day not in added and len(added) == 29


def test_daily_rsi_and_macd_are_valid_from_the_first_minute_with_the_backfill() -> None:
    w = World()
    backfill_daily(w.engine.memory, Fetched(CSV.read_text(), "cache"), TODAY)
    c = w.tick()
    assert c.rules is not None
    daily = c.rules.analysis.momentum.by_timeframe["1d"]
    assert daily.bars >= 26 and daily.rsi == daily.rsi  # not NaN
    assert c.backfilled_bars is not None and c.backfilled_bars["1d"] == 40
    doc = snapshot.build(c)["rules"]["momentum"]["timeframes"]["1d"]
    assert doc["backfilled_bars"] == 40 and doc["real_bars"] == doc["bars"] - 40


def test_the_memory_document_round_trips_and_restores_by_name() -> None:
    before = World()
    for _ in range(40):
        before.tick(60.0)
    mem = before.engine.memory
    doc = hs.decode(hs.encode(hs.capture(mem, before.now_ns)))
    after = World()
    assert hs.restore(after.engine.memory, doc, before.now_ns + 5 * 10**9, max_age_ns=3600 * 10**9)
    restored = after.engine.memory
    assert restored.bars["1m"].close == mem.bars["1m"].close
    assert restored.keys == mem.keys and restored.session == mem.session
    assert (restored.be_baseline_set == mem.be_baseline_set).all()


def test_after_a_restart_mean_reversion_is_known_at_once_not_26_minutes_later() -> None:
    before = World()
    for _ in range(40):
        c = before.tick(60.0)
    assert condition(c, "vix_momentum|market|mean_reversion") != "unknown"
    doc = hs.capture(before.engine.memory, before.now_ns)
    after = World()
    after.market.now_ns = before.now_ns
    hs.restore(after.engine.memory, doc, before.now_ns, max_age_ns=3600 * 10**9)
    first = after.tick(5.0)
    assert first.rules is not None
    assert first.rules.analysis.momentum.by_timeframe["1m"].bars >= 26
    assert condition(first, "vix_momentum|market|mean_reversion") != "unknown"


def test_a_stale_or_foreign_document_is_ignored() -> None:
    w = World()
    doc = hs.capture(w.engine.memory, 0)
    assert not hs.restore(World().engine.memory, doc, 10**18, max_age_ns=10**9)
    old = hs.RulesState(version=hs.VERSION + 1, saved_ns=0)
    assert not hs.restore(World().engine.memory, old, 0, max_age_ns=10**9)
