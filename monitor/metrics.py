"""Prometheus metrics, registered on a registry the app passes in.

Counters and histograms are updated where things happen; per-book values and per-feed stats are
exported by a custom collector that reads the latest engine cycle and the adapters' ``FeedStats``
at scrape time (so a scrape never sees half a cycle). Label values are bounded: book, structure
(a condor's or a hedge layer's name, on every per-structure metric), feed, rule, reason — never a
contract symbol. Points in time are exported as Unix timestamps (``*_timestamp_seconds``), never
as an age or a countdown, so they stay right between scrapes and on replayed market time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapters.base import FeedStats
from monitor.book import PortfolioState
from monitor.market import MARK_SOURCES

VERSION = "0.1.0"

# `_created` series double every counter's cardinality and no dashboard of ours reads them
disable_created_metrics()  # type: ignore[no-untyped-call]


def register_runtime_collectors(registry: CollectorRegistry) -> None:
    """Add prometheus_client's process, platform and GC collectors to ``registry``.

    They export ``process_*`` (CPU, resident memory, open fds, start time), ``python_info`` and
    ``python_gc_*`` as on the library's default registry, which our own registry replaces.
    """
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


class PipelineMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        register_runtime_collectors(registry)
        self.quotes_ingested = Counter(
            "vixmon_quotes_ingested",
            "Valid quotes applied to the engine state",
            ["feed"],
            registry=registry,
        )
        self.quotes_rejected = Counter(
            "vixmon_quotes_rejected",
            "Invalid quotes counted, dead-lettered and skipped",
            ["feed", "reason"],
            registry=registry,
        )
        self.alerts_fired = Counter(
            "vixmon_alerts_fired",
            "Alert notifications emitted (firing only)",
            ["rule", "severity"],
            registry=registry,
        )
        self.alert_events = Counter(
            "vixmon_alert_events",
            "Alert events emitted by status",
            ["rule", "status"],
            registry=registry,
        )
        self.alert_details_failed = Counter(
            "vixmon_alert_details_failed",
            "Alert events sent without their details (summary, values, advice): building them "
            "raised, the log has the trace",
            ["rule"],
            registry=registry,
        )
        self.cycle_seconds = Histogram(
            "vixmon_engine_cycle_seconds",
            "Time to price everything and evaluate rules",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=registry,
        )
        self.book_evaluation_seconds = Histogram(
            "vixmon_engine_book_evaluation_seconds",
            "Time to re-evaluate only the books whose legs' quotes changed",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
            registry=registry,
        )
        self.evaluations = Counter(
            "vixmon_engine_evaluations",
            "Engine evaluations: every book (full) or the changed books only (books)",
            ["kind"],
            registry=registry,
        )
        self.consumer_pending = Gauge(
            "vixmon_quotes_consumer_pending",
            "Quote stream entries read but not yet acked",
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "vixmon_quotes_consumer_lag",
            "Quote stream entries not yet read by the engine group",
            registry=registry,
        )
        self.last_cycle_ts = Gauge(
            "vixmon_engine_last_cycle_timestamp_seconds",
            "Wall time of the last engine cycle",
            registry=registry,
        )
        build = Gauge("vixmon_build_info", "Build information", ["version"], registry=registry)
        build.labels(version=VERSION).set(1)


def _g(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _ok(x: float) -> bool:
    return not math.isnan(x)


class StateCollector(Collector):
    """Export the latest book state and feed stats at scrape time."""

    def __init__(
        self,
        state: Callable[[], PortfolioState | None],
        feeds: Callable[[], Mapping[str, FeedStats]],
    ) -> None:
        self._state = state
        self._feeds = feeds

    def collect(self) -> Iterable[Metric]:
        yield from self._feed_metrics()
        st = self._state()
        if st is not None:
            yield from self._book_metrics(st)

    def _feed_metrics(self) -> Iterator[Metric]:
        feeds = self._feeds()
        last = _g(
            "vixmon_feed_last_quote_timestamp_seconds", "Event time of the newest quote", ["feed"]
        )
        conn = _g("vixmon_feed_connected", "1 while the feed is connected", ["feed"])
        delayed = _g("vixmon_feed_delayed", "1 if the feed carries delayed data", ["feed"])
        msgs = CounterMetricFamily(
            "vixmon_feed_messages", "Venue messages received", labels=["feed"]
        )
        errs = CounterMetricFamily(
            "vixmon_feed_parse_errors", "Venue messages that failed to parse", labels=["feed"]
        )
        rec = CounterMetricFamily("vixmon_feed_reconnects", "Reconnects", labels=["feed"])
        stalls = CounterMetricFamily(
            "vixmon_feed_stalls", "Silences longer than the watchdog allows", labels=["feed"]
        )
        subscribed = _g("vixmon_feed_subscribed_symbols", "Venue symbols subscribed", ["feed"])
        conflated = CounterMetricFamily(
            "vixmon_feed_conflated_quotes",
            "Quotes replaced by a newer one for the same symbol while Redis was slow",
            labels=["feed"],
        )
        pub_errs = CounterMetricFamily(
            "vixmon_feed_publish_errors", "Failed writes of quote batches to Redis", labels=["feed"]
        )
        dropped = CounterMetricFamily(
            "vixmon_feed_dropped_quotes",
            "Quotes an adapter dropped because no valid stream entry can carry them",
            labels=["feed"],
        )
        for name, s in feeds.items():
            last.add_metric([name], s.last_quote_ts_ns / 1e9)
            conn.add_metric([name], float(s.connected))
            delayed.add_metric([name], float(s.delayed))
            msgs.add_metric([name], float(s.messages))
            errs.add_metric([name], float(s.parse_errors))
            rec.add_metric([name], float(s.reconnects))
            stalls.add_metric([name], float(s.stalls))
            subscribed.add_metric([name], float(s.subscribed))
            conflated.add_metric([name], float(s.conflated))
            pub_errs.add_metric([name], float(s.publish_errors))
            dropped.add_metric([name], float(s.dropped))
        yield from (
            last, conn, delayed, msgs, errs, rec, stalls, subscribed, conflated, pub_errs, dropped
        )

    def _book_metrics(self, st: PortfolioState) -> Iterator[Metric]:
        idx = st.index
        gain = _g(
            "vixmon_layer_gain_ratio",
            "(value - entry cost) / |entry cost| of a hedge layer",
            ["book", "structure"],
        )
        value = _g(
            "vixmon_structure_value_usd", "Mark value of a structure", ["book", "structure", "kind"]
        )
        stale = _g(
            "vixmon_structure_stale", "1 if a leg lacks a fresh usable mark", ["book", "structure"]
        )
        for s, name in enumerate(idx.struct_names):
            book = idx.book_names[int(idx.struct_book[s])]
            g, v = float(st.struct_gain_ratio[s]), float(st.struct_value_usd[s])
            if idx.struct_kind[s] == "layer" and _ok(g):
                gain.add_metric([book, name], g)
            if _ok(v):
                value.add_metric([book, name, idx.struct_kind[s]], v)
            stale.add_metric([book, name], float(st.struct_stale[s]))
        yield from (gain, value, stale)
        books = {
            "vixmon_book_delta_spx_1pct_usd": (
                "USD P&L for a 1% SPX move",
                st.book_delta_spx_1pct_usd,
            ),
            "vixmon_book_delta_vix_1pct_usd": (
                "USD P&L for a 1% VIX-futures move",
                st.book_delta_vix_1pct_usd,
            ),
            "vixmon_book_gamma_spx_1pct_usd": (
                "Change of the 1% SPX delta per further 1% move",
                st.book_gamma_spx_1pct_usd,
            ),
            "vixmon_book_vega_usd": ("USD per vol point", st.book_vega_usd),
            "vixmon_book_theta_usd": ("USD per calendar day", st.book_theta_usd),
            "vixmon_book_value_usd": ("Mark value of all structures plus cash", st.book_value_usd),
        }
        for metric, (doc, arr) in books.items():
            fam = _g(metric, doc, ["book"])
            for b, book in enumerate(idx.book_names):
                if _ok(float(arr[b])):
                    fam.add_metric([book], float(arr[b]))
            yield fam
        yield from _mark_metrics(st)


def _mark_metrics(st: PortfolioState) -> Iterator[Metric]:
    """Per book: legs by mark source (mid, last, settle, none) and legs left out unpriced."""
    idx = st.index
    owner = idx.struct_book[idx.leg_struct]
    n_b = len(idx.book_names)
    by_source = _g(
        "vixmon_book_legs_by_mark_source", "Legs per mark source", ["book", "source"]
    )
    for k, name in enumerate(MARK_SOURCES):
        counts = np.bincount(owner, (st.leg_mark_source == k).astype(np.float64), minlength=n_b)
        for b, book in enumerate(idx.book_names):
            by_source.add_metric([book, name], float(counts[b]))
    unpriced = _g(
        "vixmon_book_unpriced_legs", "Legs left out of the book's sums (no price)", ["book"]
    )
    for b, book in enumerate(idx.book_names):
        unpriced.add_metric([book], float(st.book_unpriced_legs[b]))
    yield from (by_source, unpriced)
