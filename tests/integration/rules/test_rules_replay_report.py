"""`vixmon replay`: a recorded session through the same rules on simulated time."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path

import msgspec
import pytest

from adapters.simulator.market import SimMarket, default_universe
from monitor import replay_report, settings, symbols
from monitor.cli import main

ROOT = Path(__file__).resolve().parents[3]
OPEN_NS = int(dt.datetime(2026, 11, 24, 14, 30, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
VX = [dt.date(2026, 12, 16), dt.date(2027, 1, 20), dt.date(2027, 2, 17), dt.date(2027, 3, 17)]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three recorded minutes of the demo universe, a volatility shock after one minute."""
    loaded = settings.load()
    legs = {leg.symbol for b in loaded.portfolio.books for c in b.condors for leg in c.legs}
    legs |= {leg.symbol for b in loaded.portfolio.books for y in b.layers for leg in y.legs}
    spx_exp = sorted({symbols.parse(s).expiry for s in legs if s.startswith("SPX")} - {None})
    universe = sorted(set(default_universe(6000.0, [*VX, dt.date(2027, 6, 16)], spx_exp)) | legs)
    insts = [symbols.parse(s) for s in universe]
    market = SimMarket(11, OPEN_NS, OPEN_NS + 60 * 1_000_000_000)
    enc, buf = msgspec.json.Encoder(), io.BytesIO()
    for i in range(37):
        if i:
            for _ in range(5):
                market.step(1.0)
        buf.write(enc.encode(market.quotes(insts)) + b"\n")
    path = tmp_path_factory.mktemp("replay") / "session.jsonl.gz"
    path.write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    return path


@pytest.fixture(scope="module")
def report(session: Path) -> dict:
    return replay_report.run(session, settings.load())


def test_the_report_lists_the_layer_gain_alert_with_its_roll_advisory(report: dict) -> None:
    gains = [a for a in report["alerts"] if a["rule"] == "layer_gain" and a["status"] == "firing"]
    assert gains and gains[0]["subject"].startswith("L1-DEC@")
    first = gains[0]
    assert first["advisory"]["harvested_gain_usd"] > 0 and first["action"].startswith("Harvest")
    assert first["time_et"].startswith("2026-11-24T09:3") and first["values"]["gain_ratio"] >= 1.5


def test_every_alert_carries_its_time_numbers_and_the_next_macro_event(report: dict) -> None:
    for a in report["alerts"]:
        assert a["ts_ns"] and a["values"] and a["context"]["next_event_kind"] == "FOMC"


def test_the_same_file_gives_a_byte_identical_report(session: Path, tmp_path: Path) -> None:
    loaded = settings.load()
    for name in ("a.json", "b.json"):
        replay_report.write_json(replay_report.run(session, loaded), tmp_path / name)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_the_markdown_form_shows_the_plan_computation(report: dict) -> None:
    md = replay_report.markdown(report)
    assert "## Roll plans" in md and "| harvest L1-DEC |" in md and "| binding |" in md
    assert "| precondition: term_structure |" in md and "`layer_gain\\|main\\|L1-DEC@2`" in md


def test_the_cli_writes_both_forms_and_draws_a_progress_bar(
    session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, md = tmp_path / "out.json", tmp_path / "out.md"
    assert main(["replay", str(session), "--report", str(out), "--markdown", str(md)]) == 0
    doc = json.loads(out.read_bytes())
    assert doc["session"]["cycles"] == 37 and md.read_text().startswith("# vixmon replay report")
    assert "replay [" in capsys.readouterr().err


def test_a_missing_recording_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl"), "--no-progress"]) == 2
