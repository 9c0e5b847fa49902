"""The sd_notify protocol against a local NOTIFY_SOCKET, in-process and from a running daemon."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.sdnotify import Notifier, ProgressWatchdog
from tests.deploy.conftest import simulator_feed, vixmon_daemon, write_config
from tests.support.daemon import Daemon, get_json


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket standing in for systemd's; yields (NOTIFY_SOCKET value, socket)."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.setblocking(False)
        yield str(path), sock


def pending(sock: socket.socket) -> list[str]:
    """Return the datagrams queued on ``sock`` (a send is synchronous: none is in flight)."""
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_ready_is_one_datagram_with_status(notify_socket: tuple[str, socket.socket]) -> None:
    address, sock = notify_socket
    assert Notifier({"NOTIFY_SOCKET": address}).ready("running: 1 book")
    assert pending(sock) == ["READY=1\nSTATUS=running: 1 book"]


def test_abstract_namespace_socket_is_supported() -> None:
    name = f"vixmon-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.setblocking(False)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).stopping()
        assert pending(sock) == ["STOPPING=1\nSTATUS=draining"]


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert notifier.watchdog_interval_s is None


def test_an_unreachable_socket_never_raises(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert not notifier.watchdog()


def test_watchdog_pings_at_half_the_interval_for_our_pid_only() -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000"}
    assert Notifier(env).watchdog_interval_s == 15.0
    assert Notifier({**env, "WATCHDOG_PID": str(os.getpid())}).watchdog_interval_s == 15.0
    assert Notifier({**env, "WATCHDOG_PID": str(os.getpid() + 1)}).watchdog_interval_s is None


def test_reload_is_announced_with_the_monotonic_time(
    notify_socket: tuple[str, socket.socket],
) -> None:
    address, sock = notify_socket
    Notifier({"NOTIFY_SOCKET": address}).reloading(123456)
    assert pending(sock) == ["RELOADING=1\nMONOTONIC_USEC=123456"]


def test_watchdog_pings_only_while_progress_advances(
    notify_socket: tuple[str, socket.socket],
) -> None:
    address, sock = notify_socket
    progress = [0]
    dog = ProgressWatchdog(Notifier({"NOTIFY_SOCKET": address}), lambda: progress[0])
    assert dog.check()
    assert not dog.check()  # a stalled engine: no ping, systemd will restart us
    progress[0] += 3
    assert dog.check()
    assert pending(sock) == ["WATCHDOG=1", "WATCHDOG=1"]


# ---- a running daemon ------------------------------------------------------------------------


async def next_datagram(sock: socket.socket, daemon: Daemon, timeout_s: float = 30) -> str:
    """Return the next datagram; fail at once if the daemon exits first."""
    recv = asyncio.ensure_future(asyncio.get_running_loop().sock_recv(sock, 4096))
    exited = asyncio.ensure_future(daemon.proc.wait())
    done, _ = await asyncio.wait({recv, exited}, timeout=timeout_s, return_when="FIRST_COMPLETED")
    exited.cancel()
    if recv in done:
        return recv.result().decode()
    recv.cancel()
    tail = "\n".join(daemon.raw[-20:])
    raise AssertionError(f"no sd_notify datagram (exit code {daemon.proc.returncode}):\n{tail}")


async def datagram_with(sock: socket.socket, daemon: Daemon, line: str) -> list[str]:
    """Receive datagrams until one contains ``line``; return all of them."""
    seen = [await next_datagram(sock, daemon)]
    while line not in seen[-1].splitlines():
        seen.append(await next_datagram(sock, daemon))
    return seen


@pytest.mark.slow
async def test_daemon_notifies_ready_watchdog_reload_and_stopping(
    tmp_path: Path, notify_socket: tuple[str, socket.socket]
) -> None:
    address, sock = notify_socket
    cfg = write_config(tmp_path, feeds=simulator_feed())
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}
    async with vixmon_daemon(cfg, env=env) as daemon:
        first = await next_datagram(sock, daemon)
        # nothing, not even WATCHDOG=1, comes before READY=1
        assert first.splitlines()[0] == "READY=1", "\n".join(daemon.raw[-15:])
        port = await daemon.http_port()
        ready = await get_json(f"http://127.0.0.1:{port}/readyz")
        assert ready == {"ready": True, "reason": "ok"}  # READY=1 means a snapshot exists

        assert await next_datagram(sock, daemon) == "WATCHDOG=1"
        assert await next_datagram(sock, daemon) == "WATCHDOG=1"

        daemon.proc.send_signal(signal.SIGHUP)
        reload = await datagram_with(sock, daemon, "RELOADING=1")
        assert reload[-1].startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert (await datagram_with(sock, daemon, "READY=1"))[-1].startswith("READY=1\nSTATUS=")

        daemon.proc.send_signal(signal.SIGTERM)
        await datagram_with(sock, daemon, "STOPPING=1")
        assert await daemon.stop() == 0
