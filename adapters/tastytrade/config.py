"""``[[accounts]] kind = "tastytrade"``: positions and balances of tastytrade accounts."""

from __future__ import annotations

from typing import Annotated

import msgspec

from adapters.base import BackoffConfig
from monitor.secrets import SecretRef

Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class TastytradeAccountConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="tastytrade",
    tag_field="kind",
):
    """Read-only: the OAuth grant needs only the ``read`` scope; vixmon never sends an order."""

    accounts: Annotated[list[str], msgspec.Meta(min_length=1)]
    """Account numbers (``5WT00001``) whose positions form ``book``."""
    book: str
    """The book these accounts' positions become (replacing a portfolio book of that name)."""
    client_secret: SecretRef
    refresh_token: SecretRef
    name: str = "tastytrade"
    api_url: str = "https://api.tastyworks.com"
    """The sandbox is https://api.cert.tastyworks.com."""
    streamer_url: str = "wss://streamer.tastyworks.com"
    """The sandbox is wss://streamer.cert.tastyworks.com; empty: REST polling only."""
    user_agent: str = "vixmon/0.1"
    overlay: str = ""
    """Structure overlay TOML (names, regrouping, exclusions), relative to the config's folder."""
    reconcile_interval_s: Seconds = 60.0
    """A full REST snapshot this often, and after every order fill the streamer reports."""
    heartbeat_s: Seconds = 20.0
    silence_timeout_s: Seconds = 75.0
    """Reconnect the streamer when nothing (not even a heartbeat reply) arrives for this long."""
    stale_after_s: Seconds = 180.0
    """Positions are marked stale (``account_stale``) when the broker was silent this long."""
    request_timeout_s: Seconds = 10.0
    backoff: BackoffConfig = msgspec.field(default_factory=BackoffConfig)
