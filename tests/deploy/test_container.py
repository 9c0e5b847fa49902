"""deploy/docker and deploy/compose.yaml, checked without a Docker engine (there is none here):
the Dockerfile is parsed and its properties asserted, its HEALTHCHECK command is run against a
live daemon, docker-compose validates the compose file, and the compose topology (ingest and
engine processes sharing one Redis) is run for real, minus the containers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.settings import ShutdownConfig
from tests.deploy.conftest import (
    DEPLOY,
    LiveDemo,
    is_layer_gain_firing,
    replay_feed,
    vixmon_daemon,
    write_config,
)
from tests.deploy.installed import Installed
from tests.support.clocked import with_live_book
from tests.support.daemon import ROOT, get_json, get_text

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"


@dataclass
class Instruction:
    keyword: str
    args: str
    stage: int


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """Parse a Dockerfile: comments dropped, continuation lines joined, stages numbered."""
    logical, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    out, stage = [], -1
    for line in logical:
        keyword, _, args = line.partition(" ")
        stage += keyword.upper() == "FROM"
        out.append(Instruction(keyword.upper(), args.strip(), stage))
    return out


def final_stage() -> list[Instruction]:
    parsed = instructions()
    last = parsed[-1].stage
    return [i for i in parsed if i.stage == last]


def only(keyword: str) -> Instruction:
    [found] = [i for i in final_stage() if i.keyword == keyword]
    return found


def healthcheck_command() -> list[str]:
    args = only("HEALTHCHECK").args
    exec_form = args[args.index("CMD") + 3 :].strip()
    command: list[str] = json.loads(exec_form)  # exec form: no shell needed in the image
    return command


def test_dockerfile_is_multi_stage_and_installs_the_lock_from_wheels_only() -> None:
    parsed = instructions()
    stages = [i for i in parsed if i.keyword == "FROM"]
    assert len(stages) >= 2
    assert " AS build" in stages[0].args
    runs = " ".join(" ".join(i.args.split()) for i in parsed if i.stage == 0 and i.keyword == "RUN")
    assert "--require-hashes --only-binary=:all: -r requirements.lock" in runs
    assert "pip install --no-cache-dir --no-deps /tmp/dist/vixmon-" in runs  # the wheel itself
    assert not any("build-essential" in i.args for i in parsed)  # wheels: nothing to compile
    assert any(
        i.args.startswith("--from=build /opt/vixmon") for i in final_stage() if i.keyword == "COPY"
    )


def test_the_build_compiles_the_kernels_and_the_entrypoint_seeds_the_tmpfs_with_them() -> None:
    runs = " ".join(i.args for i in instructions() if i.stage == 0 and i.keyword == "RUN")
    assert "NUMBA_CACHE_DIR=/opt/vixmon/numba-cache" in runs and "black.warm_up()" in runs
    assert json.loads(only("ENTRYPOINT").args) == ["vixmon-entrypoint"]
    script = DEPLOY / "docker" / "entrypoint.sh"
    assert "seed=/opt/vixmon/numba-cache" in script.read_text()
    assert 'exec vixmon "$@"' in script.read_text()
    assert script.stat().st_mode & 0o111


def test_dockerignore_keeps_the_venv_caches_and_git_out_of_the_context() -> None:
    patterns = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }  # fmt: skip
    assert {".git", ".venv", "**/__pycache__", "state"} <= patterns
    for ins in instructions():
        if ins.keyword == "COPY" and not ins.args.startswith("--from="):
            *sources, _dest = shlex.split(ins.args)
            assert not {s.split("/")[0] for s in sources} & patterns, ins.args


def test_image_runs_as_an_unprivileged_numeric_user() -> None:
    user = only("USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit()
    compose = yaml.safe_load(COMPOSE.read_text())
    for name in ("vixmon-ingest", "vixmon-engine"):
        assert compose["services"][name]["user"] == user


def test_image_writes_only_to_its_volume_and_tmp() -> None:
    env = " ".join(i.args for i in final_stage() if i.keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "NUMBA_CACHE_DIR=/tmp/" in env  # numba caches compiled kernels: the tmpfs
    assert json.loads(only("VOLUME").args) == ["/var/lib/vixmon"]
    image_config = tomllib.loads((DEPLOY / "docker" / "vixmon.toml").read_text())
    assert image_config["redis"]["state_dir"] == "/var/lib/vixmon"


def test_healthcheck_is_python_against_healthz_on_the_configured_port() -> None:
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    assert "curl" not in only("HEALTHCHECK").args and "wget" not in only("HEALTHCHECK").args
    port = tomllib.loads((DEPLOY / "docker" / "vixmon.toml").read_text())["http"]["port"]
    assert f"'http://127.0.0.1:{port}/healthz'" in command[2]
    assert re.search(rf"EXPOSE {port}\b", DOCKERFILE.read_text())


def run_healthcheck(url: str) -> int:
    """Run the image's HEALTHCHECK command with this interpreter, probing ``url``."""
    command = healthcheck_command()
    command[0] = sys.executable
    env = {**os.environ, "VIXMON_HEALTH_URL": url}
    return subprocess.run(command, env=env, capture_output=True, timeout=30).returncode


@pytest.mark.slow
def test_healthcheck_passes_against_a_live_daemon(live_demo: LiveDemo) -> None:
    assert run_healthcheck(f"{live_demo.url}/healthz") == 0


