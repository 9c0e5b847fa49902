"""The log sink: one structured log line per alert event.

A firing or repeating alert logs at its severity (``critical`` at critical, so ``journalctl -p``
and log-based paging see it); a resolved one at info, whatever its severity was: a resolve is
good news. The JSON line carries the whole event (values, action, advisory, context); on a
terminal ``monitor.logging`` renders the same event as one short line.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

from monitor.model import AlertEvent
from monitor.sinks.base import Delivered, Message, Outcome
from monitor.sinks.payload import rfc3339

ALERT_EVENT = "alert"
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


def log_level(event: AlertEvent) -> str:
    """Return the log level of an alert event: info when resolved, else its severity."""
    return "info" if event.status == "resolved" else event.severity


def log_fields(event: AlertEvent, sink: str) -> dict[str, Any]:
    """Return the fields of an alert event's log line."""
    return {
        "alert_id": event.id,
        "key": event.key,
        "rule": event.rule,
        "book": event.book,
        "subject": event.subject,
        "status": event.status,
        "severity": event.severity,
        "summary": event.summary,
        "created_at": rfc3339(event.ts_ns),
        "values": event.values,
        "action": event.action,
        "advisory": event.advisory,
        "context": event.context,
        "delayed": event.delayed,
        "sink": sink,
    }


class LogSink:
    kind = "log"

    def __init__(self, *, name: str, logger: str) -> None:
        self.name = name
        self._log = structlog.get_logger(logger)

    async def send(self, message: Message, now_ns: int) -> Outcome:
        for event in message.events:
            self._log.log(_LEVELS[log_level(event)], ALERT_EVENT, **log_fields(event, self.name))
        return Delivered()
