"""The embedded Redis: persistent across restarts, never outliving a killed daemon."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import redis

from monitor.redis_server import EmbeddedRedis
from tests.support.daemon import ROOT

CHILD = """
import asyncio, sys
from pathlib import Path
from monitor.redis_server import EmbeddedRedis
async def main():
    server = EmbeddedRedis(Path(sys.argv[1]))
    await server.start()
    print(server.pid, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def test_data_written_before_a_stop_is_there_after_a_restart(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    server.start_blocking()
    client = redis.Redis(unix_socket_path=str(server.socket_path))
    client.xadd("{vixmon:alerts}", {"e": "1"})
    client.close()
    server.stop_blocking()
    server.start_blocking()
    client = redis.Redis(unix_socket_path=str(server.socket_path))
    try:
        assert client.xlen("{vixmon:alerts}") == 1
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    finally:
        client.close()
        server.stop_blocking()


def test_the_server_stops_when_its_daemon_is_killed(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    pid = next(int(line) for line in proc.stdout if line.strip().isdigit())
    pidfd = os.pidfd_open(pid)  # becomes readable when that process exits
    try:
        proc.kill()
        proc.wait()
        readable, _, _ = select.select([pidfd], [], [], 10)
        assert readable, f"redis-server {pid} outlived its killed daemon"
    finally:
        os.close(pidfd)
