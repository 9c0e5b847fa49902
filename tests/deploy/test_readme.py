"""The reference pages against the running code: the metrics tables (docs/metrics.md, the delivery
metrics in docs/alerts.md) and the deployment page (docs/deployment.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import yaml

from monitor.settings import ShutdownConfig
from tests.deploy.conftest import LiveDemo
from tests.support.daemon import ROOT

DOCS = ROOT / "docs"
REFERENCE = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
HEADER = "| name | type | labels | meaning |"


@dataclass(frozen=True)
class Row:
    name: str
    type: str
    labels: frozenset[str]


def metric_rows() -> list[Row]:
    """Every row of every ``| name | type | labels | meaning |`` table in the README and docs/."""
    rows, in_table = [], False
    for line in "\n".join(p.read_text() for p in REFERENCE).splitlines():
        if line.strip() == HEADER:
            in_table = True
            continue
        if in_table and not line.startswith("|"):
            in_table = False
        if in_table and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            labels = frozenset(x.strip() for x in cells[2].split(",") if x.strip())
            rows.append(Row(cells[0].strip("`"), cells[1], labels))
    return rows


def section(title: str, page: str) -> str:
    text = (DOCS / page).read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


@pytest.mark.slow
def test_every_metric_is_documented_once_and_every_documented_metric_exists(
    live_demo: LiveDemo,
) -> None:
    documented = [r.name for r in metric_rows()]
    assert len(documented) == len(set(documented)), "a metric is documented twice"
    exposed = set(live_demo.scrape.vixmon_families())
    assert sorted(exposed - set(documented)) == [], "exposed but not in the reference"
    assert sorted(set(documented) - exposed) == [], "in the reference but not exposed"


@pytest.mark.slow
def test_documented_types_and_labels_match_the_scrape(live_demo: LiveDemo) -> None:
    families = live_demo.scrape.vixmon_families()
    wrong = []
    for row in metric_rows():
        fam = families.get(row.name)
        if fam is None:
            continue  # reported by the test above
        if fam.type != row.type:
            wrong.append(f"{row.name}: the reference says {row.type}, /metrics says {fam.type}")
        if fam.has_samples and fam.label_names != row.labels:
            seen = sorted(fam.label_names)
            wrong.append(f"{row.name}: the reference labels {sorted(row.labels)}, /metrics {seen}")
    assert not wrong, "\n".join(wrong)


def test_deployment_section_covers_systemd_compose_kubernetes_and_dashboards() -> None:
    text = section("Deployment", "deployment.md")
    for needle in (
        "deploy/systemd/vixmon.service", "systemctl reload vixmon", "LoadCredential",
        "systemd-analyze security", "deploy/compose.yaml up",
        "terminationGracePeriodSeconds", "/readyz", "/healthz", "vixmon-book",
    ):  # fmt: skip
        assert needle in text, needle


def test_the_kubernetes_example_outlasts_the_drain_and_probes_the_right_paths() -> None:
    [manifest] = re.findall(r"```yaml\n(.*?)```", section("Deployment", "deployment.md"), re.S)[-1:]
    pod = yaml.safe_load(manifest)["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > ShutdownConfig().drain_timeout_s + 5
    [container] = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
