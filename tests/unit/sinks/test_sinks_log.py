"""The log sink: one line per alert event, at a level that follows the event, short on a TTY."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import structlog

from monitor import logging as vlog
from monitor.model import AlertEvent
from monitor.sinks.base import message_for
from monitor.sinks.log import LogSink

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ACTION = (
    "Harvest L1-DEC: sell 4 contract(s) at the bid for $960 (gain $600 on a cost of $360). "
    "Roll 50% of the gain, $300, into 1 x VIX270120C00022000 at 2.20 ask. " * 3
)
ADVISORY = {"candidates": [{"symbol": f"VIX270120C000{k}000", "ask": 2.2} for k in range(20, 40)]}


@pytest.fixture(autouse=True)
def pristine_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


def alert(**kw: object) -> AlertEvent:
    fields: dict[str, object] = {
        "id": "evt_7f3a",
        "key": "layer_gain|main|L1-DEC@1.5",
        "rule": "layer_gain",
        "book": "main",
        "subject": "L1-DEC@1.5",
        "status": "firing",
        "severity": "warning",
        "summary": "layer L1-DEC gain +175% at or above 150%",
        "ts_ns": 1_795_000_000_123_456_789,
        "values": {"gain_ratio": 1.75, "threshold": 1.5, "value_usd": 990.0},
        "action": ACTION,
        "advisory": ADVISORY,
        "context": {"next_event_kind": "FOMC", "next_event_in_h": 530.5},
    }
    fields.update(kw)
    return msgspec.convert(fields, AlertEvent)


async def send(*events: AlertEvent) -> None:
    await LogSink(name="log", logger="vixmon.alerts").send(message_for(events), 0)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_each_event_is_one_json_line_with_the_whole_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    vlog.configure_logging(json=True)
    await send(alert(), alert(id="evt_2", key="layer_gain|main|L1-DEC@2", severity="critical"))
    first, second = json_lines(capsys.readouterr().out)
    assert (first["event"], first["alert_id"], second["alert_id"]) == ("alert", "evt_7f3a", "evt_2")
    assert first["advisory"] == ADVISORY and first["action"] == ACTION
    assert first["values"]["gain_ratio"] == 1.75


@pytest.mark.parametrize(
    ("status", "severity", "level"),
    [
        ("firing", "critical", "critical"),
        ("firing", "warning", "warning"),
        ("repeat", "critical", "critical"),
        ("firing", "info", "info"),
        ("resolved", "critical", "info"),
        ("resolved", "warning", "info"),
    ],
)
async def test_firing_logs_at_the_severity_and_resolved_at_info(
    capsys: pytest.CaptureFixture[str], status: str, severity: str, level: str
) -> None:
    vlog.configure_logging(json=True)
    await send(alert(status=status, severity=severity))
    [line] = json_lines(capsys.readouterr().out)
    assert (line["level"], line["severity"], line["status"]) == (level, severity, status)


async def test_on_a_terminal_an_alert_is_one_short_readable_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    vlog.configure_logging(json=False)
    await send(alert())
    [line] = ANSI.sub("", capsys.readouterr().out).splitlines()
    assert (
        "alert firing layer_gain|main|L1-DEC@1.5: layer L1-DEC gain +175% at or above 150%" in line
    )
    assert "next='Harvest L1-DEC: sell 4 contract(s) at the bid for $960" in line
    assert "id=evt_7f3a" in line
    assert "VIX270120C00039000" not in line and "next_event_kind" not in line
    assert "vixmon.alerts" not in line
    assert len(line) < 300


async def test_a_long_first_sentence_of_the_action_is_cut(
    capsys: pytest.CaptureFixture[str],
) -> None:
    vlog.configure_logging(json=False)
    await send(alert(action="Roll " + "the layer out " * 20 + "now. Then rest."))
    [line] = ANSI.sub("", capsys.readouterr().out).splitlines()
    [cut] = re.findall(r"next='([^']*)'", line)
    assert len(cut) == 120 and cut.endswith("…") and "Then rest" not in line


async def test_a_delayed_alert_says_so_on_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    vlog.configure_logging(json=False)
    await send(alert(delayed=True, action=None))
    [line] = ANSI.sub("", capsys.readouterr().out).splitlines()
    assert "(delayed data)" in line and "next=" not in line


def test_other_events_keep_their_fields_on_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    vlog.configure_logging(json=False)
    structlog.get_logger("vixmon").info("feed_connected", feed="replay", key="not-an-alert")
    out = ANSI.sub("", capsys.readouterr().out)
    assert "feed_connected" in out and "feed=replay" in out and "key=not-an-alert" in out
