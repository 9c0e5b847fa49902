"""The log sink: one structured log line per alert event, at the event's severity."""

from __future__ import annotations

import structlog

from monitor.sinks.base import Delivered, Message, Outcome
from monitor.sinks.payload import rfc3339


class LogSink:
    kind = "log"

    def __init__(self, *, name: str, logger: str) -> None:
        self.name = name
        self._log = structlog.get_logger(logger)

    async def send(self, message: Message, now_ns: int) -> Outcome:
        for event in message.events:
            fields = {
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
                "sink": self.name,
            }
            match event.severity:
                case "critical":
                    self._log.critical("alert", **fields)
                case "warning":
                    self._log.warning("alert", **fields)
                case _:
                    self._log.info("alert", **fields)
        return Delivered()
