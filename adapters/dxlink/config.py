from __future__ import annotations

from typing import Annotated

import msgspec

from adapters.base import BackoffConfig
from monitor.secrets import SecretRef


class DxLinkFeedConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="dxlink",
    tag_field="kind",
):
    """tastytrade's market data: a quote token from the REST API, then the DXLink websocket."""

    client_secret: SecretRef
    """OAuth client secret of the tastytrade API application."""
    refresh_token: SecretRef
    """OAuth refresh token (long-lived) granted to that application."""
    name: str = "tastytrade"
    api_url: str = "https://api.tastyworks.com"
    """REST base; the sandbox is https://api.cert.tastyworks.com. The websocket URL is never
    configured: it is the ``dxlink-url`` the quote token response names."""
    user_agent: str = "vixmon/0.1"
    event_types: list[str] = msgspec.field(default_factory=lambda: ["Quote", "Trade"])
    """Quote and Trade make quotes; Summary and Greeks are decoded (and counted) too."""
    aggregation_period_s: Annotated[float, msgspec.Meta(ge=0)] = 0.1
    keepalive_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Send KEEPALIVE when nothing else was sent for this long."""
    silence_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    """Reconnect when nothing arrives for this long (the server keepalives every ~30 s)."""
    action_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """Longest wait for each handshake reply."""
    request_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    token_max_age_s: Annotated[float, msgspec.Meta(gt=0)] = 4 * 3600.0
    """Fetch a new quote token (24 h life) after this long, and AUTH with it in place."""
    token_refresh_margin_s: Annotated[float, msgspec.Meta(ge=0)] = 3600.0
    """...or this long before the token's ``expires-at``, whichever is first."""
    max_subscription_bytes: Annotated[int, msgspec.Meta(ge=256)] = 8192
    """FEED_SUBSCRIPTION messages are cut at this size (the server closes with 1009 on
    oversized frames)."""
    delayed: bool | None = None
    """None: delayed when the token's level is ``demo`` (the sandbox)."""
    symbol_overrides: dict[str, str] = msgspec.field(default_factory=dict)
    """Canonical symbol -> streamer symbol, for anything the REST API does not list."""
    backoff: BackoffConfig = msgspec.field(default_factory=BackoffConfig)
