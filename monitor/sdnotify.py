"""The sd_notify protocol: datagrams to $NOTIFY_SOCKET (READY=1, STOPPING=1, WATCHDOG=1, ...)."""

from __future__ import annotations

import os
import socket


class Notifier:
    """Send notifications to systemd; a no-op when not started by systemd."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        if path.startswith("@"):
            self._address = b"\0" + path[1:].encode()
        elif path:
            self._address = path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        ours = not pid or pid == str(os.getpid())
        self.watchdog_interval_s = int(usec) / 1e6 / 2 if usec.isdigit() and ours else None
        """Ping at half of WatchdogSec, as sd_watchdog_enabled(3) recommends."""

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; return False when there is no socket."""
        if self._address is None:
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(self._address)
            sock.sendall("\n".join(lines).encode())
        return True

    def ready(self, status: str = "running") -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def reloading(self, monotonic_usec: int) -> bool:
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")
