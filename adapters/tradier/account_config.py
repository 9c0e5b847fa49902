"""``[[accounts]] kind = "tradier"``: positions and balances of Tradier brokerage accounts."""

from __future__ import annotations

from typing import Annotated

import msgspec

from adapters.base import BackoffConfig
from monitor.secrets import SecretRef

Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class TradierAccountConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="tradier",
    tag_field="kind",
):
    """Read-only: use a token whose application may only read; vixmon never sends an order."""

    book: str
    token: SecretRef
    accounts: list[str] = msgspec.field(default_factory=list)
    """Account numbers (``VA00000000``); empty: every account ``GET /v1/user/profile`` lists."""
    name: str = "tradier"
    api_url: str = "https://api.tradier.com"
    """The sandbox is https://sandbox.tradier.com."""
    events_url: str = "wss://ws.tradier.com/v1/accounts/events"
    """Account (order) events websocket; empty: REST polling only."""
    overlay: str = ""
    poll_interval_s: Seconds = 30.0
    """The REST poll (the source of truth) runs this often and after every order event."""
    stale_after_s: Seconds = 180.0
    request_timeout_s: Seconds = 10.0
    backoff: BackoffConfig = msgspec.field(default_factory=BackoffConfig)
