"""Render a message as a Slack Block Kit payload with the ``text`` fallback. [pure]

Each event gets a header (status, severity, rule, book), its summary and subject, up to ten
"numbers that triggered it" as fields, the suggested action and advisory, and its context
(e.g. the next macro event). Slack's limits are respected by truncation: 150 characters per
header, 3000 per section, 10 fields of 2000, 50 blocks.
"""

from __future__ import annotations

from typing import Any

import msgspec

from monitor.model import AlertEvent, Scalar
from monitor.sinks.base import Message

_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELD_MAX = 2000
_FIELDS_MAX = 10
_TEXT_MAX = 3000
_BLOCKS_MAX = 50
_BADGE = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
}
_RESOLVED_BADGE = ":white_check_mark:"

Block = dict[str, Any]


def slack_payload(message: Message) -> dict[str, Any]:
    """Return the JSON object to POST to the incoming webhook."""
    blocks: list[Block] = []
    if len(message.events) > 1:
        blocks.append(_header(f"vixmon · {message.book} · {len(message.events)} alerts"))
    for i, event in enumerate(message.events):
        if i:
            blocks.append({"type": "divider"})
        blocks.extend(_event_blocks(event))
    return {"text": fallback_text(message), "blocks": blocks[:_BLOCKS_MAX]}


def fallback_text(message: Message) -> str:
    """Return the plain-text version shown in notifications and by clients without blocks."""
    lines = [_headline(e) + f": {e.summary}" for e in message.events]
    return _cut("\n".join(lines), _TEXT_MAX)


def _headline(event: AlertEvent) -> str:
    if event.status == "resolved":
        state = f"{_RESOLVED_BADGE} RESOLVED"
    else:
        state = f"{_BADGE[event.severity]} {event.severity.upper()}"
        if event.status == "repeat":
            state += " (still firing)"
    return f"{state} · {event.rule} · {event.book} · {event.subject}"


def _event_blocks(event: AlertEvent) -> list[Block]:
    blocks = [
        _header(_headline(event)),
        _section(f"*{_esc(event.subject)}*\n{_esc(event.summary)}"),
    ]
    if event.values:
        fields = [
            _mrkdwn(_cut(f"*{_esc(_label(k))}*\n{_esc(_number(v))}", _FIELD_MAX))
            for k, v in list(event.values.items())[:_FIELDS_MAX]
        ]
        blocks.append({"type": "section", "fields": fields})
    action = _action_text(event)
    if action:
        blocks.append(_section(action))
    if event.context or event.delayed:
        blocks.append({"type": "context", "elements": [_mrkdwn(_context_text(event))]})
    return blocks


def _action_text(event: AlertEvent) -> str:
    if event.status == "resolved":
        note = f" {_esc(event.action)}" if event.action else ""
        return "*Resolved:* the condition no longer holds." + note
    parts = []
    if event.action:
        parts.append(f"*Suggested action:* {_esc(event.action)}")
    if event.advisory:
        lines = [f"• {_esc(_label(k))}: {_esc(_any(v))}" for k, v in event.advisory.items()]
        parts.append("*Advisory*\n" + "\n".join(lines))
    return "\n".join(parts)


def _context_text(event: AlertEvent) -> str:
    items = [f"{_esc(_label(k))}: {_esc(_number(v))}" for k, v in event.context.items()]
    if event.delayed:
        items.append("quotes are delayed")
    return _cut(" · ".join(items), _SECTION_MAX)


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(text, _HEADER_MAX)}}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(_cut(text, _SECTION_MAX))}


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _label(key: str) -> str:
    return key.replace("_", " ")


def _number(value: Scalar) -> str:
    if isinstance(value, bool) or not isinstance(value, float):
        return "—" if value is None else str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def _any(value: object) -> str:
    if value is None or isinstance(value, str | int | float | bool):
        return _number(value)
    return msgspec.json.encode(value).decode()


def _esc(text: str) -> str:
    # Slack mrkdwn treats these three as control characters
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
