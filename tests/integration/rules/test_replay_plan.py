"""`vixmon replay` reports each roll plan with its inputs; a session where two layers pop
together gives one plan per book, checked against a brute force over its own inputs."""

from __future__ import annotations

import gzip
import io
import itertools
import math
from typing import Any

import msgspec
import pytest

from adapters.simulator.market import MarketParams, SimMarket
from monitor import replay_report, settings
from tests.unit.plan.plan_world import OPEN_NS, Desk

S = 1_000_000_000


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two recorded minutes of the trader's book; a shock after 30 s lifts L1 and L2 together."""
    desk = Desk()
    shock = MarketParams(spike_vol_mult=1.9, spike_spx_gap=-0.03)
    market = SimMarket(1, OPEN_NS, OPEN_NS + 30 * S, shock)
    enc, buf = msgspec.json.Encoder(), io.BytesIO()
    for i in range(25):
        if i:
            for _ in range(5):
                market.step(1.0)
        buf.write(enc.encode(market.quotes(desk.instruments)) + b"\n")
    path = tmp_path_factory.mktemp("replay") / "two-layers.jsonl.gz"
    path.write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    loaded = msgspec.structs.replace(settings.load(), portfolio=desk.portfolio)
    return replay_report.run(path, loaded)


def brute_force_residual(p: dict[str, Any]) -> float:
    """Smallest |net vega after - baseline| over every harvest, candidate and quantity the
    plan's own inputs allow (budget at the band's top, the martingale cap)."""
    layers = p["harvest"]
    hi = p["recycle_band"][1]
    best = math.inf
    for h in itertools.product(*(range(x["units"] + 1) for x in layers)):
        if p["harvest_mode"] == "full" and list(h) != [x["units"] for x in layers]:
            continue
        if not any(h):
            continue
        pairs = list(zip(h, layers, strict=True))
        gain = sum(
            n * (x["proceeds_usd_per_unit"] - x["entry_cost_usd_per_unit"]) for n, x in pairs
        )
        after = p["vega_now_usd"] - sum(n * x["vega_usd_per_unit"] for n, x in pairs)
        cap = math.floor(
            p["martingale_coefficient"] * sum(n * x["contracts_per_unit"] for n, x in pairs) + 1e-9
        )
        best = min(best, abs(after - p["vega_baseline_usd"]))
        for c in p["candidates"]:
            for q in range(1, cap + 1):
                if q * c["cost_usd_per_unit"] > hi * max(gain, 0.0) + 0.05:
                    break
                best = min(best, abs(after + q * c["vega_usd_per_unit"] - p["vega_baseline_usd"]))
    return best


def test_the_report_lists_each_plan_with_its_inputs(report: dict[str, Any]) -> None:
    assert report["plans"], "the shock makes layers pop"
    p = report["plans"][0]
    for field in ("vega_now_usd", "vega_after_harvest_usd", "vega_after_roll_usd",
                  "vega_baseline_usd", "roll_contracts", "roll_cost_usd",
                  "recycle_fraction_used", "binding", "preconditions", "candidates",
                  "harvest", "time_et", "action_text"):  # fmt: skip
        assert field in p
    md = replay_report.markdown(report)
    assert "## Roll plans" in md and "precondition: term_structure" in md


def test_two_layers_popping_together_get_one_plan_that_a_brute_force_cannot_beat(
    report: dict[str, Any],
) -> None:
    both = [p for p in report["plans"] if len(p["harvest"]) >= 2]
    assert both, "L1 and L2 reach their threshold in the same cycle"
    for p in both:
        assert {h["layer"] for h in p["harvest"]} >= {"L1-DEC", "L2-MAR"}
        residual = abs(p["vega_after_roll_usd"] - p["vega_baseline_usd"])
        unit = max([c["vega_usd_per_unit"] for c in p["candidates"]] or [0.0])
        assert residual <= brute_force_residual(p) + unit + 0.05
        assert p["roll_cost_usd"] <= p["budget_usd"] + 0.01
        assert p["roll_contracts"] <= p["martingale_cap_contracts"]
    # every layer-gain alert of that cycle carries that same plan
    first = both[0]
    alerts = [
        a for a in report["alerts"] if a["rule"] == "layer_gain" and a["ts_ns"] == first["ts_ns"]
    ]
    assert alerts and all(a["advisory"]["harvest"] == first["harvest"] for a in alerts)
