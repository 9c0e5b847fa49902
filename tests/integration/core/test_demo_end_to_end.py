"""The demo, end to end: `vixmon run` on the sample session until a layer-gain alert arrives."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.daemon import ROOT, Receiver, get_json, get_text, run_daemon

pytestmark = pytest.mark.slow


def demo_config(tmp_path: Path, *, speed: float = 120.0, redis_url: str = "") -> Path:
    cfg = tmp_path / "vixmon.toml"
    cfg.write_text(
        f"""
portfolio = "{ROOT / "config" / "portfolio.toml"}"
[redis]
url = "{redis_url}"
state_dir = "{tmp_path / "state"}"
[engine]
time_source = "market"
cadence_ms = 100
[http]
port = 0
[logging]
json = true
[[feeds]]
kind = "replay"
path = "{ROOT / "config" / "sample-session.jsonl.gz"}"
speed = {speed}
restamp = false
[[sinks]]
kind = "log"
name = "log"
[[sinks]]
kind = "webhook"
name = "hook"
url = {{ env = "E2E_WEBHOOK_URL" }}
signing_secrets = [{{ env = "E2E_WEBHOOK_SECRET" }}]
"""
    )
    return cfg


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


def is_layer_gain_firing(body: dict[str, Any]) -> bool:
    return any(e["rule"] == "layer_gain" and e["status"] == "firing" for e in body["events"])


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_demo_fires_a_layer_gain_alert_to_the_webhook_and_exports_metrics(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = {
        "E2E_WEBHOOK_URL": receiver.url,
        "E2E_WEBHOOK_SECRET": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }
    async with run_daemon(demo_config(tmp_path), env=env) as daemon:
        port = await daemon.http_port()
        body = await receiver.wait_for(is_layer_gain_firing, timeout_s=90)
        event = next(e for e in body["events"] if e["rule"] == "layer_gain")
        assert event["book"] == "main" and event["subject"].startswith("L1-DEC@")
        assert event["values"]["gain_ratio"] >= event["values"]["threshold"]

        # the alert may come from a partial evaluation between two full cycles; the gauges are
        # the last full cycle's, which catches up within a cadence (100 ms here)
        gain_key = ("vixmon_layer_gain_ratio", (("book", "main"), ("structure", "L1-DEC")))
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            metrics = samples(await get_text(f"http://127.0.0.1:{port}/metrics"))
            if metrics[gain_key] >= 1.5 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)  # a poll across processes: no event to await
        assert metrics[gain_key] >= 1.5
        assert metrics[("vixmon_quotes_ingested_total", (("feed", "replay"),))] > 0
        fired = [v for (n, _l), v in metrics.items() if n == "vixmon_alerts_fired_total"]
        assert sum(fired) >= 1
        assert metrics[("vixmon_feed_last_quote_timestamp_seconds", (("feed", "replay"),))] > 1.7e9

        status = await get_json(f"http://127.0.0.1:{port}/api/v1/status")
        assert status["redis"]["embedded"] is True
        assert status["redis"]["url"].startswith("unix://") and status["redis"]["url"].endswith(
            ".sock"
        )
        assert [f["name"] for f in status["feeds"]] == ["replay"]
        assert receiver.url not in str(status)

        snap = await get_json(f"http://127.0.0.1:{port}/api/v1/snapshot")
        layer = next(y for y in snap["books"][0]["layers"] if y["name"] == "L1-DEC")
        leg = layer["legs"][0]
        assert leg["iv"] > 0 and leg["inputs"]["forward"] > 0 and leg["inputs"]["t_years"] > 0

        assert await daemon.stop(signal.SIGTERM) == 0
    logged = [line for line in daemon.lines if line.get("event") == "alert"]
    assert any(line["status"] == "firing" for line in logged)
    ids = [line["alert_id"] for line in logged]
    assert len(ids) == len(set(ids)), "an alert event was logged more than once"
    first = logged[0]
    assert (first["key"], first["level"]) == ("layer_gain|main|L1-DEC@1.5", "warning")
    assert all(line["level"] == "info" for line in logged if line["status"] == "resolved")
    assert not any(env["E2E_WEBHOOK_SECRET"] in raw for raw in daemon.raw)
