from __future__ import annotations

import msgspec


class SimulatorFeedConfig(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag="simulator",
    tag_field="kind",
):
    """A synthetic market: SPX on a stochastic-vol path with jumps, VIX and VX moving with it."""

    name: str = "simulator"
    seed: int = 7
    tick_interval_ms: int = 250
    speed: float = 1.0
    """Simulated seconds per wall-clock second."""
    spike_after_s: float = 120.0
    """Simulated seconds of calm before a volatility spike (negative: never)."""
    strikes_per_expiry: int = 40
