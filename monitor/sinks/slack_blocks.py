"""Render a message as a Slack Block Kit payload with the ``text`` fallback. [pure]

Each event gets a header (status, severity, rule, book), its summary and subject, up to ten
"numbers that triggered it" as fields, the suggested action and advisory, and its context
(e.g. the next macro event). Slack's limits are respected: 150 characters per header, 3000
per section and 10 fields of 2000 by truncating text; 50 blocks per message by rendering as
many events in full as fit and every other one as a single line (status, rule, book, subject,
summary) in a compact list at the end. No event is ever left out of a message.
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
_LINE_MAX = 500
"""One compact line; a section of ``_SECTION_MAX`` holds at least five, so 200 events fit."""
_BADGE = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
}
_RESOLVED_BADGE = ":white_check_mark:"

Block = dict[str, Any]


def slack_payload(message: Message) -> dict[str, Any]:
    """Return the JSON object to POST to the incoming webhook (at most 50 blocks)."""
    events = message.events
    head = [_header(f"vixmon · {message.book} · {len(events)} alerts")] if len(events) > 1 else []
    full = [_event_blocks(e) for e in events]
    for in_full in range(len(events), -1, -1):
        blocks = head + _joined(full[:in_full]) + _compact(events[in_full:], divider=in_full > 0)
        if len(blocks) <= _BLOCKS_MAX:
            break
    return {"text": fallback_text(message), "blocks": blocks[:_BLOCKS_MAX]}


def fallback_text(message: Message) -> str:
    """Return the plain-text version shown in notifications and by clients without blocks:
    one line per event while they fit, then how many more there are."""
    lines = [_headline(e) + f": {e.summary}" for e in message.events]
    kept, size = 0, -1
    for line in lines:
        more = len(lines) - kept - 1
        suffix = len(f"\n+{more} more") if more else 0
        if size + 1 + len(line) + suffix > _TEXT_MAX:
            break
        kept, size = kept + 1, size + 1 + len(line)
    if kept == len(lines):
        return "\n".join(lines)
    suffix_text = f"\n+{len(lines) - max(kept, 1)} more"
    if kept == 0:
        return _cut(lines[0], _TEXT_MAX - len(suffix_text)) + suffix_text
    return "\n".join(lines[:kept]) + suffix_text


def _joined(per_event: list[list[Block]]) -> list[Block]:
    blocks: list[Block] = []
    for i, event_blocks in enumerate(per_event):
        if i:
            blocks.append({"type": "divider"})
        blocks.extend(event_blocks)
    return blocks


def _compact(events: tuple[AlertEvent, ...], *, divider: bool) -> list[Block]:
    """One line per event, packed into as few sections as ``_SECTION_MAX`` allows."""
    if not events:
        return []
    sections: list[list[str]] = [[]]
    size = 0
    for event in events:
        line = _cut(f"{_esc(_headline(event))}: {_esc(event.summary)}", _LINE_MAX)
        if sections[-1] and size + 1 + len(line) > _SECTION_MAX:
            sections.append([])
            size = 0
        size += len(line) + (1 if sections[-1] else 0)
        sections[-1].append(line)
    blocks = [_section("\n".join(lines)) for lines in sections]
    return [{"type": "divider"}, *blocks] if divider else blocks


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
