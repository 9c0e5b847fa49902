"""The soak test's 60-second version (``bench/soak.py``): two replicas at 100,000 quotes/s with
layer alerts firing and resolving all along, the delivering one killed (-9) at 30 s and
restarted 5 s later. Nothing is lost or sent twice, memory is flat, lag stays bounded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent.parent


def test_a_minute_of_load_with_a_replica_killed_midway_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--seconds", "60", "--warmup-s", "20",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert out.exists(), proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["layer_firings"] > 100, "the driver made alerts fire"
    assert result["lost"] == 0, f"{result['lost']} outbox events never reached the receiver"
    assert result["fired_twice"] == 0, result["fired_twice_keys"]
    assert result["events_received"] == result["events_written"]
    assert result["rss_growth"] <= 0.05, result["survivor_rss_mb"]
    assert result["caught_up_s_after_restart"] is not None, "the restarted replica caught up"
    assert result["max_lag_entries"] <= result["allowed_lag_entries"]
    assert result["exit_codes"] == {"a": 0, "b": 0}
    assert result["ok"] and proc.returncode == 0, proc.stdout
