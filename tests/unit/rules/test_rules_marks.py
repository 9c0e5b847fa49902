"""Marks with a source, a VX curve from last-only futures, and VIXW weekly legs (issue 13)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from adapters.cboe import parsing as cboe
from monitor import snapshot
from monitor.engine import Cycle
from monitor.market import MarketState
from monitor.model import Portfolio, Quote
from monitor.rules_metrics import RulesCollector
from tests.unit.rules.rules_world import CONDOR, World, condition, signal

S = 1_000_000_000
WEEKLY = dt.date(2026, 12, 9)  # a Wednesday, a week before the December monthly (12-16)
WEEKLY_CALL = "VIXW261209C00020000"
UNLISTED_CALL = "VIXW270303C00020000"  # beyond the last VX future the world quotes
RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "cboe"


def last_only(quotes: list[Quote]) -> list[Quote]:
    """Futures the way Cboe's delayed list sends them: a last trade, no bid or ask."""
    return [
        msgspec.structs.replace(q, bid=None, ask=None, bid_size=None, ask_size=None,
                                last=round(((q.bid or 0.0) + (q.ask or 0.0)) / 2, 2))
        if q.sym.startswith("VX") else q
        for q in quotes
    ]


class CboeWorld(World):
    """The rules' world with VX futures quoted last-only, as the Cboe feed publishes them."""

    def quote(self) -> list[Quote]:
        return last_only(super().quote())


def weekly_book(*extra: str) -> Portfolio:
    legs = [{"symbol": s, "quantity": q, "entry_price": p} for s, q, p in CONDOR]
    layer = [{"symbol": "VIX261216C00020000", "quantity": 4, "entry_price": 0.85}]
    weekly = [{"symbol": WEEKLY_CALL, "quantity": 6, "entry_price": 0.60}]
    weekly += [{"symbol": s, "quantity": 2, "entry_price": 0.40} for s in extra]
    return msgspec.convert(
        {"books": [{"name": "main", "cash_usd": 60_000.0,
                    "condors": [{"name": "IC", "legs": legs}],
                    "layers": [{"name": "L1", "legs": layer},
                               {"name": "W1", "legs": weekly}]}]},
        Portfolio,
    )


class WeeklyWorld(World):
    """A world whose instruments include VIXW weeklies; no weekly VX future is quoted."""

    def __init__(self, *extra: str) -> None:
        super().__init__(book=weekly_book(*extra))
        from monitor import symbols

        self.instruments += [symbols.parse(s) for s in (WEEKLY_CALL, *extra)]


def legs(cycle: Cycle) -> dict[str, dict[str, object]]:
    doc = snapshot.build(cycle)
    (book,) = doc["books"]
    out = {}
    for kind in ("condors", "layers"):
        for struct in book[kind]:
            for leg in struct["legs"]:
                out[leg["symbol"]] = leg
    return out


# --- the mark -------------------------------------------------------------------------------


def test_the_mark_is_the_mid_else_a_recent_last_else_the_settlement() -> None:
    m = MarketState()
    now = 1_795_500_000 * S
    m.apply([
        Quote(sym="VX261216", ts=now, bid=18.8, ask=18.9, last=18.7, settle=18.5),
        Quote(sym="VX270120", ts=now - 60 * S, last=19.5, settle=19.6),
        Quote(sym="VX270217", ts=now - 3600 * S, last=20.0, settle=20.25,
              settle_date=dt.date(2026, 11, 20), open_interest=321),
        Quote(sym="VX270317", ts=now),
    ])
    marks = m.marks(now, last_max_age_ns=900 * S)
    got = [(m.instruments[r].symbol, marks.source_name(r), float(marks.price[r]))
           for r in range(len(m))]
    assert got[:3] == [("VX261216", "mid", pytest.approx(18.85)),
                       ("VX270120", "last", 19.5), ("VX270217", "settle", 20.25)]
    assert got[3][1] == "none" and math.isnan(got[3][2])
    assert int(marks.ts_ns[1]) == now - 60 * S  # the age runs from the quote that carried it
    row = m.index["VX270217"]
    assert m.settle_date(row) == dt.date(2026, 11, 20) and m.open_interest[row] == 321


