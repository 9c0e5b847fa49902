from __future__ import annotations

import datetime as dt
from typing import Annotated

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
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 7
    tick_interval_ms: Annotated[int, msgspec.Meta(ge=10, le=3_600_000)] = 250
    speed: Annotated[float, msgspec.Meta(gt=0, le=100_000)] = 1.0
    """Simulated seconds per wall-clock second."""
    spike_after_s: float = 120.0
    """Simulated seconds of calm before a volatility spike (negative: never)."""
    strikes_per_expiry: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 40
    start: Annotated[dt.datetime, msgspec.Meta(tz=True)] | None = None
    """When the simulated session begins (RFC 3339 with an offset, e.g. 2026-11-16T14:30:00Z);
    unset: the clock's now. A fixed start replays the same dates whenever it runs, so it needs
    ``engine.time_source = "market"`` and must not lie ahead of the clock."""


def start_ns(cfg: SimulatorFeedConfig, now_ns: int) -> int:
    """Return the simulated session's first instant: ``start``, or ``now_ns`` when unset."""
    if cfg.start is None:
        return now_ns
    return (cfg.start - EPOCH) // dt.timedelta(microseconds=1) * 1000


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def check_start(cfg: SimulatorFeedConfig, path: str, now_ns: int, market_time: bool) -> list[str]:
    """Return ``path.start: problem`` unless ``start`` is unset or usable at ``now_ns``."""
    if cfg.start is None:
        return []
    if not market_time:
        return [
            f"{path}.start: a fixed start puts the simulated clock off the wall clock "
            '(stale marks, future_ts): set engine.time_source = "market"'
        ]
    if not 0 < start_ns(cfg, now_ns) <= now_ns:
        now = dt.datetime.fromtimestamp(now_ns // 10**9, dt.UTC).isoformat()
        return [
            f"{path}.start: {cfg.start.isoformat()} must lie between 1970 and the clock's "
            f"now ({now}): a first quote after it is rejected (future_ts)"
        ]
    return []
