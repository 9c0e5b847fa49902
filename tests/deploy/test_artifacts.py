"""Every file under deploy/ is checked by a test: a new artifact must come with its check."""

from __future__ import annotations

from tests.deploy.conftest import DEPLOY

CHECKED_BY = {
    "alertmanager/alertmanager.yml": "test_alertmanager.py: amtool routes, mutes, inhibition",
    "alertmanager/generate_holidays.py": "test_alertmanager.py: the holiday block is its output",
    "compose.yaml": "test_container.py: docker-compose config, services, mounts",
    "docker/entrypoint.sh": "test_container.py: seeds the tmpfs with the build's kernel cache",
    "docker/image_test.py": "`make image-test` (podman, not in `make test`); ruff here",
    "docker/Dockerfile": "test_container.py: stages, user, writable paths, HEALTHCHECK run live",
    "docker/vixmon-compose.toml": "test_container.py: check-config, Redis service URL",
    "docker/vixmon.toml": "test_container.py: check-config, state dir, health port",
    "grafana/build_dashboards.py": "test_grafana.py: the JSON is its output",
    "grafana/dashboards/vixmon-book.json": "test_grafana.py: structure, PromQL, live metrics",
    "grafana/dashboards/vixmon-pipeline.json": "test_grafana.py: structure, PromQL, live metrics",
    "grafana/provisioning/dashboards/vixmon.yaml": "test_grafana.py: path mounted by compose",
    "grafana/provisioning/datasources/vixmon.yaml": "test_grafana.py: the $datasource default",
    "prometheus/prometheus.yml": "test_prometheus.py: promtool check config, targets",
    "prometheus/rules/vixmon.yml": "test_prometheus.py: promtool, mixin style, live metrics",
    "prometheus/tests/vixmon.test.yml": "test_prometheus.py: promtool test rules, coverage",
    "secrets/.gitignore": "test_artifacts.py: compose's secret folder keeps its secrets out of git",
    "systemd/vixmon.service": "test_systemd_unit.py: verify, security ≤ 1.5, directives",
    "systemd/vixmon.toml": "test_systemd_unit.py: check-config as installed, credentials",
}


def test_every_deploy_artifact_has_a_check() -> None:
    files = {
        str(p.relative_to(DEPLOY))
        for p in DEPLOY.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert files == set(CHECKED_BY)


def test_the_compose_secret_folder_ignores_everything_but_itself() -> None:
    rules = (DEPLOY / "secrets" / ".gitignore").read_text().split("\n")
    assert "*" in rules and "!.gitignore" in rules
