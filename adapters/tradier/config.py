from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from adapters.base import BackoffConfig
from monitor.secrets import SecretRef


class TradierFeedConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="tradier",
    tag_field="kind",
):
    """Tradier market data: a streaming session (REST), then the websocket or HTTP stream."""

    token: SecretRef
    """API access token (Bearer)."""
    name: str = "tradier"
    api_url: str = "https://api.tradier.com"
    """REST base; the sandbox is https://sandbox.tradier.com (quotes there are delayed)."""
    ws_url: str = "wss://ws.tradier.com/v1/markets/events"
    transport: Literal["websocket", "http"] = "websocket"
    """``http`` always uses HTTP streaming (the websocket falls back to it by itself when the
    symbol list is too big for one frame or the server refuses the frame)."""
    filter: list[str] = msgspec.field(default_factory=lambda: ["quote", "trade", "summary"])
    valid_only: bool = True
    keepalive_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Websocket PING interval (the market stream has no application heartbeat)."""
    silence_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    """Reconnect when no frame (data or PONG) arrives on the websocket for this long."""
    http_silence_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 960.0
    """The same for HTTP streaming, which carries no PONGs (the server itself closes a stream
    after 15 minutes without data)."""
    max_ws_payload_bytes: Annotated[int, msgspec.Meta(ge=256)] = 65_536
    """Symbol lists whose subscription payload is larger go over HTTP streaming (POST)."""
    request_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    delayed: bool = False
    """Mark quotes delayed (the sandbox's market data is 15 minutes delayed)."""
    backoff: BackoffConfig = msgspec.field(default_factory=BackoffConfig)
