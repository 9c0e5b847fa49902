"""Logs: JSON lines through structlog, stdlib loggers included, with context and no secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from monitor import logging as vlog
from tests.deploy.conftest import simulator_feed, write_config

SECRET = "xoxb-" + "2f9c6a1e8d7b4c3a"


@pytest.fixture(autouse=True)
def pristine_logging() -> Iterator[None]:
    """Leave the process's logging as the test found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    vlog._SECRETS.discard(SECRET)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_stdlib_loggers_come_out_as_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    vlog.configure_logging(json=True)
    logging.getLogger("aiohttp.client").warning("connection to %s failed", "venue")
    [line] = json_lines(capsys.readouterr().out)
    assert line["event"] == "connection to venue failed"
    assert (line["level"], line["logger"]) == ("warning", "aiohttp.client")
    assert line["timestamp"].endswith("Z")


def test_secrets_are_redacted_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    vlog.configure_logging(json=True)
    vlog.register_secret(SECRET)
    structlog.get_logger("vixmon.sinks").info("posting", url=f"https://hooks/{SECRET}")
    try:
        raise ConnectionError(f"POST https://hooks/{SECRET} refused")
    except ConnectionError:
        logging.getLogger("aiohttp.client").exception("request failed for %s", SECRET)
    out = capsys.readouterr().out
    assert SECRET not in out
    posting, failed = json_lines(out)
    assert posting["url"] == "https://hooks/***"
    assert failed["event"] == "request failed for ***"
    assert "ConnectionError: POST https://hooks/*** refused" in failed["exception"]


async def test_feed_context_is_bound_to_the_feeds_task_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    vlog.configure_logging(json=True)

    async def work(name: str) -> None:
        structlog.get_logger("vixmon").info("tick", task=name)
        logging.getLogger("redis").info("reconnecting (%s)", name)

    await asyncio.create_task(work("feed"), context=vlog.context_with(feed="dxlink"))
    await asyncio.create_task(work("other"))
    lines = json_lines(capsys.readouterr().out)
    assert [line.get("feed") for line in lines] == ["dxlink", "dxlink", None, None]


def test_library_warnings_become_log_lines(capsys: pytest.CaptureFixture[str]) -> None:
    vlog.configure_logging(json=True)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated call", DeprecationWarning, stacklevel=1)
    [line] = json_lines(capsys.readouterr().out)
    assert line["logger"] == "py.warnings" and "deprecated call" in line["event"]


def test_the_level_filters_and_an_unknown_level_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    vlog.configure_logging(level="warning", json=True)
    structlog.get_logger("vixmon").info("hidden")
    structlog.get_logger("vixmon").warning("shown")
    assert [line["event"] for line in json_lines(capsys.readouterr().out)] == ["shown"]
    with pytest.raises(ValueError):
        vlog.configure_logging(level="chatty", json=True)


def test_under_journald_each_line_carries_its_syslog_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "journal").open("w") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setattr(sys, "stdout", stream)
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        vlog.configure_logging(json=True)
        log = structlog.get_logger("vixmon")
        log.info("started")
        log.warning("feed_stale")
        logging.getLogger("redis").error("connection lost")
    lines = (tmp_path / "journal").read_text().splitlines()
    assert [line[:3] for line in lines] == ["<6>", "<4>", "<3>"]
    assert json.loads(lines[1][3:])["event"] == "feed_stale"


def test_a_different_stream_gets_no_priority_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:1")
    assert not vlog.stdout_is_journal()


@pytest.mark.slow
def test_run_refuses_an_unknown_log_level_as_a_config_error(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, feeds=simulator_feed())
    cfg.write_text(cfg.read_text().replace("[logging]\n", '[logging]\nlevel = "loud"\n'))
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "run", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "logging.level: Invalid enum value 'loud'" in done.stderr