def test_a_newer_quote_without_settlement_keeps_the_held_one() -> None:
    m = MarketState()
    m.apply([Quote(sym="VX261216", ts=1, settle=18.5, settle_date=dt.date(2026, 11, 20))])
    m.apply([Quote(sym="VX261216", ts=2, bid=18.6, ask=18.7)])
    row = m.index["VX261216"]
    assert m.settle[row] == 18.5 and m.settle_date(row) == dt.date(2026, 11, 20)


# --- the VX curve from last-only futures ----------------------------------------------------


def test_last_only_futures_form_the_full_monthly_curve_and_say_so() -> None:
    w = CboeWorld()
    c = w.tick()
    assert c.rules is not None
    curve = c.rules.analysis.curve
    assert [p.symbol for p in curve.points] == ["VX261216", "VX270120", "VX270217"]
    assert {p.source for p in curve.points} == {"last"}
    assert math.isfinite(curve.contango)
    assert condition(c, "term_structure|market|backwardation") != "unknown"
    assert c.rules.context["vx_curve_marks"] == "VX261216:last,VX270120:last"
    doc = snapshot.build(c)["rules"]["curve"]
    assert [p["source"] for p in doc["points"]] == ["last"] * 3


def test_the_cboe_curve_is_exported_with_its_mark_source() -> None:
    w = CboeWorld()
    c = w.tick()
    reg = CollectorRegistry()
    reg.register(RulesCollector(lambda: c))
    assert reg.get_sample_value("vixmon_vx_future_price", {"months_out": "1"}) is not None
    assert reg.get_sample_value(
        "vixmon_vx_future_price_source", {"months_out": "1", "source": "last"}) == 1.0
    assert reg.get_sample_value(
        "vixmon_vx_future_price_age_seconds", {"months_out": "1"}) == 0.0


def test_settlement_only_futures_still_give_a_curve_marked_settle() -> None:
    """The recorded-shape Cboe file: one monthly untraded today (its settlement only)."""
    quotes = cboe.parse_futures((RESOURCES / "get_quotes_combined.json").read_bytes(), 0)
    m = MarketState()
    m.apply(quotes)
    now = quotes[0].ts
    from monitor.rules import term_structure
    from monitor.rules.context import is_vix_monthly

    curve = term_structure.analyze(m, dt.date(2026, 11, 23), now, is_monthly=is_vix_monthly,
                                   max_age_ns=900 * S, stale=False)
    assert [(p.symbol, p.source) for p in curve.points] == [
        ("VX261216", "last"), ("VX270120", "settle"), ("VX270217", "last")]
    assert curve.weeklies == []  # the weeklies' settlements were cloned: no quote at all


def test_weekly_futures_sit_beside_the_monthly_curve_not_in_it() -> None:
    quotes = cboe.parse_futures(
        (RESOURCES / "get_quotes_combined_weeklies.json").read_bytes(), 0)
    m = MarketState()
    m.apply(quotes)
    from monitor.rules import term_structure
    from monitor.rules.context import is_vix_monthly

    curve = term_structure.analyze(m, dt.date(2026, 10, 6), quotes[0].ts,
                                   is_monthly=is_vix_monthly, max_age_ns=900 * S, stale=False)
    assert [p.symbol for p in curve.points] == ["VX261021", "VX261118", "VX261216", "VX270120"]
    assert [(p.symbol, p.weekly) for p in curve.weeklies] == [("VX261007", True)]
    assert curve.contango == pytest.approx(18.05 / 17.03 - 1)  # monthlies only


# --- VIXW weekly legs -----------------------------------------------------------------------


