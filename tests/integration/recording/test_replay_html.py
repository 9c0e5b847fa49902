"""``vixmon replay FILE --html OUT``: one self-contained page with the session's charts, every
alert and plan marked where it fired."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from monitor import cli, replay_report, settings

SAMPLE = Path(__file__).resolve().parents[3] / "config" / "sample-session.jsonl.gz"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
Report = tuple[str, dict[str, Any]]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    out = tmp_path_factory.mktemp("html") / "report.html"
    assert cli.main(["replay", str(SAMPLE), "--html", str(out), "--no-progress"]) == 0
    doc = replay_report.run(SAMPLE, settings.load(settings.DEFAULT_CONFIG))
    return out.read_text(), doc


def test_the_page_fetches_nothing(report: Report) -> None:
    page = report[0].replace(SVG_NAMESPACE, "")
    assert not re.search(r"(src|href)=|https?://|<script|@import|url\(", page)


def test_every_chart_of_the_issue_is_drawn(report: Report) -> None:
    page = report[0]
    for chart in ("pnl", "layers", "breakevens-main-IC-DEC31", "contango", "vix", "rsi", "macd"):
        assert f'<svg id="{chart}"' in page, chart


def test_every_firing_alert_and_every_plan_is_marked_at_its_time(report: Report) -> None:
    page, doc = report
    marks = {(kind, int(ts)) for kind, ts in
             re.findall(r'class="mark" data-kind="(\w+)" data-ts-ns="(\d+)"', page)}  # fmt: skip
    fired = [a for a in doc["alerts"] if a["status"] == "firing"]
    assert fired and doc["plans"]
    for a in fired:
        assert ("alert", a["ts_ns"]) in marks, a["key"]
    assert sum(kind == "plan" for kind, _ts in marks) == len(doc["plans"])
    for a in fired:
        assert a["summary"].replace("&", "&amp;")[:40] in page.replace("&#x27;", "'")


def test_the_sessions_pnl_is_stated(report: Report) -> None:
    assert re.search(r"<td>main</td><td>[+-][\d,]+\.\d\d USD</td>", report[0])
