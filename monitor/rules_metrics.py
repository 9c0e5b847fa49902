"""Prometheus metrics of the risk rules, read from the latest engine cycle at scrape time.

Every value comes from the cycle's rule analyses (``Cycle.rules``), so a scrape never sees half a
cycle and never recomputes anything heavy. Labels are bounded: book, structure (condor and layer
names from the portfolio), side (lower/upper), months_out (1..curve_months), timeframe, event
kind, rule and condition — never a contract symbol. Points in time are Unix timestamps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.engine import Cycle
from monitor.model import CONTRACT_MULTIPLIER
from monitor.rules.breakeven import SIDES
from monitor.rules.registry import Outcome

NS = 1_000_000_000


def _g(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels or [])


def _add(fam: GaugeMetricFamily, labels: list[str], value: float) -> None:
    if not math.isnan(value):
        fam.add_metric(labels, value)


class RulesCollector(Collector):
    """Export the rules' numbers and states of the latest cycle."""

    def __init__(self, cycle: Callable[[], Cycle | None]) -> None:
        self._cycle = cycle

    def collect(self) -> Iterable[Metric]:
        cycle = self._cycle()
        if cycle is None or cycle.rules is None:
            return
        out = cycle.rules
        yield from _breakevens(cycle, out)
        yield from _curve(out)
        yield from _books(cycle, out)
        yield from _momentum(out)
        yield from _calendar(out)
        yield from _layers(cycle, out)
        yield from _quality(cycle, out)
        yield from _rule_keys(out)


def _breakevens(cycle: Cycle, out: Outcome) -> Iterator[Metric]:
    be, idx = out.analysis.breakevens, cycle.state.index
    points = _g(
        "vixmon_breakeven_points",
        "Condor break-even at expiry, hedge P&L counted (SPX points; -Inf/+Inf: none on that side)",
        ["book", "structure", "side"],
    )
    base = _g(
        "vixmon_breakeven_baseline_points",
        "Break-even at the session open or the last position change",
        ["book", "structure", "side"],
    )
    dist = _g(
        "vixmon_breakeven_distance_sigma",
        "Break-even distance from the forward in smile sigmas",
        ["book", "structure", "side"],
    )
    move = _g(
        "vixmon_expected_move_points",
        "1 sigma expected move to the condor's expiry",
        ["book", "structure"],
    )
    for c in range(len(be.condors)):
        s = int(be.condors.struct[c])
        book, name = idx.book_names[int(be.condors.book[c])], idx.struct_names[s]
        _add(move, [book, name], float(be.expected_move[c]))
        for j, side in enumerate(SIDES):
            _add(points, [book, name, side], float(be.points[c, j]))
            _add(base, [book, name, side], float(out.analysis.be_baseline[c, j]))
            _add(dist, [book, name, side], float(be.distance_sigma[c, j]))
    yield from (points, base, dist, move)


def _curve(out: Outcome) -> Iterator[Metric]:
    curve = out.analysis.curve
    price = _g(
        "vixmon_vx_future_price",
        "Monthly VX future mark (mid, else recent last trade, else settlement) by months out",
        ["months_out"],
    )
    source = _g(
        "vixmon_vx_future_price_source",
        "1 for the mark source (mid, last, settle) of each monthly VX price",
        ["months_out", "source"],
    )
    age = _g(
        "vixmon_vx_future_price_age_seconds",
        "Age of the quote carrying each monthly VX mark",
        ["months_out"],
    )
    settles = _g(
        "vixmon_vx_future_settlement_timestamp_seconds",
        "The monthly's final settlement (09:30 ET special opening quotation), Unix time",
        ["months_out"],
    )
    for p in curve.points:
        price.add_metric([str(p.months_out)], p.price)
        source.add_metric([str(p.months_out), p.source], 1.0)
        age.add_metric([str(p.months_out)], p.age_s)
        settles.add_metric([str(p.months_out)], p.settle_ns / NS)
    contango = _g("vixmon_vx_contango_ratio", "Front/second VX contango F2/F1 - 1")
    _add(contango, [], curve.contango)
    ratio = _g("vixmon_vix_vix3m_ratio", "VIX / VIX3M")
    _add(ratio, [], curve.vix_vix3m)
    yield from (price, source, age, settles, contango, ratio)


