from __future__ import annotations

from typing import Annotated

import msgspec

from adapters.base import BackoffConfig


class CboeFeedConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="cboe",
    tag_field="kind",
):
    """Cboe's public delayed-quotes JSON (about 15 minutes delayed; no credentials)."""

    name: str = "cboe"
    cdn_url: str = "https://cdn.cboe.com/api/global/delayed_quotes"
    futures_url: str = (
        "https://www.cboe.com/us/futures/api/get_quotes_combined/?symbol=VX&rootsymbol=null"
    )
    option_underlyings: list[str] = msgspec.field(default_factory=lambda: ["SPX", "VIX"])
    """``options/_<X>.json`` is polled while any option on X is subscribed."""
    indices: list[str] = msgspec.field(
        default_factory=lambda: ["SPX", "VIX", "VIX3M", "VIX9D"])
    """``quotes/_<X>.json`` is polled while index X is subscribed."""
    poll_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 15.0
    """Never below 5 s, and never below what Cache-Control says the content stays fresh."""
    silence_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """A request that receives nothing for this long is abandoned and retried."""
    user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) vixmon/0.1"
    browser_headers: bool = True
    """Send Origin/Referer https://www.cboe.com (the CDN may answer 403 without them)."""
    backoff: BackoffConfig = msgspec.field(
        default_factory=lambda: BackoffConfig(initial_s=15.0, max_s=300.0))
    """Per file, after a 403, a 5xx or a timeout."""
