"""The one place that knows every venue: config type union and adapter factory.

Adding a venue is one config Struct (tagged with its ``kind``) in the union below and one
``case`` in ``build_feed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adapters.base import FeedAdapter
from adapters.cboe.config import CboeFeedConfig
from adapters.dxlink.config import DxLinkFeedConfig
from adapters.replay.config import ReplayFeedConfig
from adapters.simulator.config import SimulatorFeedConfig
from adapters.tradier.config import TradierFeedConfig
from monitor.clock import Clock
from monitor.subscriptions import ListedStrikes

FeedConfig = (
    SimulatorFeedConfig | ReplayFeedConfig | DxLinkFeedConfig | TradierFeedConfig | CboeFeedConfig
)


@dataclass(frozen=True, slots=True)
class FeedContext:
    """What every adapter may use: the clock and the config file's folder for relative paths."""

    clock: Clock
    base_dir: Path
    listed: ListedStrikes | None = None
    """Where feeds that see option listings (Cboe, Tradier) report listed strikes."""


def build_feed(cfg: FeedConfig, ctx: FeedContext) -> FeedAdapter:
    """Construct the adapter for one feed config."""
    match cfg:
        case SimulatorFeedConfig():
            from adapters.simulator.feed import SimulatorFeed

            return SimulatorFeed(cfg, ctx.clock)
        case ReplayFeedConfig():
            from adapters.replay.feed import ReplayFeed

            return ReplayFeed(cfg, ctx.clock, ctx.base_dir)
        case DxLinkFeedConfig():
            from adapters.dxlink.feed import DxLinkFeed

            return DxLinkFeed(cfg, ctx.clock)
        case TradierFeedConfig():
            from adapters.tradier.feed import TradierFeed

            return TradierFeed(cfg, ctx.clock, listed=ctx.listed)
        case CboeFeedConfig():
            from adapters.cboe.feed import CboeFeed

            return CboeFeed(cfg, ctx.clock, listed=ctx.listed)
