"""deploy/prometheus and deploy/alertmanager: promtool and amtool accept them, every alert has a
unit test, the rules follow the monitoring-mixin conventions, and they query real metrics."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.settings import HttpConfig
from tests.deploy.conftest import DEPLOY, LiveDemo
from tests.deploy.promql import SYNTHETIC, series_names

PROMETHEUS = DEPLOY / "prometheus"
RULES = PROMETHEUS / "rules" / "vixmon.yml"
RULE_TESTS = PROMETHEUS / "tests" / "vixmon.test.yml"
SEVERITIES = {"critical", "warning", "info"}
ISSUE_ALERTS = {
    "VixmonDown", "VixmonFeedStale", "VixmonConsumerLagGrowing", "VixmonAlertOutboxBacklog",
    "VixmonAlertSinkDisabled", "VixmonConfigReloadFailed", "VixmonDataLoss",
}  # fmt: skip


def run(*argv: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], input=stdin, capture_output=True, text=True, check=False
    )


def alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_prometheus_config_and_rules_pass_promtool_check(promtool: Path) -> None:
    done = run(promtool, "check", "config", PROMETHEUS / "prometheus.yml")  # loads the rules too
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 11 rules found" in done.stdout


def test_alert_unit_tests_pass(promtool: Path) -> None:
    done = run(promtool, "test", "rules", RULE_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_follow_the_mixin_conventions() -> None:
    for rule in alerts():
        assert re.fullmatch(r"Vixmon(?:[A-Z][a-z0-9]*)+", rule["alert"]), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description"}, rule["alert"]
        assert rule["annotations"]["summary"].endswith("."), rule["alert"]


def test_the_issues_alerts_exist() -> None:
    assert ISSUE_ALERTS <= {r["alert"] for r in alerts()}


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    for rule in alerts():
        mine = [c for c in cases if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{rule['alert']}: no firing case"
        assert any(not c["exp_alerts"] for c in mine), f"{rule['alert']}: no quiet case"


def test_scrape_config_targets_the_compose_services_on_the_http_port() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "vixmon"]
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    port = HttpConfig().port
    assert targets == {f"vixmon-engine:{port}", f"vixmon-ingest:{port}"}
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert {t.split(":")[0] for t in targets} <= set(services)
    assert config["rule_files"] == ["rules/*.yml"]


def test_alertmanager_config_passes_amtool(amtool: Path) -> None:
    done = run(amtool, "check-config", DEPLOY / "alertmanager" / "alertmanager.yml")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_every_metric_a_rule_queries_is_in_the_demos_scrape(live_demo: LiveDemo) -> None:
    exposed = live_demo.scrape.series_names() | SYNTHETIC
    missing = {f"{r['alert']}: {n}" for r in alerts() for n in series_names(r["expr"]) - exposed}
    assert not missing, "metrics not in the demo's /metrics:\n" + "\n".join(sorted(missing))


@pytest.mark.slow
def test_the_live_scrape_passes_promtool_check_metrics(promtool: Path, live_demo: LiveDemo) -> None:
    done = run(promtool, "check", "metrics", stdin=live_demo.scrape.text)
    assert done.returncode == 0, done.stdout + done.stderr
