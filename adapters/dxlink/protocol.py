"""DXLink outbound messages, sans I/O: the handshake, FEED_SETUP and chunked subscriptions.

The server closes the socket with 1009 on an oversized frame, so FEED_SUBSCRIPTION messages
are cut at ``max_bytes`` (dxFeed's own client cuts at about 8 KB).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from adapters.dxlink.parsing import NEEDED

CLIENT_VERSION = "0.1-vixmon/0.1"
FEED_CHANNEL = 1
"""Service channels are chosen by the client and should be odd."""
KEEPALIVE = b'{"type":"KEEPALIVE","channel":0}'

Sub = tuple[str, str]
"""(event type, streamer symbol)"""


def setup(keepalive_timeout_s: float) -> dict[str, object]:
    """SETUP: how long the server may stay silent before we drop the connection."""
    return {
        "type": "SETUP", "channel": 0, "version": CLIENT_VERSION,
        "keepaliveTimeout": keepalive_timeout_s, "acceptKeepaliveTimeout": keepalive_timeout_s,
    }


def auth(token: str) -> dict[str, object]:
    return {"type": "AUTH", "channel": 0, "token": token}


def channel_request(channel: int) -> dict[str, object]:
    return {
        "type": "CHANNEL_REQUEST", "channel": channel, "service": "FEED",
        "parameters": {"contract": "AUTO"},
    }


def feed_setup(channel: int, event_types: Sequence[str], aggregation_s: float) -> dict[str, object]:
    """FEED_SETUP asking for COMPACT data with the fields the decoder needs."""
    return {
        "type": "FEED_SETUP", "channel": channel, "acceptAggregationPeriod": aggregation_s,
        "acceptDataFormat": "COMPACT",
        "acceptEventFields": {t: ["eventType", *NEEDED[t]] for t in event_types},
    }


def subscription_messages(
    channel: int, *, add: Iterable[Sub] = (), remove: Iterable[Sub] = (), reset: bool = False,
    max_bytes: int = 8192,
) -> list[bytes]:
    """Return FEED_SUBSCRIPTION frames, each at most ``max_bytes``; removes go first.

    With ``reset`` the first frame also drops every earlier subscription on the channel.
    """
    frames: list[bytes] = []
    head = b'{"type":"FEED_SUBSCRIPTION","channel":%d' % channel
    first_head = head + (b',"reset":true' if reset else b"")
    for key, subs in ((b"remove", remove), (b"add", add)):
        open_ = b',"%s":[' % key
        items: list[bytes] = []
        used = 0
        for sub in subs:
            item = msgspec.json.encode({"type": sub[0], "symbol": sub[1]})
            prefix = first_head if not frames and reset else head
            if items and len(prefix) + len(open_) + used + len(item) + 1 + 2 > max_bytes:
                frames.append(prefix + open_ + b",".join(items) + b"]}")
                items, used = [], 0
            items.append(item)
            used += len(item) + 1
        if items:
            prefix = first_head if not frames and reset else head
            frames.append(prefix + open_ + b",".join(items) + b"]}")
    if reset and not frames:
        frames.append(first_head + b"}")
    return frames


def subs_for(streamer: str, is_option: bool, event_types: Sequence[str]) -> list[Sub]:
    """Return the subscriptions for one symbol (Greeks only exist for options)."""
    return [(t, streamer) for t in event_types if t != "Greeks" or is_option]