def test_a_vixw_weekly_layer_is_priced_on_the_interpolated_vx_curve() -> None:
    w = WeeklyWorld()
    c = w.tick()
    st = c.state
    for arr in (st.book_vega_usd, st.book_theta_usd, st.book_delta_vix_1pct_usd):
        assert math.isfinite(float(arr[0]))
    assert c.rules is not None and math.isfinite(float(c.rules.analysis.net_vega.book[0]))
    leg = legs(c)[WEEKLY_CALL]
    assert leg["priced"] and leg["inputs"]["forward_method"] == "future_interpolated"  # type: ignore[index]
    # between the VIX index (settling now) and the December future, linear in time
    vix = float(w.engine.market.last[w.engine.market.index["VIX"]])
    front_row = w.engine.market.index["VX261216"]
    front = float((w.engine.market.bid[front_row] + w.engine.market.ask[front_row]) / 2)
    fwd = leg["inputs"]["forward"]  # type: ignore[index]
    assert min(vix, front) <= fwd <= max(vix, front)
    assert condition(c, "greeks|main|vega") != "unknown"


def test_a_leg_that_cannot_be_priced_is_left_out_by_name() -> None:
    w = WeeklyWorld(UNLISTED_CALL)
    c = w.tick()
    st = c.state
    assert st.unpriced(0) == [(UNLISTED_CALL, "no_forward")]
    assert int(st.book_unpriced_legs[0]) == 1
    for arr in (st.book_vega_usd, st.book_theta_usd, st.book_delta_vix_1pct_usd,
                st.book_value_usd):
        assert math.isfinite(float(arr[0]))
    assert c.rules is not None
    assert math.isfinite(float(c.rules.analysis.net_vega.book[0]))
    assert math.isfinite(float(c.rules.analysis.stress.worst_loss_usd[0]))
    assert condition(c, "greeks|main|vega") != "unknown"
    assert condition(c, "stress|main|coverage") != "unknown"
    doc = snapshot.build(c)["books"][0]
    assert doc["unpriced_legs"] == [{"symbol": UNLISTED_CALL, "reason": "no_forward"}]
    assert doc["net_greeks"]["vega_usd"] is not None


def test_data_quality_names_each_unpriced_leg_and_why() -> None:
    w = WeeklyWorld(UNLISTED_CALL)
    w.tick()
    c = w.tick(120.0)  # past the start-up grace, when leg data may still be arriving
    s = signal(c, "data_quality|main|unpriced_legs").materialize()
    assert s.condition == "breach"
    assert f"{UNLISTED_CALL} (no_forward)" in s.summary
    assert s.values["unpriced_legs"] == 1


def test_every_leg_and_curve_point_in_the_snapshot_says_where_its_mark_came_from() -> None:
    w = CboeWorld()
    c = w.tick()
    for leg in legs(c).values():
        assert leg["source"] == "mid" and leg["mark_age_s"] == 0.0
    doc = snapshot.build(c)["rules"]["curve"]
    assert all("source" in p and "age_s" in p for p in doc["points"])


def test_an_alert_on_a_book_marked_off_the_mid_says_so_in_its_context() -> None:
    w = World(book=weekly_book())
    w.tick()
    q = [x for x in w.quote() if x.sym == "VIX261216C00020000"]
    # the layer's call loses its book: its last trade is the mark from now on
    w.market.now_ns += 5 * S
    w.engine.ingest([msgspec.structs.replace(q[0], ts=w.market.now_ns, bid=None, ask=None,
                                             last=1.25)])
    c = w.engine.evaluate(w.market.now_ns)
    assert legs(c)["VIX261216C00020000"]["source"] == "last"
    book_signals = [s.materialize() for s in c.signals if s.book == "main"]
    assert book_signals, "expected at least one book signal on the first cycles"
    assert all("VIX261216C00020000:last" in str(s.context.get("non_mid_marks"))
               for s in book_signals)