@pytest.mark.slow
def test_healthcheck_fails_when_nothing_answers(live_demo: LiveDemo) -> None:
    assert run_healthcheck(f"{live_demo.url}/no-such-path") != 0
    with free_port() as port:
        assert run_healthcheck(f"http://127.0.0.1:{port}/healthz") != 0


@contextlib.contextmanager
def free_port() -> Iterator[int]:
    """Hold a TCP port that is bound but not listening: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_every_file_the_image_copies_exists() -> None:
    for ins in instructions():
        if ins.keyword != "COPY" or ins.args.startswith("--from="):
            continue
        *sources, _dest = shlex.split(ins.args)
        for source in sources:
            assert (ROOT / source).exists(), source


def dockerfile_etc_files() -> list[Path]:
    """The files the Dockerfile copies into /etc/vixmon/ besides the config."""
    files: list[Path] = []
    for ins in instructions():
        if ins.keyword == "COPY" and not ins.args.startswith("--"):
            *sources, dest = shlex.split(ins.args)
            if dest == "/etc/vixmon/":
                files += [ROOT / s for s in sources]
    return files


def test_image_config_and_compose_config_pass_check_config(
    installed: Installed, tmp_path: Path
) -> None:
    """Both in the image's /etc/vixmon, checked by the installed wheel (the image's config is
    also run to ready in test_installed.py; compose mounts its config over the image's)."""
    for config in ("vixmon.toml", "vixmon-compose.toml"):
        etc = tmp_path / config
        etc.mkdir()
        shutil.copy(DEPLOY / "docker" / config, etc / "vixmon.toml")
        for source in dockerfile_etc_files():
            shutil.copy(source, etc / source.name)
        with_live_book(etc)
        (etc / "vixmon-http-token").write_text("t" * 32)  # compose's secret, as it mounts it
        done = installed.run("check-config", str(etc / "vixmon.toml"), cwd=tmp_path,
                             CREDENTIALS_DIRECTORY=str(etc))
        assert done.returncode == 0, done.stderr


# ---- compose ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose(docker_compose: Path) -> dict[str, Any]:
    """The compose file as docker-compose resolves it (schema-validated, anchors merged)."""
    done = subprocess.run(
        [docker_compose, "--project-name", "vixmon", "-f", COMPOSE, "config"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    resolved: dict[str, Any] = yaml.safe_load(done.stdout)
    return resolved


def test_redis_persists_with_aof(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data:rw") for v in redis["volumes"])


def test_vixmon_runs_as_ingest_and_engine_hardened(compose: dict[str, Any]) -> None:
    grace_s = ShutdownConfig().drain_timeout_s
    for role in ("ingest", "engine"):
        svc = compose["services"][f"vixmon-{role}"]
        assert svc["command"][-2:] == ["--role", role]
        assert svc["read_only"] is True and svc["tmpfs"] == ["/tmp"]
        assert svc["cap_drop"] == ["ALL"] and "no-new-privileges:true" in svc["security_opt"]
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
        assert int(svc["stop_grace_period"].removesuffix("s")) > grace_s + 5
    config = tomllib.loads((DEPLOY / "docker" / "vixmon-compose.toml").read_text())
    assert config["redis"]["url"].startswith("redis://redis:")


def test_prometheus_loads_our_config_and_grafana_our_provisioning(compose: dict[str, Any]) -> None:
    prom, grafana = compose["services"]["prometheus"], compose["services"]["grafana"]
    assert f"{DEPLOY / 'prometheus'}:/etc/prometheus:ro" in prom["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    assert (
        f"{DEPLOY / 'grafana' / 'provisioning'}:/etc/grafana/provisioning:ro" in grafana["volumes"]
    )
    assert compose["services"]["alertmanager"]["profiles"] == ["alerting"]


def test_every_bind_mount_source_exists(compose: dict[str, Any]) -> None:
    for svc in compose["services"].values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), source


@pytest.mark.slow
async def test_ingest_and_engine_roles_share_one_redis(tmp_path: Path, redis_url: str) -> None:
    """The compose topology without containers: two processes, one Redis, quotes flow.

    The engine starts with an empty numba cache, as it does on a container's tmpfs: loading the
    kernels then takes seconds, and must not cost the engine its Redis calls.
    """
    ingest = write_config(tmp_path / "ingest", feeds=replay_feed(speed=240), redis_url=redis_url)
    engine = write_config(tmp_path / "engine", feeds=replay_feed(speed=240), redis_url=redis_url)
    cold = {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    async with (
        vixmon_daemon(engine, "--role", "engine", env=cold) as eng,
        vixmon_daemon(ingest, "--role", "ingest") as ing,
    ):
        # a cold compile of the pricing kernels takes ~50 s on 2 cores
        eng_port, ing_port = await eng.http_port(timeout_s=180), await ing.http_port()
        await eng.wait_log(is_layer_gain_firing, 60)
        status = await get_json(f"http://127.0.0.1:{eng_port}/api/v1/status")
        assert (status["role"], status["feeds"]) == ("engine", [])
        ingest_status = await get_json(f"http://127.0.0.1:{ing_port}/api/v1/status")
        assert ingest_status["role"] == "ingest" and ingest_status["sinks"] == []
        assert (await get_json(f"http://127.0.0.1:{ing_port}/readyz"))["ready"] is True
        metrics = await get_text(f"http://127.0.0.1:{eng_port}/metrics")
        assert re.search(r'vixmon_quotes_ingested_total\{feed="replay"\} [1-9]', metrics)
        assert await ing.stop() == 0 and await eng.stop() == 0
