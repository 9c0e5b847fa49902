"""The webhook body (schema version 1) and the message a worker builds from events."""

from __future__ import annotations

import msgspec
import pytest

from monitor.model import AlertEvent
from monitor.sinks.base import message_for
from monitor.sinks.payload import SCHEMA_VERSION, rfc3339, webhook_body


def alert(n: int = 1, **kw: object) -> AlertEvent:
    fields: dict[str, object] = {
        "id": f"evt_{n}",
        "key": f"layer_gain|main|L{n}",
        "rule": "layer_gain",
        "book": "main",
        "subject": f"L{n}-DEC",
        "status": "firing",
        "severity": "warning",
        "summary": "gain 2.1x",
        "ts_ns": 1_795_000_000_123_456_789,
        "values": {"gain_ratio": 2.1},
        "advisory": {"roll_to": "VIX Jan 25C", "credit_usd": 420.0},
        "context": {"next_macro_event": "CPI 2026-12-10 13:30Z"},
    }
    fields.update(kw)
    return msgspec.convert(fields, AlertEvent)


def test_the_body_is_versioned_and_carries_every_event_field() -> None:
    body = msgspec.json.decode(webhook_body(message_for([alert()])))
    assert body["version"] == SCHEMA_VERSION == 1
    assert body["type"] == "vixmon.alerts"
    assert (body["id"], body["book"]) == ("evt_1", "main")
    assert body["created_at"] == "2026-11-18T11:06:40.123456Z"
    (event,) = body["events"]
    assert set(event) == {
        "id", "key", "rule", "book", "subject", "status", "severity", "summary", "created_at",
        "ts_ns", "values", "action", "advisory", "context", "delayed",
    }  # fmt: skip
    assert event["advisory"]["roll_to"] == "VIX Jan 25C"
    assert event["ts_ns"] == 1_795_000_000_123_456_789


def test_the_body_is_the_same_bytes_on_every_retry() -> None:
    events = [alert(1), alert(2)]
    assert webhook_body(message_for(events)) == webhook_body(message_for(list(events)))


def test_a_single_event_message_uses_the_event_id_as_webhook_id() -> None:
    assert message_for([alert(7)]).id == "evt_7"


def test_a_group_id_is_derived_from_its_event_ids_and_order() -> None:
    a, b = alert(1), alert(2)
    assert message_for([a, b]).id == message_for([a, b]).id
    assert message_for([a, b]).id != message_for([b, a]).id
    assert message_for([a, b]).id.startswith("grp_")


def test_a_message_needs_an_event() -> None:
    with pytest.raises(ValueError):
        message_for([])


def test_rfc3339_keeps_microseconds_in_utc() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000000Z"
    assert rfc3339(1_500_000_000_999_999_999) == "2017-07-14T02:40:00.999999Z"