def _books(cycle: Cycle, out: Outcome) -> Iterator[Metric]:
    a, books = out.analysis, cycle.state.index.book_names
    fams = {
        "vixmon_book_vega_baseline_usd": (
            "The book's vega baseline: the roll plan's target (first valid cycle, command, plan)",
            a.vega_baseline,
        ),
        "vixmon_stress_worst_loss_usd": (
            "Worst loss on the spot-vol stress grid",
            a.stress.worst_loss_usd,
        ),
        "vixmon_stress_worst_call_usd": (
            "Worst variation call on the grid: requirement increase plus loss",
            a.stress.worst_call_usd,
        ),
        "vixmon_stress_coverage_ratio": (
            "(cash - short marks + near-term premium to earn) / worst variation call",
            a.stress.coverage,
        ),
        "vixmon_stress_coverage_assets_usd": (
            "Cash minus short marks plus near-term theta-positive premium still to be earned",
            a.stress.assets_usd,
        ),
        "vixmon_realized_pnl_usd": (
            "Realized P&L in the ledger (closed and reduced structures)",
            np.array([0.0 if a.ledger is None else a.ledger.realized_usd(b) for b in books]),
        ),
    }
    for name, (doc, arr) in fams.items():
        fam = _g(name, doc, ["book"])
        for b, book in enumerate(books):
            _add(fam, [book], float(arr[b]))
        yield fam
    req = _g(
        "vixmon_margin_requirement_usd",
        "Strategy-based margin requirement now (source: model, or broker when reported)",
        ["book", "source"],
    )
    for b, book in enumerate(books):
        src = "model" if a.stress.requirement_source[b] == "model" else "broker"
        _add(req, [book, src], float(a.stress.requirement_now_usd[b]))
    yield req


def _momentum(out: Outcome) -> Iterator[Metric]:
    m = out.analysis.momentum
    rsi = _g("vixmon_vix_rsi", "RSI(14) of VIX index closes", ["timeframe"])
    hist = _g(
        "vixmon_vix_macd_diff",
        "MACD(12,26,9) histogram (line - signal) of VIX closes",
        ["timeframe"],
    )
    bars = _g("vixmon_vix_bars", "Completed VIX bars the indicators read", ["timeframe"])
    for tf, ind in m.by_timeframe.items():
        _add(rsi, [tf], ind.rsi)
        _add(hist, [tf], ind.histogram)
        bars.add_metric([tf], float(ind.bars))
    mr = _g(
        "vixmon_vix_mean_reversion_likely",
        "1 while the MACD histogram contracts in contango (absent while unknown)",
    )
    if m.mean_reversion is not None:
        mr.add_metric([], float(m.mean_reversion))
    yield from (rsi, hist, bars, mr)


def _calendar(out: Outcome) -> Iterator[Metric]:
    fam = _g(
        "vixmon_next_event_timestamp_seconds", "Time of the next macro event, Unix time", ["kind"]
    )
    a = out.analysis
    if a.next_event is not None:
        fam.add_metric(["any"], a.next_event.ts_ns / NS)
    for kind, ev in sorted(a.next_by_kind.items()):
        fam.add_metric([kind], ev.ts_ns / NS)
    yield fam


def _layers(cycle: Cycle, out: Outcome) -> Iterator[Metric]:
    st, idx = cycle.state, cycle.state.index
    n_s = len(idx.struct_names)
    exit_px = np.where(idx.leg_qty > 0, st.leg_bid, st.leg_ask)
    proceeds = np.bincount(
        idx.leg_struct, idx.leg_qty * CONTRACT_MULTIPLIER * exit_px, minlength=n_s
    )
    gain = _g(
        "vixmon_layer_harvestable_gain_usd",
        "Selling the layer at the touch minus its entry cost",
        ["book", "structure"],
    )
    size = _g("vixmon_layer_contracts", "Contracts held in the layer", ["book", "structure"])
    contracts = np.bincount(idx.leg_struct, np.abs(idx.leg_qty), minlength=n_s)
    for s, kind in enumerate(idx.struct_kind):
        if kind == "layer":
            labels = [idx.book_names[int(idx.struct_book[s])], idx.struct_names[s]]
            _add(gain, labels, float(proceeds[s] - st.struct_cost_usd[s]))
            size.add_metric(labels, float(contracts[s]))
    cands = _g("vixmon_roll_candidates", "Live roll candidates (45-90 DTE VIX calls 8-12% OTM)")
    cands.add_metric([], float(len(out.analysis.roll_candidates)))
    yield from (gain, size, cands)


def _quality(cycle: Cycle, out: Outcome) -> Iterator[Metric]:
    q = out.analysis.quality
    stale = _g("vixmon_market_stale", "1 while no instrument has quoted for stale_after_s")
    stale.add_metric([], float(q.market_stale))
    newest = _g(
        "vixmon_market_last_quote_timestamp_seconds",
        "Event time of the newest quote the engine applied, Unix time",
    )
    _add(newest, [], cycle.now_ns / NS - q.quote_age_s)
    crossed = _g(
        "vixmon_quotes_crossed_locked_ratio", "Share of two-sided quotes crossed or locked"
    )
    crossed.add_metric([], q.crossed_locked_ratio)
    unmarked = _g("vixmon_book_unmarked_legs", "Legs without a fresh usable mark", ["book"])
    for b, book in enumerate(cycle.state.index.book_names):
        unmarked.add_metric([book], float(q.unmarked_legs[b]))
    yield from (stale, newest, crossed, unmarked)


def _rule_keys(out: Outcome) -> Iterator[Metric]:
    fam = _g(
        "vixmon_rule_keys",
        "Alert keys per rule, book and condition (breach, hold, unknown; every other key is clear)",
        ["rule", "book", "condition"],
    )
    for (rule, book, condition), n in sorted(out.conditions().items()):
        fam.add_metric([rule, book, condition], float(n))
    yield fam
