"""The one place that knows every venue: config type union and adapter factory.

Adding a venue is one config Struct (tagged with its ``kind``) in the union below and one
``case`` in ``build_feed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adapters.base import FeedAdapter
from adapters.replay.config import ReplayFeedConfig
from adapters.simulator.config import SimulatorFeedConfig
from monitor.clock import Clock

FeedConfig = SimulatorFeedConfig | ReplayFeedConfig


@dataclass(frozen=True, slots=True)
class FeedContext:
    """What every adapter may use: the clock and the config file's folder for relative paths."""

    clock: Clock
    base_dir: Path


def build_feed(cfg: FeedConfig, ctx: FeedContext) -> FeedAdapter:
    """Construct the adapter for one feed config."""
    match cfg:
        case SimulatorFeedConfig():
            from adapters.simulator.feed import SimulatorFeed  # noqa: PLC0415

            return SimulatorFeed(cfg, ctx.clock)
        case ReplayFeedConfig():
            from adapters.replay.feed import ReplayFeed  # noqa: PLC0415

            return ReplayFeed(cfg, ctx.clock, ctx.base_dir)
