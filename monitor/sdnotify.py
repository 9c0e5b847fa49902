"""The sd_notify protocol: datagrams to $NOTIFY_SOCKET (READY=1, STOPPING=1, WATCHDOG=1, ...).

``Notifier`` is a no-op outside systemd, and never lets a notification failure take the daemon
down: systemd going away must not stop a risk monitor. ``ProgressWatchdog`` pings WATCHDOG=1 only
while a progress counter moves, so a wedged engine (event loop alive, cycles not completing) is
restarted by systemd after ``WatchdogSec=`` instead of looking healthy forever.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger(__name__)


class Notifier:
    """Send notifications to systemd; a no-op when not started by systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        if path.startswith("@"):  # abstract namespace
            self._address = b"\0" + path[1:].encode()
        elif path:
            self._address = path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        ours = not pid or pid == str(os.getpid())
        self.watchdog_interval_s = int(usec) / 1e6 / 2 if usec.isdigit() and ours else None
        """Ping at half of WatchdogSec, as sd_watchdog_enabled(3) recommends; None: no watchdog."""

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; return whether it was sent."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall("\n".join(lines).encode())
        except OSError as exc:
            log.warning("sd_notify_failed", lines=list(lines), error=repr(exc))
            return False
        return True

    def ready(self, status: str = "running") -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def stopping(self, status: str = "draining") -> bool:
        return self.notify("STOPPING=1", f"STATUS={status}")

    def reloading(self, monotonic_usec: int) -> bool:
        """Announce a reload; follow it with ``ready()`` once the new config is in place."""
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")


class ProgressWatchdog:
    """Ping the systemd watchdog only when ``progress()`` has moved since the last ping."""

    def __init__(self, notifier: Notifier, progress: Callable[[], int]) -> None:
        self._notifier = notifier
        self._progress = progress
        self._last: int | None = None

    def check(self) -> bool:
        """Ping if progress was made since the previous check; return whether it pinged."""
        current = self._progress()
        if current == self._last:
            log.warning("watchdog_no_progress", progress=current)
            return False
        self._last = current
        return self._notifier.watchdog()

    async def run(self, interval_s: float) -> None:
        """Check every ``interval_s`` until cancelled."""
        while True:
            self.check()
            await asyncio.sleep(interval_s)  # the ping period itself, not synchronization
