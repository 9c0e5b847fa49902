"""Delivery metrics, registered on the registry the app passes in.

``vixmon_alert_deliveries_total{sink,outcome}`` counts events: ``delivered`` (2xx), ``retried``
(an attempt failed and will be retried), ``dead`` (moved to the dead-letter stream),
``disabled`` (the attempt disabled the sink; the events stay in the outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OUTCOMES = ("delivered", "retried", "dead", "disabled")
LATENCY_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 1800.0, 3600.0, 21600.0, 86400.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SinkMetrics:
    """The metric children of one sink, bound once."""

    delivered: Counter
    retried: Counter
    dead: Counter
    disabled: Counter
    latency_s: Histogram
    pending: Gauge
    enabled: Gauge


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry, sinks: Sequence[str]) -> None:
        self.deliveries = Counter(
            "vixmon_alert_deliveries",
            "Alert events per sink and outcome (delivered, retried, dead, disabled).",
            ["sink", "outcome"],
            registry=registry,
        )
        self.latency_s = Histogram(
            "vixmon_alert_delivery_latency_seconds",
            "Time from alert creation to the sink's 2xx.",
            ["sink"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.pending = Gauge(
            "vixmon_alert_outbox_pending",
            "Outbox events a sink has not finished (pending in its group plus unread).",
            ["sink"],
            registry=registry,
        )
        self.enabled = Gauge(
            "vixmon_alert_sink_enabled",
            "1 while the sink delivers; 0 once the destination said it is gone.",
            ["sink"],
            registry=registry,
        )
        self.data_loss = Counter(
            "vixmon_alert_outbox_data_loss",
            "Times the outbox consumer groups were found gone (Redis lost data).",
            registry=registry,
        )
        self._sinks = {name: self._bind(name) for name in sinks}

    def sink(self, name: str) -> SinkMetrics:
        return self._sinks[name]

    def _bind(self, name: str) -> SinkMetrics:
        counters = {o: self.deliveries.labels(sink=name, outcome=o) for o in OUTCOMES}
        return SinkMetrics(
            delivered=counters["delivered"],
            retried=counters["retried"],
            dead=counters["dead"],
            disabled=counters["disabled"],
            latency_s=self.latency_s.labels(sink=name),
            pending=self.pending.labels(sink=name),
            enabled=self.enabled.labels(sink=name),
        )
