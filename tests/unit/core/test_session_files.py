"""Session files: the replay format, one file per New York day, size caps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.replay.feed import read_groups
from monitor.model import Quote
from monitor.recording.files import Limits, SessionFiles

NY = ZoneInfo("America/New_York")


def ts(day: int, hour: int) -> int:
    return int(dt.datetime(2026, 11, day, hour, tzinfo=NY).timestamp()) * 1_000_000_000


def quote(t: int, bid: float = 1.0) -> Quote:
    return Quote(sym="VIX261216C00020000", ts=t, bid=bid, ask=bid + 0.1)


def test_the_replay_feed_reads_back_every_quote_written(tmp_path: Path) -> None:
    files = SessionFiles(tmp_path)
    sent = [quote(ts(16, 10), 1.0), quote(ts(16, 10), 1.1), quote(ts(16, 11), 1.2)]
    files.write(sent[:2])
    files.write(sent[2:])
    files.close()
    [path] = files.files()
    assert path.name == "session-2026-11-16.jsonl.gz"
    back = [q for _ts, group, bad in read_groups(path) for q in group if not bad]
    assert back == sent


def test_quotes_of_another_new_york_day_go_to_that_days_file(tmp_path: Path) -> None:
    files = SessionFiles(tmp_path)
    files.write([quote(ts(16, 23))])  # 23:00 New York is the 17th in UTC: still the 16th
    files.write([quote(ts(17, 9))])
    files.close()
    assert [p.name for p in files.files()] == [
        "session-2026-11-16.jsonl.gz", "session-2026-11-17.jsonl.gz"]  # fmt: skip


def test_a_full_file_is_continued_in_a_new_part(tmp_path: Path) -> None:
    files = SessionFiles(tmp_path, limits=Limits(max_file_bytes=200, max_total_bytes=10**9))
    for i in range(40):
        files.write([quote(ts(16, 10) + i, 1.0 + i)])
    files.close()
    names = [p.name for p in files.files()]
    assert names[0] == "session-2026-11-16.jsonl.gz" and "session-2026-11-16.1.jsonl.gz" in names
    quotes = [q for p in files.files() for _t, g, _b in read_groups(p) for q in g]
    assert len(quotes) == 40


def test_past_the_total_cap_the_oldest_files_are_deleted(tmp_path: Path) -> None:
    files = SessionFiles(tmp_path, limits=Limits(max_file_bytes=200, max_total_bytes=600))
    for i in range(200):
        files.write([quote(ts(16, 10) + i, 1.0 + i)])
    files.close()
    kept = files.files()
    assert sum(p.stat().st_size for p in kept) <= 600 + 400  # the current file may still grow
    assert "session-2026-11-16.jsonl.gz" not in [p.name for p in kept]


def test_a_restarted_recording_appends_to_the_days_file(tmp_path: Path) -> None:
    for bid in (1.0, 2.0):
        files = SessionFiles(tmp_path)
        files.write([quote(ts(16, 10), bid)])
        files.close()
    [path] = SessionFiles(tmp_path).files()
    assert [q.bid for _t, g, _b in read_groups(path) for q in g] == [1.0, 2.0]
