"""A reload validates like check-config: a value `run` could not use is refused, and the daemon
keeps running on its config (issue 12: `inf` was printed "reloaded" and killed the daemon)."""

from __future__ import annotations

import math

import pytest

from monitor.app import App
from tests.deploy.test_reload import app, edit, gauge, portfolio

__all__ = ["app", "portfolio"]


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("mark_max_age_s = inf", "engine.mark_max_age_s"),
        ("stale_after_s = nan", "engine.stale_after_s"),
        ("max_future_skew_s = -1", "engine.max_future_skew_s"),
        ("otm_slak = 1", "engine.otm_slak"),
    ],
)
async def test_a_reload_with_a_value_run_cannot_use_is_refused(
    app: App, line: str, path: str
) -> None:
    running = app.loaded
    edit(app.loaded.config_path, ("cadence_ms = 100\n", f"cadence_ms = 100\n{line}\n"))

    ok, message = await app.reload()
    assert not ok and f"{path}: " in message
    assert app.loaded is running and app.engine is not None
    assert math.isfinite(app.engine.settings.engine.mark_max_age_s)
    assert gauge(app, "vixmon_config_last_reload_successful") == 0
    assert app.loop is not None
    await app.loop.evaluate_once()  # the engine still evaluates on the running config
