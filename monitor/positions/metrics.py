"""Prometheus view of the account sources: age and staleness of positions, broker margin."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.positions.accounts import AccountState


class AccountCollector(Collector):
    """Per account source (label ``source``, bounded: one per ``[[accounts]]`` entry)."""

    def __init__(self, states: Callable[[], Sequence[AccountState]],
                 now_ns: Callable[[], int],
                 unplaced: Callable[[str], int] = lambda source: 0) -> None:
        self._states = states
        self._now_ns = now_ns
        self._unplaced = unplaced

    def collect(self) -> Iterable[Metric]:
        labels = ["source", "book"]
        age = GaugeMetricFamily("vixmon_account_positions_age_seconds",
                                "Seconds since the last full positions snapshot", labels=labels)
        stale = GaugeMetricFamily("vixmon_account_stale",
                                  "1 while the broker has been silent past stale_after_s",
                                  labels=labels)
        positions = GaugeMetricFamily("vixmon_account_positions",
                                      "Positions held (symbols)", labels=labels)
        req = GaugeMetricFamily("vixmon_account_maintenance_requirement_usd",
                                "Broker-reported maintenance requirement", labels=labels)
        cash = GaugeMetricFamily("vixmon_account_cash_usd", "Broker-reported cash",
                                 labels=labels)
        unplaced = GaugeMetricFamily(
            "vixmon_account_unplaced_positions",
            "Positions the recognizer could not place in a condor or layer (listed per book in "
            "/api/v1/snapshot)", labels=labels)
        now = self._now_ns()
        for st in self._states():
            key = [st.source, st.book]
            if st.snapshot_ns:
                age.add_metric(key, st.age_s(now))
            stale.add_metric(key, 1.0 if st.stale(now) else 0.0)
            positions.add_metric(key, float(len(st.positions)))
            unplaced.add_metric(key, float(self._unplaced(st.source)))
            broker = st.broker_account()
            if broker is not None and broker.requirement_usd is not None:
                req.add_metric(key, broker.requirement_usd)
            if broker is not None and broker.cash_usd is not None:
                cash.add_metric(key, broker.cash_usd)
        yield from (age, stale, positions, unplaced, req, cash)
