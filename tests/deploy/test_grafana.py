"""deploy/grafana: provisioning, dashboard structure, valid PromQL, and metrics that exist."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, LiveDemo
from tests.deploy.promql import SYNTHETIC, template_series_names

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
BUILD = GRAFANA / "build_dashboards.py"


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def panels(path: Path) -> list[dict[str, Any]]:
    return [p for p in load(path)["panels"] if p["type"] != "row"]


def variables(path: Path) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in load(path)["templating"]["list"]}


def queries(path: Path) -> list[tuple[str, str]]:
    """(where, expr) of every panel target and templating query of a dashboard."""
    out = [(f"{path.name}: {p['title']}", t["expr"]) for p in panels(path) for t in p["targets"]]
    for var in variables(path).values():
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        out.append((f"{path.name}: variable ${var['name']}", query))
    return out


def grafana_to_promql(expr: str) -> str:
    """Substitute Grafana's variables so promtool can parse the query."""
    for var, value in {"$__rate_interval": "1m", "$book": ".*", "$job": "vixmon"}.items():
        expr = expr.replace(var, value)
    return expr


def test_the_dashboards_are_the_builders_output() -> None:
    done = subprocess.run(
        [sys.executable, BUILD, "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_reads_the_datasource_variable_defaulting_to_the_provisioned_one(
    path: Path,
) -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/vixmon.yaml").read_text())
    [source] = provisioned["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    var = variables(path)["datasource"]
    assert (var["type"], var["query"]) == ("datasource", "prometheus")
    assert var["current"]["value"] == source["uid"]
    for p in panels(path):
        uids = {p["datasource"]["uid"], *(t["datasource"]["uid"] for t in p["targets"])}
        assert uids == {"${datasource}"}, p["title"]
    assert variables(path)["job"]["datasource"]["uid"] == "${datasource}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_vixmon_selector_takes_the_job_variable_and_none_is_hard_coded(path: Path) -> None:
    """So the dashboards import into a Grafana whose Prometheus calls the job otherwise."""
    assert 'job=\\"vixmon\\"' not in path.read_text()
    job = variables(path)["job"]
    assert job["query"]["query"] == "label_values(vixmon_build_info, job)"
    assert job["current"]["value"] == "vixmon"
    for where, expr in queries(path):
        if where.endswith("variable $job"):
            continue
        selectors = re.findall(r"\b(vixmon_\w+|up|ALERTS)\{([^}]*)\}", expr)
        assert selectors, f"{where}: {expr}"
        for name, matchers in selectors:
            assert 'job=~"$job"' in matchers, f"{where}: {name}{{{matchers}}}"


def test_dashboard_provider_reads_the_folder_compose_mounts() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/vixmon.yaml").read_text())
    [entry] = provider["providers"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{entry['options']['path']}:ro" in mounts


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_have_unique_ids_queries_and_no_overlap(path: Path) -> None:
    doc = load(path)
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in doc["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine
    assert all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in panels(path))


def test_the_panels_the_issue_asks_for_are_there() -> None:
    book = {p["title"]: p for p in panels(GRAFANA / "dashboards/vixmon-book.json")}
    pipeline = {p["title"] for p in panels(GRAFANA / "dashboards/vixmon-pipeline.json")}
    assert {
        "Layer gain ratio", "Net Greeks now", "Break-evens",
        "Break-even distance against the ±1σ band", "VX futures curve",
        "Contango and VIX/VIX3M", "Stress coverage", "Alert states", "Next macro event",
    } <= set(book)  # fmt: skip
    assert {
        "Quotes ingested / s", "Quotes rejected / s by reason", "Consumer lag and pending",
        "Deliveries / s by outcome", "Delivery latency", "Feed connected",
    } <= pipeline  # fmt: skip
    gain = book["Layer gain ratio"]["fieldConfig"]["defaults"]
    assert gain["custom"]["thresholdsStyle"]["mode"] == "line+area"
    assert [s["value"] for s in gain["thresholds"]["steps"]] == [None, 1.5, 2.0]


def test_every_query_is_valid_promql(promtool: Path, tmp_path: Path) -> None:
    rules = [
        {"record": f"check:query_{i}", "expr": grafana_to_promql(expr)}
        for path in DASHBOARDS
        for i, (_where, expr) in enumerate(queries(path))
        if not expr.startswith("label_values(")
    ]
    rule_file = tmp_path / "queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    done = subprocess.run(
        [promtool, "check", "rules", rule_file], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_every_metric_a_dashboard_queries_is_in_the_demos_scrape(live_demo: LiveDemo) -> None:
    exposed = live_demo.scrape.series_names() | SYNTHETIC
    missing = {
        f"{where}: {name}"
        for path in DASHBOARDS
        for where, expr in queries(path)
        for name in template_series_names(expr) - exposed
    }
    assert not missing, "metrics not in the demo's /metrics:\n" + "\n".join(sorted(missing))
