"""The Slack message: Block Kit blocks that say what fired and what to do, plus the fallback."""

from __future__ import annotations

import msgspec

from monitor.model import AlertEvent
from monitor.sinks.base import message_for
from monitor.sinks.slack_blocks import fallback_text, slack_payload


def alert(n: int = 1, **kw: object) -> AlertEvent:
    fields: dict[str, object] = {
        "id": f"evt_{n}",
        "key": f"layer_gain|main|L{n}",
        "rule": "layer_gain",
        "book": "main",
        "subject": "L1-DEC",
        "status": "firing",
        "severity": "critical",
        "summary": "L1-DEC worth 2.1x its entry cost",
        "ts_ns": 1_795_000_000_000_000_000,
        "values": {"gain_ratio": 2.1, "threshold": 2.0, "layer_value_usd": 12_600.0},
        "action": "Roll L1-DEC: sell VIX Dec 20C, buy Jan 25C",
        "advisory": {"roll_to": "VIX Jan 25C", "credit_usd": 420.0},
        "context": {"next_macro_event": "FOMC 2026-12-16 19:00Z"},
    }
    fields.update(kw)
    return msgspec.convert(fields, AlertEvent)


def rendered(payload: dict[str, object]) -> str:
    return msgspec.json.encode(payload).decode()


def test_a_firing_message_names_rule_book_subject_severity_numbers_action_and_next_event() -> None:
    payload = slack_payload(message_for([alert()]))
    text = rendered(payload)
    for needle in (
        "layer_gain", "main", "L1-DEC", "CRITICAL", "gain ratio", "2.10", "12,600",
        "Suggested action", "Roll L1-DEC", "roll to", "VIX Jan 25C",
        "next macro event", "FOMC 2026-12-16 19:00Z",
    ):  # fmt: skip
        assert needle in text, needle
    assert payload["blocks"][0]["type"] == "header"


def test_the_text_fallback_stands_on_its_own() -> None:
    text = fallback_text(message_for([alert()]))
    assert "CRITICAL" in text and "layer_gain" in text and "main" in text
    assert "L1-DEC worth 2.1x its entry cost" in text


def test_a_resolved_message_says_so() -> None:
    payload = slack_payload(message_for([alert(status="resolved")]))
    assert "RESOLVED" in payload["text"]
    assert "Resolved" in rendered(payload)
    assert "Suggested action" not in rendered(payload)


def test_a_repeat_says_it_is_still_firing() -> None:
    assert "still firing" in slack_payload(message_for([alert(status="repeat")]))["text"]


def test_a_group_has_one_header_and_a_divider_between_events() -> None:
    payload = slack_payload(message_for([alert(1), alert(2), alert(3)]))
    blocks = payload["blocks"]
    assert "3 alerts" in blocks[0]["text"]["text"]
    assert sum(b["type"] == "divider" for b in blocks) == 2
    assert payload["text"].count("\n") == 2


def test_slack_control_characters_are_escaped() -> None:
    text = rendered(slack_payload(message_for([alert(summary="P&L <b> up")])))
    assert "P&amp;L &lt;b&gt; up" in text


def test_slack_limits_hold_for_oversized_events() -> None:
    values = {f"v{i}": float(i) for i in range(30)}
    big = alert(summary="x" * 5000, subject="s" * 300, values=values)
    payload = slack_payload(message_for([big] * 10))
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        if "fields" in block:
            assert len(block["fields"]) <= 10
    assert len(payload["text"]) <= 3000


def _numbered(n: int) -> list[AlertEvent]:
    return [
        alert(i, summary=f"L{i}-DEC worth 2.1x its entry cost (alert {i:03d})") for i in range(n)
    ]


def test_a_group_over_fifty_blocks_shows_every_alert_in_full_or_as_a_line() -> None:
    group = _numbered(10)  # 10 x 5 blocks + 9 dividers + header: 60 in full
    payload = slack_payload(message_for(group))
    text = rendered(payload)
    assert len(payload["blocks"]) <= 50
    for event in group:
        assert event.summary in text, event.summary
    assert "Roll L1-DEC" in text  # the first ones keep their details


def test_a_catch_up_group_of_two_hundred_alerts_fits_one_message_and_loses_none() -> None:
    group = _numbered(200)
    payload = slack_payload(message_for(group))
    text = rendered(payload)
    assert len(payload["blocks"]) <= 50
    assert [text.index(e.summary) for e in group] == sorted(text.index(e.summary) for e in group)
    for block in payload["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000


def test_the_fallback_text_of_a_long_group_ends_with_how_many_more_there_are() -> None:
    text = fallback_text(message_for(_numbered(200)))
    assert len(text) <= 3000
    shown = text.count("entry cost")
    assert text.endswith(f"+{200 - shown} more")
