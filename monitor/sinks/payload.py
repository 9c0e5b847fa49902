"""The webhook body, schema version 1. [pure]

The wire schema is its own set of Structs, not ``AlertEvent`` itself, so that the internal
model can change without changing what receivers parse; a breaking change bumps ``version``.
The body depends only on the events, so every retry sends the same bytes.
"""

from __future__ import annotations

import time

import msgspec

from monitor.model import AlertEvent, AlertStatus, Scalar, Severity
from monitor.sinks.base import Message

SCHEMA_VERSION = 1
MESSAGE_TYPE = "vixmon.alerts"
NS = 1_000_000_000


class WebhookEventV1(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    key: str
    rule: str
    book: str
    subject: str
    status: AlertStatus
    severity: Severity
    summary: str
    created_at: str
    ts_ns: int
    values: dict[str, Scalar]
    action: str | None
    advisory: dict[str, object] | None
    context: dict[str, Scalar]
    delayed: bool


class WebhookMessageV1(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    type: str
    id: str
    book: str
    created_at: str
    events: list[WebhookEventV1]


_ENCODER = msgspec.json.Encoder()


def rfc3339(ts_ns: int) -> str:
    """Format epoch nanoseconds as RFC 3339 UTC, microseconds: ``2026-11-24T14:30:00.000123Z``."""
    seconds, rest_ns = divmod(ts_ns, NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest_ns // 1000:06d}Z"


def _event_v1(event: AlertEvent) -> WebhookEventV1:
    return WebhookEventV1(
        id=event.id,
        key=event.key,
        rule=event.rule,
        book=event.book,
        subject=event.subject,
        status=event.status,
        severity=event.severity,
        summary=event.summary,
        created_at=rfc3339(event.ts_ns),
        ts_ns=event.ts_ns,
        values=event.values,
        action=event.action,
        advisory=event.advisory,
        context=event.context,
        delayed=event.delayed,
    )


def webhook_body(message: Message) -> bytes:
    """Encode ``message`` as the version-1 JSON body."""
    return _ENCODER.encode(
        WebhookMessageV1(
            version=SCHEMA_VERSION,
            type=MESSAGE_TYPE,
            id=message.id,
            book=message.book,
            created_at=rfc3339(message.events[0].ts_ns),
            events=[_event_v1(e) for e in message.events],
        )
    )
