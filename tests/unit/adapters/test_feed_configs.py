"""Venue configs decode from TOML through the registry's union and build their adapters."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from adapters.cboe.config import CboeFeedConfig
from adapters.cboe.feed import CboeFeed
from adapters.dxlink.config import DxLinkFeedConfig
from adapters.dxlink.feed import DxLinkFeed
from adapters.registry import FeedConfig, FeedContext, build_feed
from adapters.tradier.config import TradierFeedConfig
from adapters.tradier.feed import TradierFeed
from monitor.clock import FakeClock
from monitor.secrets import SecretRef

FEEDS = """
[[feeds]]
kind = "dxlink"
api_url = "https://api.cert.tastyworks.com"
client_secret = { env = "TT_CLIENT_SECRET" }
refresh_token = { file = "/run/secrets/tt_refresh" }
event_types = ["Quote", "Trade", "Greeks"]

[[feeds]]
kind = "tradier"
token = { credential = "tradier-token" }
api_url = "https://sandbox.tradier.com"
delayed = true

[[feeds]]
kind = "cboe"
poll_interval_s = 30.0
backoff = { initial_s = 30.0, max_s = 600.0 }
"""


def decode(text: str) -> list[FeedConfig]:
    raw = tomllib.loads(text)["feeds"]
    return msgspec.convert(raw, list[FeedConfig])  # type: ignore[arg-type]


def test_each_kind_decodes_to_its_struct_with_secret_refs() -> None:
    dx, tr, cb = decode(FEEDS)
    assert isinstance(dx, DxLinkFeedConfig) and dx.refresh_token == SecretRef(
        file="/run/secrets/tt_refresh")
    assert isinstance(tr, TradierFeedConfig) and tr.token == SecretRef(credential="tradier-token")
    assert tr.delayed and tr.name == "tradier"
    assert isinstance(cb, CboeFeedConfig) and cb.backoff.max_s == 600.0


def test_unknown_keys_are_rejected_with_their_path() -> None:
    with pytest.raises(msgspec.ValidationError, match="dxlink_url"):
        decode('[[feeds]]\nkind = "dxlink"\nclient_secret = {env="A"}\n'
               'refresh_token = {env="B"}\ndxlink_url = "wss://x"\n')


def test_secrets_cannot_be_written_inline() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode('[[feeds]]\nkind = "tradier"\ntoken = "abc"\n')


def test_the_registry_builds_each_adapter() -> None:
    ctx = FeedContext(clock=FakeClock(), base_dir=Path())
    kinds = [type(build_feed(cfg, ctx)) for cfg in decode(FEEDS)]
    assert kinds == [DxLinkFeed, TradierFeed, CboeFeed]