def test_a_cboe_only_market_prices_a_vixw_leg_on_the_untraded_weekly_between_its_neighbours(
) -> None:
    """The capture-shaped futures file end to end: VX41/V6 (2026-10-14) never traded and its
    settlement is a clone, so the VIXW 10-14 call's forward is interpolated between the traded
    weekly VX40/V6 (10-07) and the October monthly (10-21), both marked at their last trade."""
    from monitor.engine import Engine
    from tests.unit.rules.rules_world import settings

    futures = cboe.parse_futures(
        (RESOURCES / "get_quotes_combined_weeklies.json").read_bytes(), 0)
    now = futures[0].ts
    book = msgspec.convert({"books": [{"name": "main", "layers": [{"name": "W", "legs": [
        {"symbol": "VIXW261014C00018000", "quantity": 5, "entry_price": 0.9}]}]}]}, Portfolio)
    engine = Engine(settings(), book)
    engine.ingest([*futures, Quote(sym="VIX", ts=now, last=16.4),
                   Quote(sym="VIXW261014C00018000", ts=now, bid=0.85, ask=0.95)])
    c = engine.evaluate(now)
    leg = legs(c)["VIXW261014C00018000"]
    assert leg["priced"] and leg["source"] == "mid"
    inputs = leg["inputs"]
    assert inputs["forward_method"] == "future_interpolated"  # type: ignore[index]
    # linear in time between 16.95 (settles 10-07 09:30 ET) and 17.03 (10-21): halfway
    assert inputs["forward"] == pytest.approx((16.95 + 17.03) / 2, abs=1e-9)  # type: ignore[index]
    assert math.isfinite(float(c.state.book_vega_usd[0]))
    assert c.rules is not None
    curve = c.rules.analysis.curve
    assert [(p.symbol, p.source) for p in curve.points][:2] == [
        ("VX261021", "last"), ("VX261118", "last")]
    assert math.isfinite(curve.contango)


# --- the Cboe capture as the only futures source ----------------------------------------------


class CboeCaptureWorld(World):
    """The rules' world whose only VX futures are the recorded Cboe file's rows, as the Cboe feed
    parses them (last-only, one monthly with its settlement only, cloned weekly settlements),
    re-dated to the world's clock; everything else quoted by the simulator."""

    def __init__(self) -> None:
        super().__init__()
        raw = msgspec.json.decode((RESOURCES / "get_quotes_combined.json").read_bytes())
        self.file = raw

    def quote(self) -> list[Quote]:
        chicago = dt.datetime.fromtimestamp(self.now_ns / S, dt.UTC).astimezone(
            ZoneInfo("America/Chicago"))
        body = msgspec.json.encode({**self.file, "lastUpdate": chicago.isoformat()})
        futures = cboe.parse_futures(body, self.now_ns)
        return [q for q in super().quote() if not q.sym.startswith("VX")] + futures


def test_the_cboe_capture_alone_gives_the_curve_contango_and_the_term_structure_rule() -> None:
    w = CboeCaptureWorld()
    c = w.tick()
    assert c.rules is not None
    curve = c.rules.analysis.curve
    # every monthly in the capture, each with where its mark came from
    assert [(p.symbol, p.source) for p in curve.points] == [
        ("VX261216", "last"), ("VX270120", "settle"), ("VX270217", "last")]
    assert curve.contango == pytest.approx(19.6021 / 18.85 - 1)  # second month over front
    assert condition(c, "term_structure|market|backwardation") == "clear"
    doc = snapshot.build(c)
    assert [(p["symbol"], p["source"]) for p in doc["rules"]["curve"]["points"]] == [
        ("VX261216", "last"), ("VX270120", "settle"), ("VX270217", "last")]
    reg = CollectorRegistry()
    reg.register(RulesCollector(lambda: c))
    assert reg.get_sample_value("vixmon_vx_future_price", {"months_out": "2"}) == 19.6021
    # the December VIX layer is priced on its own future's last trade, and the book is finite
    layer = legs(c)["VIX261216C00020000"]
    assert layer["priced"] and layer["source"] == "mid"
    assert layer["inputs"]["forward"] == pytest.approx(18.85)  # type: ignore[index]
    for arr in (c.state.book_vega_usd, c.state.book_theta_usd, c.state.book_delta_vix_1pct_usd):
        assert math.isfinite(float(arr[0]))
