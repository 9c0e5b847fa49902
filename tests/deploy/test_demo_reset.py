"""`make run` starts the demo clean: `make reset` forgets the embedded Redis's data first."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from monitor.redis_server import EmbeddedRedis
from tests.support.daemon import ROOT

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def make(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None
    return subprocess.run(
        [MAKE, "-f", str(ROOT / "Makefile"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_make_run_resets_before_it_runs_the_demo() -> None:
    lines = make("-n", "run", cwd=ROOT).stdout.splitlines()
    reset = next(i for i, line in enumerate(lines) if line.startswith("rm -rf state/"))
    run = next(i for i, line in enumerate(lines) if line.endswith("vixmon run"))
    assert reset < run


def test_reset_removes_what_the_embedded_redis_persisted_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    server = EmbeddedRedis(tmp_path / "state")
    server.start_blocking()
    try:
        client = redis.Redis.from_url(server.url)
        client.set("vixmon:alert_state", "firing")
        client.bgrewriteaof()
        client.save()
        client.close()
    finally:
        server.stop_blocking()
    (tmp_path / "state" / "VIX_History.csv").write_text("DATE,OPEN,HIGH,LOW,CLOSE\n")
    done = make("reset", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    server = EmbeddedRedis(tmp_path / "state")
    server.start_blocking()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.dbsize() == 0
        client.close()
    finally:
        server.stop_blocking()
    assert (tmp_path / "state" / "VIX_History.csv").exists()
