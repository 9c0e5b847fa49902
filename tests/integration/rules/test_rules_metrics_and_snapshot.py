"""Every rule's numbers on /metrics (a fresh registry per test) and in the snapshot."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from monitor import snapshot
from monitor.engine import Cycle
from monitor.rules_metrics import RulesCollector
from tests.unit.rules.rules_world import World


@pytest.fixture(scope="module")
def cycle() -> Cycle:
    w = World()
    w.tick()
    return w.tick(vol=0.30)


@pytest.fixture
def registry(cycle: Cycle) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(RulesCollector(lambda: cycle))
    return reg


def test_break_even_expected_move_and_sigma_distance_are_exported(
    registry: CollectorRegistry, cycle: Cycle
) -> None:
    assert cycle.rules is not None
    be = cycle.rules.analysis.breakevens
    labels = {"book": "main", "structure": "IC", "side": "lower"}
    assert registry.get_sample_value("vixmon_breakeven_points", labels) == be.lower[0]
    assert registry.get_sample_value("vixmon_breakeven_distance_sigma", labels) == pytest.approx(
        be.distance_sigma[0, 0]
    )
    move = registry.get_sample_value(
        "vixmon_expected_move_points", {"book": "main", "structure": "IC"}
    )
    assert move == pytest.approx(be.expected_move[0])


def test_the_vx_curve_is_exported_per_month_out(registry: CollectorRegistry) -> None:
    f1 = registry.get_sample_value("vixmon_vx_future_price", {"months_out": "1"})
    f2 = registry.get_sample_value("vixmon_vx_future_price", {"months_out": "2"})
    assert f1 and f2
    contango = registry.get_sample_value("vixmon_vx_contango_ratio")
    assert contango == pytest.approx(f2 / f1 - 1)
    assert registry.get_sample_value("vixmon_vix_vix3m_ratio") is not None


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("vixmon_book_vega_baseline_usd", {"book": "main"}),
        ("vixmon_stress_worst_loss_usd", {"book": "main"}),
        ("vixmon_stress_coverage_ratio", {"book": "main"}),
        ("vixmon_vix_bars", {"timeframe": "1m"}),
        ("vixmon_layer_harvestable_gain_usd", {"book": "main", "structure": "L1"}),
        ("vixmon_layer_contracts", {"book": "main", "structure": "L1"}),
        ("vixmon_roll_candidates", None),
        ("vixmon_market_stale", None),
        ("vixmon_quotes_crossed_locked_ratio", None),
        ("vixmon_book_unmarked_legs", {"book": "main"}),
    ],
)
def test_each_rule_family_has_its_metric(
    registry: CollectorRegistry, name: str, labels: dict[str, str] | None
) -> None:
    assert registry.get_sample_value(name, labels or {}) is not None


def test_points_in_time_are_unix_timestamps_not_ages_or_countdowns(
    registry: CollectorRegistry, cycle: Cycle
) -> None:
    assert cycle.rules is not None
    a, now_s = cycle.rules.analysis, cycle.now_ns / 1e9
    front = a.curve.points[0]
    settle = registry.get_sample_value(
        "vixmon_vx_future_settlement_timestamp_seconds", {"months_out": "1"}
    )
    assert settle == pytest.approx(front.settle_ns / 1e9) and settle > now_s
    if a.next_event is not None:
        at = registry.get_sample_value("vixmon_next_event_timestamp_seconds", {"kind": "any"})
        assert at == pytest.approx(a.next_event.ts_ns / 1e9)
    newest = registry.get_sample_value("vixmon_market_last_quote_timestamp_seconds")
    assert newest == pytest.approx(now_s - a.quality.quote_age_s)
    names = {m.name for m in registry.collect()}
    assert not {n for n in names if n.endswith(("_age_seconds", "_until_seconds"))} - {
        "vixmon_vx_future_price_age_seconds"  # the mark's own age (issue 13), see docs/metrics.md
    }


def test_every_per_structure_metric_labels_it_structure(registry: CollectorRegistry) -> None:
    for metric in registry.collect():
        for sample in metric.samples:
            assert "layer" not in sample.labels and "condor" not in sample.labels, sample


def test_unknown_rule_states_are_counted_per_rule_book_and_condition(
    registry: CollectorRegistry,
) -> None:
    labels = {"rule": "vix_momentum", "book": "market", "condition": "unknown"}
    assert registry.get_sample_value("vixmon_rule_keys", labels) == 1.0
    assert (
        registry.get_sample_value(
            "vixmon_rule_keys", {"rule": "layer_gain", "book": "main", "condition": "breach"}
        )
        == 2.0
    )


def test_the_snapshot_carries_break_evens_stress_curve_and_unknown_keys(cycle: Cycle) -> None:
    doc = snapshot.build(cycle)
    book = doc["books"][0]["rules"]
    assert book["breakevens"][0]["name"] == "IC" and book["stress"]["coverage"] > 0
    assert book["vega_baseline_usd"] is not None
    rules = doc["rules"]
    assert rules["curve"]["points"][0]["months_out"] == 1
    assert {"key": "vix_momentum|market|mean_reversion", "condition": "unknown"}.items() <= next(
        a for a in rules["alerts"] if a["key"].startswith("vix_momentum")
    ).items()
