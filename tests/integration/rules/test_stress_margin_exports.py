"""The stress grid, margin requirement and realized P&L in the snapshot and on /metrics."""

from __future__ import annotations

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from monitor import snapshot
from monitor.engine import Cycle
from monitor.rules.config import StressConfig
from monitor.rules.margin import BrokerAccount
from monitor.rules_metrics import RulesCollector
from tests.unit.rules.rules_world import World, portfolio


@pytest.fixture(scope="module")
def world() -> tuple[World, Cycle]:
    w = World()
    w.engine.reconcile_ledger(w.now_ns)
    w.tick()
    w.tick(vol=0.40)
    pf = portfolio(layer_qty=1)
    w.engine.set_portfolio(pf)
    w.engine.reconcile_ledger(w.now_ns)  # 3 of the 4 L1 calls sold at the bid
    return w, w.silent(0.0)


def registry(cycle: Cycle) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(RulesCollector(lambda: cycle))
    return reg


def test_the_snapshot_has_each_books_grid_requirement_and_coverage(
    world: tuple[World, Cycle],
) -> None:
    doc = msgspec.json.decode(msgspec.json.encode(snapshot.build(world[1])))
    st = doc["books"][0]["rules"]["stress"]
    cfg = StressConfig()
    assert len(st["grid"]) == len(cfg.spot_shocks) * len(cfg.vol_band)
    assert set(st["grid"][0]) == {
        "spot_shock", "vol_shift", "pnl_usd", "requirement_usd", "call_usd", "coverage"
    }  # fmt: skip
    assert st["requirement_usd"] == 100 * 100 * 2 and st["requirement_source"] == "model"
    assert [m["kind"] for m in st["margin"]] == ["condor"]
    worst = max(st["grid"], key=lambda g: g["call_usd"])
    assert st["worst_call_usd"] == worst["call_usd"]
    assert st["coverage"] == pytest.approx(st["coverage_assets_usd"] / st["worst_call_usd"], 1e-3)


def test_the_snapshot_lists_the_realized_pnl_and_each_condors_share(
    world: tuple[World, Cycle],
) -> None:
    doc = snapshot.build(world[1])
    rules = doc["books"][0]["rules"]
    assert [(r["structure"], r["quantity"], r["source"]) for r in rules["realized"]] == [
        ("L1", 3, "marks")
    ]
    condor = rules["breakevens"][0]
    assert condor["realized_pnl_usd"] == pytest.approx(rules["realized"][0]["realized_usd"])
    assert condor["overlay_pnl_usd"] == pytest.approx(
        condor["realized_pnl_usd"] + condor["hedge_open_pnl_usd"]
    )


def test_margin_requirement_coverage_and_realized_pnl_are_exported(
    world: tuple[World, Cycle],
) -> None:
    cycle = world[1]
    reg = registry(cycle)
    assert cycle.rules is not None
    st = cycle.rules.analysis.stress
    assert reg.get_sample_value(
        "vixmon_margin_requirement_usd", {"book": "main", "source": "model"}
    ) == pytest.approx(20_000.0)
    assert reg.get_sample_value("vixmon_stress_coverage_ratio", {"book": "main"}) == pytest.approx(
        st.coverage[0]
    )
    assert reg.get_sample_value("vixmon_stress_worst_call_usd", {"book": "main"}) == pytest.approx(
        st.worst_call_usd[0]
    )
    realized = reg.get_sample_value("vixmon_realized_pnl_usd", {"book": "main"})
    assert realized is not None and realized > 0


def test_a_broker_requirement_is_exported_with_its_source(world: tuple[World, Cycle]) -> None:
    w = world[0]
    w.engine.accounts["main"] = BrokerAccount(requirement_usd=21_500.0, source="tastytrade")
    try:
        reg = registry(w.silent(0.0))
    finally:
        w.engine.accounts.clear()
    labels = {"book": "main", "source": "broker"}
    assert reg.get_sample_value("vixmon_margin_requirement_usd", labels) == 21_500.0
